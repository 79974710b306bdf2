"""Webhook commands: endpoints (create, list, delete, rotate-secret) and their deliveries."""

from __future__ import annotations

from typing import Annotated

import typer
from billing.ledger.v1 import ledger_pb2 as pb
from rich.text import Text

from billing_cli import parse
from billing_cli.choices import DeliveryState, WalletEventType
from billing_cli.ledger import RequestId, list_pages, more, pages
from billing_cli.render import enum, enum_value_name, table, when
from billing_cli.state import State, state_of, to_dict

webhooks = typer.Typer(
    help="Webhook endpoints a wallet's events are posted to, and their deliveries.",
    no_args_is_help=True,
)

ENDPOINT_COLUMNS = ["Endpoint", "Wallet", "URL", "Types", "Created", "Deleted"]


def _endpoint_rows(items: list[pb.WebhookEndpoint]) -> list[list[object]]:
    return [
        [
            e.endpoint_id,
            e.wallet_id or "(all)",
            e.url,
            ",".join(enum_value_name(pb.WalletEventType, t).replace("_", "-") for t in e.types)
            or "all",
            when(e, "create_time"),
            when(e, "delete_time"),
        ]
        for e in items
    ]


def _show_secret(
    state: State,
    response: pb.CreateWebhookEndpointResponse | pb.RotateWebhookSecretResponse,
) -> None:
    def show() -> None:
        state.out.print(table("Endpoint", ENDPOINT_COLUMNS, _endpoint_rows([response.endpoint])))
        if response.secret:
            state.out.print(Text(f"signing secret: {response.secret}"), soft_wrap=True)
            state.note("the secret is shown once: keep it where the receiver checks signatures")
        else:
            state.note("a replay: the secret was shown once, when it was made")

    state.emit(to_dict(response), show)


@webhooks.command("create")
def webhooks_create(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where events are POSTed (https).")],
    wallet_id: Annotated[
        str, typer.Option("--wallet", "-w", help="Only this wallet's events; default all.")
    ] = "",
    types: Annotated[
        list[WalletEventType] | None,
        typer.Option("--type", "-t", help="Only these event types (repeatable); default all."),
    ] = None,
    description: Annotated[str, typer.Option(help="What it is for.")] = "",
    request_id: RequestId = None,
) -> None:
    """Register an endpoint; prints its signing secret once."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.CreateWebhookEndpointRequest(
        request_id=rid,
        wallet_id=wallet_id,
        url=url,
        types=[t.proto for t in types or []],
        description=description,
    )
    response = state.call(
        state.ledger.CreateWebhookEndpoint, request, name="CreateWebhookEndpoint", request_id=rid
    )
    _show_secret(state, response)


@webhooks.command("list")
def webhooks_list(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Option("--wallet", "-w", help="Only this wallet's.")] = "",
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    page_token: Annotated[str, typer.Option(help="Continue from a previous listing.")] = "",
) -> None:
    """Webhook endpoints, oldest first."""
    state = state_of(ctx)
    list_pages(
        state,
        state.ledger.ListWebhookEndpoints,
        lambda size, tok: pb.ListWebhookEndpointsRequest(
            wallet_id=wallet_id, page_size=size, page_token=tok
        ),
        "endpoints",
        limit,
        page_token,
        ENDPOINT_COLUMNS,
        _endpoint_rows,
    )


@webhooks.command("delete")
def webhooks_delete(
    ctx: typer.Context,
    endpoint_id: Annotated[str, typer.Argument()],
    request_id: RequestId = None,
) -> None:
    """Delete an endpoint: its pending deliveries are cancelled."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.DeleteWebhookEndpointRequest(request_id=rid, endpoint_id=endpoint_id)
    endpoint = state.call(
        state.ledger.DeleteWebhookEndpoint, request, name="DeleteWebhookEndpoint", request_id=rid
    ).endpoint
    state.emit(
        to_dict(endpoint),
        lambda: state.out.print(table("Endpoint", ENDPOINT_COLUMNS, _endpoint_rows([endpoint]))),
    )


@webhooks.command("rotate-secret")
def webhooks_rotate_secret(
    ctx: typer.Context,
    endpoint_id: Annotated[str, typer.Argument()],
    overlap: Annotated[
        str | None,
        typer.Option(help="The old secret also signs for this long (1h); default the server's."),
    ] = None,
    request_id: RequestId = None,
) -> None:
    """A new signing secret (printed once); the old one keeps signing during the overlap."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.RotateWebhookSecretRequest(request_id=rid, endpoint_id=endpoint_id)
    if overlap is not None:
        request.overlap.CopyFrom(parse.duration(overlap, name="--overlap"))
    response = state.call(
        state.ledger.RotateWebhookSecret, request, name="RotateWebhookSecret", request_id=rid
    )
    _show_secret(state, response)
    if not state.json and response.HasField("previous_secret_expire_time"):
        state.note(f"the old secret signs until {when(response, 'previous_secret_expire_time')}")


DELIVERY_COLUMNS = ["Delivery", "Event type", "State", "Tries", "Status", "Next try", "Error"]


@webhooks.command("deliveries")
def webhooks_deliveries(
    ctx: typer.Context,
    endpoint_id: Annotated[str, typer.Argument()],
    state_filter: Annotated[
        DeliveryState | None, typer.Option("--state", help="Only in this state.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    page_token: Annotated[str, typer.Option(help="Continue from a previous listing.")] = "",
) -> None:
    """An endpoint's deliveries, with their attempts."""
    state = state_of(ctx)
    wanted = state_filter.proto if state_filter else pb.WEBHOOK_DELIVERY_STATE_UNSPECIFIED
    items, token = pages(
        lambda size, tok: state.call(
            state.ledger.ListWebhookDeliveries,
            pb.ListWebhookDeliveriesRequest(
                endpoint_id=endpoint_id, state=wanted, page_size=size, page_token=tok
            ),
            name="ListWebhookDeliveries",
        ),
        "deliveries",
        limit,
        page_token,
    )
    rows = [
        [
            d.delivery_id,
            enum(d, "event_type").replace("_", "-"),
            enum(d, "state"),
            d.attempts,
            d.last_status_code or "",
            when(d, "next_attempt_time"),
            d.last_error,
        ]
        for d in items
    ]
    state.emit(
        {"deliveries": [to_dict(d) for d in items], "next_page_token": token},
        lambda: state.out.print(table(None, DELIVERY_COLUMNS, rows)),
    )
    more(state, token)
