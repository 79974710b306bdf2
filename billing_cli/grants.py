"""Grant commands: add, read, list and void credit grants."""

from __future__ import annotations

from typing import Annotated

import typer
from billing.ledger.v1 import ledger_pb2 as pb

from billing_cli import parse
from billing_cli.choices import GrantState, Kind
from billing_cli.ledger import (
    ENTRY_COLUMNS,
    Metadata,
    RequestId,
    entry_rows,
    list_pages,
)
from billing_cli.render import enum, table, when
from billing_cli.state import state_of, to_dict

grants = typer.Typer(help="Add, list and void credit grants.", no_args_is_help=True)

# --- grants --------------------------------------------------------------------------------------

GRANT_COLUMNS = [
    "Grant",
    "Kind",
    "State",
    "Amount",
    "Remaining",
    "Priority",
    "Effective",
    "Expires",
    "Features",
    "Reference",
]


def grant_rows(items: list[pb.Grant]) -> list[list[object]]:
    return [
        [
            g.grant_id,
            enum(g, "kind"),
            enum(g, "state"),
            g.amount,
            g.remaining_amount,
            g.priority,
            when(g, "effective_time"),
            when(g, "expire_time") or "never",
            ", ".join(g.features) or "all",
            g.external_reference,
        ]
        for g in items
    ]


@grants.command("create")
def grants_create(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    amount: Annotated[str, typer.Argument(help="Positive decimal, for example 100 or 12.50.")],
    kind: Annotated[Kind, typer.Option(help="Paid for, or given away.")] = Kind.prepaid,
    priority: Annotated[int, typer.Option(help="Lower burns first.")] = 0,
    effective: Annotated[str | None, typer.Option(help="ISO time; default now.")] = None,
    expire: Annotated[str | None, typer.Option(help="ISO time; default never.")] = None,
    unit_price: Annotated[
        str | None, typer.Option(help="Cost basis: price of one unit (with --currency).")
    ] = None,
    currency: Annotated[str, typer.Option(help="Cost basis currency.")] = "USD",
    reference: Annotated[str, typer.Option(help="External reference (order id).")] = "",
    description: Annotated[str, typer.Option(help="History line.")] = "",
    feature: Annotated[
        list[str] | None,
        typer.Option(
            "--feature",
            help="Only usage of this feature may burn the grant, before unscoped grants"
            " (repeatable; default: every feature).",
        ),
    ] = None,
    meta: Metadata = None,
    request_id: RequestId = None,
) -> None:
    """Add a block of credits to a wallet."""
    state = state_of(ctx)
    request = pb.CreateGrantRequest(
        wallet_id=wallet_id,
        kind=kind.proto,
        amount=parse.amount(amount),
        priority=priority,
        external_reference=reference,
        description=description,
        metadata=parse.labels(meta),
        features=feature or [],
    )
    if effective is not None:
        request.effective_time.CopyFrom(parse.timestamp(effective, name="--effective"))
    if expire is not None:
        request.expire_time.CopyFrom(parse.timestamp(expire, name="--expire"))
    if unit_price is not None:
        request.cost_basis.CopyFrom(
            pb.CostBasis(
                unit_price=parse.amount(unit_price, name="--unit-price", allow_zero=True),
                currency=currency,
            )
        )
    request.request_id = state.request_id(request_id)
    response: pb.CreateGrantResponse = state.call(
        state.ledger.CreateGrant, request, name="CreateGrant", request_id=request.request_id
    )

    def show() -> None:
        state.out.print(table("Grant", GRANT_COLUMNS, grant_rows([response.grant])))
        state.out.print(table("Entries", ENTRY_COLUMNS, entry_rows(list(response.entries))))

    state.emit(to_dict(response), show)


@grants.command("get")
def grants_get(ctx: typer.Context, grant_id: Annotated[str, typer.Argument()]) -> None:
    """Show one grant."""
    state = state_of(ctx)
    grant = state.call(
        state.ledger.GetGrant, pb.GetGrantRequest(grant_id=grant_id), name="GetGrant"
    ).grant
    state.emit(
        to_dict(grant), lambda: state.out.print(table("Grant", GRANT_COLUMNS, grant_rows([grant])))
    )


@grants.command("list")
def grants_list(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    state_filter: Annotated[
        GrantState | None, typer.Option("--state", help="Only grants in this state now.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    page_token: Annotated[str, typer.Option(help="Continue from a previous listing.")] = "",
) -> None:
    """List a wallet's grants, oldest first."""
    state = state_of(ctx)
    wanted = state_filter.proto if state_filter else pb.GRANT_STATE_UNSPECIFIED
    list_pages(
        state,
        state.ledger.ListGrants,
        lambda size, tok: pb.ListGrantsRequest(
            wallet_id=wallet_id, state=wanted, page_size=size, page_token=tok
        ),
        "grants",
        limit,
        page_token,
        GRANT_COLUMNS,
        grant_rows,
    )


@grants.command("void")
def grants_void(
    ctx: typer.Context,
    grant_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why; becomes the VOID entry's description.")] = "",
    request_id: RequestId = None,
) -> None:
    """Remove a grant's remainder."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    response: pb.VoidGrantResponse = state.call(
        state.ledger.VoidGrant,
        pb.VoidGrantRequest(request_id=rid, grant_id=grant_id, reason=reason),
        name="VoidGrant",
        request_id=rid,
    )

    def show() -> None:
        state.out.print(table("Grant", GRANT_COLUMNS, grant_rows([response.grant])))
        state.out.print(table("Entry", ENTRY_COLUMNS, entry_rows([response.entry])))

    state.emit(to_dict(response), show)
