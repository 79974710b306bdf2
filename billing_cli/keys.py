"""API key commands: create (the key is printed once), list, revoke; on the ledger or the
rating service (each has its own keys). They need an admin key (BILLING_API_KEY)."""

from __future__ import annotations

from typing import Annotated

import typer
from billing.auth.v1 import api_keys_pb2 as pb

from billing_cli import parse
from billing_cli.ledger import RequestId
from billing_cli.render import table, when
from billing_cli.state import State, state_of, to_dict

keys = typer.Typer(help="Create, list and revoke API keys (admin scope).", no_args_is_help=True)

Service = Annotated[
    str,
    typer.Option(
        "--service", help="Whose keys: ledger or rating (a key works on its own service only)."
    ),
]
COLUMNS = ["Key", "Name", "Scopes", "Customers", "Created", "Expires", "Revoked"]


def _service(value: str) -> str:
    if value not in ("ledger", "rating"):
        raise typer.BadParameter("ledger or rating", param_hint="--service")
    return value


def _rows(found: list[pb.ApiKey]) -> list[list[object]]:
    return [
        [
            k.key_id,
            k.name,
            ",".join(k.scopes),
            "all" if k.all_customers else ",".join(k.customer_ids),
            when(k, "create_time"),
            when(k, "expire_time"),
            when(k, "revoke_time"),
        ]
        for k in found
    ]


def _show(state: State, title: str, found: list[pb.ApiKey], data: object) -> None:
    state.emit(data, lambda: state.out.print(table(title, COLUMNS, _rows(found))))


@keys.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for.")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", help="read, write, catalogue, admin or webhooks (repeatable)."),
    ],
    service: Service = "ledger",
    customer: Annotated[
        list[str] | None,
        typer.Option("--customer", help="Bind the key to this customer (repeatable)."),
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="When the key stops working (RFC 3339).")
    ] = None,
    request_id: RequestId = None,
) -> None:
    """Create a key; the key is printed this once (only its hash is kept)."""
    state = state_of(ctx)
    request = pb.CreateApiKeyRequest(
        name=name, scopes=scope, customer_ids=customer or [], request_id=""
    )
    if expires is not None:
        request.expire_time.CopyFrom(parse.timestamp(expires, name="--expires"))
    request.request_id = state.request_id(request_id)
    stub = state.api_keys(_service(service))
    response = state.call(
        stub.CreateApiKey, request, name="CreateApiKey", request_id=request.request_id
    )

    def show() -> None:
        state.out.print(table("API key", COLUMNS, _rows([response.api_key])))
        if response.secret:
            state.out.print(f"key (shown once, keep it now): {response.secret}")
        else:
            state.out.print("the key was shown once, when it was created; it cannot be shown again")

    state.emit(to_dict(response), show)


@keys.command("list")
def keys_list(ctx: typer.Context, service: Service = "ledger") -> None:
    """Every key of the service (never the keys themselves)."""
    state = state_of(ctx)
    stub = state.api_keys(_service(service))
    found: list[pb.ApiKey] = []
    token = ""
    while True:
        page = state.call(
            stub.ListApiKeys, pb.ListApiKeysRequest(page_token=token), name="ListApiKeys"
        )
        found.extend(page.api_keys)
        token = page.next_page_token
        if not token:
            break
    _show(state, "API keys", found, {"api_keys": [to_dict(k) for k in found]})


@keys.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument()],
    service: Service = "ledger",
    request_id: RequestId = None,
) -> None:
    """Revoke a key: refused by the service within seconds."""
    state = state_of(ctx)
    request = pb.RevokeApiKeyRequest(key_id=key_id, request_id=state.request_id(request_id))
    stub = state.api_keys(_service(service))
    response = state.call(
        stub.RevokeApiKey, request, name="RevokeApiKey", request_id=request.request_id
    )
    _show(state, "Revoked", [response.api_key], to_dict(response))
