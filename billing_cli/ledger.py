"""Ledger commands: wallets, grants, balance, history, debit and holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Protocol

import typer
from billing.ledger.v1 import ledger_pb2 as pb

from billing_cli import parse
from billing_cli.choices import EntryType, GrantState, Kind, Overage
from billing_cli.render import enum, metadata, pairs, table, when
from billing_cli.state import State, state_of, to_dict

RequestId = Annotated[
    str | None,
    typer.Option(
        "--request-id",
        help="Idempotency key; default a fresh uuid4 (printed). Reuse it to retry safely.",
    ),
]
Metadata = Annotated[
    list[str] | None,
    typer.Option("--metadata", "-m", metavar="KEY=VALUE", help="A label (repeatable)."),
]
PAGE_MAX = 500

wallets = typer.Typer(help="Create, read and list wallets.", no_args_is_help=True)
grants = typer.Typer(help="Add, list and void credit grants.", no_args_is_help=True)
holds = typer.Typer(help="Reserve credits and capture or release them.", no_args_is_help=True)


# --- wallets -------------------------------------------------------------------------------------


def wallet_rows(items: list[pb.Wallet]) -> list[list[object]]:
    return [
        [
            w.wallet_id,
            w.customer_id,
            w.unit,
            enum(w, "overage_policy"),
            when(w, "create_time"),
            metadata(w.metadata),
        ]
        for w in items
    ]


WALLET_COLUMNS = ["Wallet", "Customer", "Unit", "Overage policy", "Created", "Metadata"]


def show_wallet(state: State, wallet: pb.Wallet) -> None:
    state.emit(
        to_dict(wallet),
        lambda: state.out.print(
            pairs(
                "Wallet",
                [
                    ("wallet_id", wallet.wallet_id),
                    ("customer_id", wallet.customer_id),
                    ("unit", wallet.unit),
                    ("overage_policy", enum(wallet, "overage_policy")),
                    ("late_event_grace_period", f"{wallet.late_event_grace_period.seconds}s"),
                    ("created", when(wallet, "create_time")),
                    ("metadata", metadata(wallet.metadata)),
                ],
            )
        ),
    )


@wallets.command("create")
def wallets_create(
    ctx: typer.Context,
    customer: Annotated[str, typer.Option("--customer", "-c", help="The customer id.")],
    unit: Annotated[str, typer.Option(help='"CREDITS" or an ISO currency code.')] = "CREDITS",
    overage: Annotated[
        Overage, typer.Option(help="deny: refuse uncovered debits; allow: book overage.")
    ] = Overage.deny,
    grace: Annotated[
        str | None, typer.Option(help="Late-event grace period after expiry (90s, 15m, 1h).")
    ] = None,
    meta: Metadata = None,
    request_id: RequestId = None,
) -> None:
    """Create a wallet (one per customer and unit)."""
    state = state_of(ctx)
    request = pb.CreateWalletRequest(
        customer_id=customer,
        unit=unit,
        overage_policy=overage.proto,
        metadata=parse.labels(meta),
    )
    if grace is not None:
        request.late_event_grace_period.CopyFrom(parse.duration(grace, name="--grace"))
    request.request_id = state.request_id(request_id)
    response: pb.CreateWalletResponse = state.call(
        state.ledger.CreateWallet, request, name="CreateWallet", request_id=request.request_id
    )
    show_wallet(state, response.wallet)


@wallets.command("get")
def wallets_get(ctx: typer.Context, wallet_id: Annotated[str, typer.Argument()]) -> None:
    """Show one wallet."""
    state = state_of(ctx)
    response: pb.GetWalletResponse = state.call(
        state.ledger.GetWallet, pb.GetWalletRequest(wallet_id=wallet_id), name="GetWallet"
    )
    show_wallet(state, response.wallet)


@wallets.command("list")
def wallets_list(
    ctx: typer.Context,
    customer: Annotated[str, typer.Option("--customer", "-c", help="Only this customer's.")] = "",
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    page_token: Annotated[str, typer.Option(help="Continue from a previous listing.")] = "",
) -> None:
    """List wallets, oldest first."""
    state = state_of(ctx)
    items, token = _pages(
        lambda size, tok: state.call(
            state.ledger.ListWallets,
            pb.ListWalletsRequest(customer_id=customer, page_size=size, page_token=tok),
            name="ListWallets",
        ),
        "wallets",
        limit,
        page_token,
    )
    state.emit(
        {"wallets": [to_dict(w) for w in items], "next_page_token": token},
        lambda: state.out.print(table(None, WALLET_COLUMNS, wallet_rows(items))),
    )
    _more(state, token)


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
            g.external_reference,
        ]
        for g in items
    ]


ENTRY_COLUMNS = [
    "Entry",
    "Type",
    "Amount",
    "Available after",
    "Overage after",
    "Occurred",
    "Booked",
    "Feature",
    "Description",
]


def entry_rows(items: list[pb.Entry]) -> list[list[object]]:
    return [
        [
            e.entry_id,
            enum(e, "type"),
            e.amount,
            e.available_after,
            e.overage_after,
            when(e, "occurred_time"),
            when(e, "book_time"),
            e.feature,
            e.description,
        ]
        for e in items
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
    items, token = _pages(
        lambda size, tok: state.call(
            state.ledger.ListGrants,
            pb.ListGrantsRequest(wallet_id=wallet_id, state=wanted, page_size=size, page_token=tok),
            name="ListGrants",
        ),
        "grants",
        limit,
        page_token,
    )
    state.emit(
        {"grants": [to_dict(g) for g in items], "next_page_token": token},
        lambda: state.out.print(table(None, GRANT_COLUMNS, grant_rows(items))),
    )
    _more(state, token)


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


# --- balance, history, debit ---------------------------------------------------------------------


def balance(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="A past ISO time; default now.")
    ] = None,
) -> None:
    """A wallet's balance: available, held, overage, pending expiry, by kind and per grant."""
    state = state_of(ctx)
    request = pb.GetBalanceRequest(wallet_id=wallet_id)
    if as_of is not None:
        request.as_of_time.CopyFrom(parse.timestamp(as_of, name="--as-of"))
    b = state.call(state.ledger.GetBalance, request, name="GetBalance").balance

    def render() -> None:
        state.out.print(
            table(
                f"Balance of {b.wallet_id} at {when(b, 'as_of_time')} ({b.unit})",
                ["Figure", "Amount"],
                [
                    ["available", b.available],
                    ["held", b.held],
                    ["overage", b.overage],
                    ["net", b.net],
                    ["pending expiry", b.pending_expiry],
                    ["pending grants", b.pending_grants],
                    ["prepaid available", b.prepaid_available],
                    ["promotional available", b.promotional_available],
                ],
            )
        )
        state.out.print(
            table(
                "Grants (burn-down order)",
                ["Grant", "Kind", "State", "Priority", "Remaining", "Effective", "Expires"],
                [
                    [
                        g.grant_id,
                        enum(g, "kind"),
                        enum(g, "state"),
                        g.priority,
                        g.remaining_amount,
                        when(g, "effective_time"),
                        when(g, "expire_time") or "never",
                    ]
                    for g in b.grants
                ],
            )
        )

    state.emit(to_dict(b), render)


def history(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    types: Annotated[
        list[EntryType] | None, typer.Option("--type", "-t", help="Only these types (repeatable).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Booked at or after this ISO time.")] = None,
    until: Annotated[str | None, typer.Option(help="Booked before this ISO time.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many entries.")] = 20,
    page_token: Annotated[str, typer.Option(help="Continue from a previous listing.")] = "",
) -> None:
    """A wallet's journal, newest first, fetched page by page."""
    state = state_of(ctx)
    base = pb.ListEntriesRequest(wallet_id=wallet_id, types=[t.proto for t in types or []])
    if since is not None:
        base.book_time_range.start_time.CopyFrom(parse.timestamp(since, name="--since"))
    if until is not None:
        base.book_time_range.end_time.CopyFrom(parse.timestamp(until, name="--until"))

    def page(size: int, token: str) -> pb.ListEntriesResponse:
        request = pb.ListEntriesRequest()
        request.CopyFrom(base)
        request.page_size, request.page_token = size, token
        response: pb.ListEntriesResponse = state.call(
            state.ledger.ListEntries, request, name="ListEntries"
        )
        return response

    items, token = _pages(page, "entries", limit, page_token)
    state.emit(
        {"entries": [to_dict(e) for e in items], "next_page_token": token},
        lambda: state.out.print(table(None, ENTRY_COLUMNS, entry_rows(items))),
    )
    _more(state, token)


def debit(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    amount: Annotated[str, typer.Argument(help="Positive decimal.")],
    feature: Annotated[str, typer.Option(help="The feature or meter the usage was for.")],
    occurred: Annotated[
        str | None, typer.Option(help="When the usage happened (ISO); default now.")
    ] = None,
    description: Annotated[str, typer.Option(help="History line.")] = "",
    event_id: Annotated[str, typer.Option(help="The usage event behind the debit.")] = "",
    meta: Metadata = None,
    request_id: RequestId = None,
) -> None:
    """Take usage from a wallet in burn-down order."""
    state = state_of(ctx)
    request = pb.DebitRequest(
        wallet_id=wallet_id,
        amount=parse.amount(amount),
        feature=feature,
        description=description,
        source_event_id=event_id,
        metadata=parse.labels(meta),
    )
    if occurred is not None:
        request.occurred_time.CopyFrom(parse.timestamp(occurred, name="--occurred"))
    request.request_id = state.request_id(request_id)
    entry = state.call(
        state.ledger.Debit, request, name="Debit", request_id=request.request_id
    ).entry
    state.emit(to_dict(entry), lambda: _show_entry(state, entry))


def _show_entry(state: State, entry: pb.Entry) -> None:
    state.out.print(table("Entry", ENTRY_COLUMNS, entry_rows([entry])))
    if entry.allocations:
        state.out.print(
            table(
                "Allocations",
                ["Grant", "Amount"],
                [[a.grant_id or "(overage)", a.amount] for a in entry.allocations],
            )
        )


# --- holds ---------------------------------------------------------------------------------------

HOLD_COLUMNS = ["Hold", "Wallet", "Amount", "Captured", "State", "Created", "Expires", "Feature"]


def _hold_rows(hold: pb.Hold) -> list[list[object]]:
    return [
        [
            hold.hold_id,
            hold.wallet_id,
            hold.amount,
            hold.captured_amount,
            enum(hold, "state"),
            when(hold, "create_time"),
            when(hold, "expire_time"),
            hold.feature,
        ]
    ]


def _show_hold(state: State, response: pb.CreateHoldResponse | pb.CaptureHoldResponse) -> None:
    def show() -> None:
        state.out.print(table("Hold", HOLD_COLUMNS, _hold_rows(response.hold)))
        _show_entry(state, response.entry)

    state.emit(to_dict(response), show)


@holds.command("create")
def holds_create(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    amount: Annotated[str, typer.Argument(help="Positive decimal, covered by available credits.")],
    timeout: Annotated[
        str | None,
        typer.Option("--expires-in", help="Released automatically after (90s, 15m, 1h)."),
    ] = None,
    feature: Annotated[str, typer.Option(help="The feature the work is for.")] = "",
    description: Annotated[str, typer.Option(help="What the hold is for.")] = "",
    request_id: RequestId = None,
) -> None:
    """Reserve credits; the available balance drops at once."""
    state = state_of(ctx)
    request = pb.CreateHoldRequest(
        wallet_id=wallet_id, amount=parse.amount(amount), feature=feature, description=description
    )
    if timeout is not None:
        request.timeout.CopyFrom(parse.duration(timeout, name="--expires-in"))
    request.request_id = state.request_id(request_id)
    response: pb.CreateHoldResponse = state.call(
        state.ledger.CreateHold, request, name="CreateHold", request_id=request.request_id
    )
    _show_hold(state, response)


@holds.command("capture")
def holds_capture(
    ctx: typer.Context,
    hold_id: Annotated[str, typer.Argument()],
    amount: Annotated[str, typer.Argument(help="The final amount, zero or more.")],
    description: Annotated[str, typer.Option(help="History line.")] = "",
    request_id: RequestId = None,
) -> None:
    """Turn a hold into usage."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.CaptureHoldRequest(
        request_id=rid,
        hold_id=hold_id,
        amount=parse.amount(amount, allow_zero=True),
        description=description,
    )
    _show_hold(
        state, state.call(state.ledger.CaptureHold, request, name="CaptureHold", request_id=rid)
    )


@holds.command("release")
def holds_release(
    ctx: typer.Context,
    hold_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why; becomes the RELEASE entry's description.")] = "",
    request_id: RequestId = None,
) -> None:
    """Free a hold's credits."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.ReleaseHoldRequest(request_id=rid, hold_id=hold_id, reason=reason)
    _show_hold(
        state, state.call(state.ledger.ReleaseHold, request, name="ReleaseHold", request_id=rid)
    )


@holds.command("get")
def holds_get(ctx: typer.Context, hold_id: Annotated[str, typer.Argument()]) -> None:
    """Show one hold."""
    state = state_of(ctx)
    hold = state.call(state.ledger.GetHold, pb.GetHoldRequest(hold_id=hold_id), name="GetHold").hold
    state.emit(
        to_dict(hold), lambda: state.out.print(table("Hold", HOLD_COLUMNS, _hold_rows(hold)))
    )


# --- paging --------------------------------------------------------------------------------------


class _Page(Protocol):
    @property
    def next_page_token(self) -> str: ...


def _pages(
    fetch: Callable[[int, str], _Page], field: str, limit: int, token: str
) -> tuple[list[Any], str]:
    """Up to `limit` items over as many pages as needed; returns (items, next token or "").
    The items are the messages of the page's repeated field named `field`."""
    items: list[Any] = []
    while len(items) < limit:
        response = fetch(min(limit - len(items), PAGE_MAX), token)
        items.extend(getattr(response, field))
        token = response.next_page_token
        if not token:
            break
    return items, token


def _more(state: State, token: str) -> None:
    if token and not state.json:
        state.note(f"more: --page-token {token}")
