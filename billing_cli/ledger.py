"""Ledger commands: wallets, balance, history and debit (grants: grants.py; holds: holds.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Protocol

import typer
from billing.ledger.v1 import ledger_pb2 as pb

from billing_cli import parse
from billing_cli.choices import EntryType, Overage
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
    list_pages(
        state,
        state.ledger.ListWallets,
        lambda size, tok: pb.ListWalletsRequest(
            customer_id=customer, page_size=size, page_token=tok
        ),
        "wallets",
        limit,
        page_token,
        WALLET_COLUMNS,
        wallet_rows,
    )


# --- entries -------------------------------------------------------------------------------------

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
    "By",
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
            e.actor,  # who wrote it ("system": expiry, allotments, automatic top-ups)
        ]
        for e in items
    ]


MEMBER_COLUMNS = ["Member", "Budget", "Period", "Policy", "Spent", "Held", "Remaining", "Since"]


def member_rows(members: list[pb.PoolMember]) -> list[list[str]]:
    return [
        [
            m.member_id,
            m.budget or (f"{m.budget_share}%" if m.budget_share else "none"),
            enum(m, "budget_period") if m.budget_period else "none",
            enum(m, "policy"),
            m.spent,
            m.held,
            m.remaining or "-",
            when(m, "period_start_time"),
        ]
        for m in members
    ]


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
    # A pooled wallet's balance also says who used what: its members' standing now (a past
    # balance has no past standing of members, so --as-of shows none).
    members = (
        []
        if as_of is not None
        else list(
            state.call(
                state.ledger.ListPoolMembers,
                pb.ListPoolMembersRequest(wallet_id=wallet_id),
                name="ListPoolMembers",
            ).members
        )
    )

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
                    ["unscoped available", b.unscoped_available],
                ],
            )
        )
        if b.features:
            state.out.print(
                table(
                    "Available per feature (its scoped grants, then the unscoped ones)",
                    ["Feature", "Available", "Of it scoped"],
                    [[f.feature, f.available, f.scoped_available] for f in b.features],
                )
            )
        state.out.print(
            table(
                "Grants (burn-down order)",
                [
                    "Grant",
                    "Kind",
                    "State",
                    "Priority",
                    "Remaining",
                    "Effective",
                    "Expires",
                    "Features",
                ],
                [
                    [
                        g.grant_id,
                        enum(g, "kind"),
                        enum(g, "state"),
                        g.priority,
                        g.remaining_amount,
                        when(g, "effective_time"),
                        when(g, "expire_time") or "never",
                        ", ".join(g.features) or "all",
                    ]
                    for g in b.grants
                ],
            )
        )
        if members:
            state.out.print(table("Pool members this period", MEMBER_COLUMNS, member_rows(members)))

    shown = to_dict(b)
    if members:
        shown["members"] = [to_dict(m) for m in members]
    state.emit(shown, render)


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

    items, token = pages(page, "entries", limit, page_token)
    state.emit(
        {"entries": [to_dict(e) for e in items], "next_page_token": token},
        lambda: state.out.print(table(None, ENTRY_COLUMNS, entry_rows(items))),
    )
    more(state, token)


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
    member: Annotated[
        str, typer.Option(help="The pool member the usage is for (checked against its budget).")
    ] = "",
    request_id: RequestId = None,
) -> None:
    """Take usage from a wallet in burn-down order."""
    state = state_of(ctx)
    request = pb.DebitRequest(
        member_id=member,
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
    state.emit(to_dict(entry), lambda: show_entry(state, entry))


def show_entry(state: State, entry: pb.Entry) -> None:
    state.out.print(table("Entry", ENTRY_COLUMNS, entry_rows([entry])))
    if entry.allocations:
        state.out.print(
            table(
                "Allocations",
                ["Grant", "Amount"],
                [[a.grant_id or "(overage)", a.amount] for a in entry.allocations],
            )
        )


# --- paging --------------------------------------------------------------------------------------


class _Page(Protocol):
    @property
    def next_page_token(self) -> str: ...


def pages(
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


def list_pages(
    state: State,
    method: Callable[..., _Page],
    request: Callable[[int, str], Any],
    field: str,
    limit: int,
    page_token: str,
    columns: list[str],
    rows: Callable[[list[Any]], list[list[object]]],
) -> None:
    """A listing command's work: up to `limit` items of the pages `method` answers (`request`
    builds a page's request from its size and token), shown as a table, or as JSON, and where
    to continue."""

    def fetch(size: int, token: str) -> _Page:
        page_request = request(size, token)
        return state.call(method, page_request, name=type(page_request).__name__[: -len("Request")])

    items, token = pages(fetch, field, limit, page_token)
    state.emit(
        {field: [to_dict(i) for i in items], "next_page_token": token},
        lambda: state.out.print(table(None, columns, rows(items))),
    )
    more(state, token)


def more(state: State, token: str) -> None:
    if token and not state.json:
        state.note(f"more: --page-token {token}")
