"""Contract tests over real gRPC: pagination of ListWallets, ListGrants and ListEntries.

Paging through with small page sizes returns every item exactly once, in the documented order
(wallets and grants oldest first, entries newest first), and the last page has an empty
next_page_token (also when the last page is exactly full).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc
from billing.type.v1 import types_pb2

from billing_common.clock import FakeClock
from billing_common.protoconv import timestamp
from ledger_service import main as ledger_main
from ledger_service.config import LedgerSettings
from tests.support.channels import admin_key_file, open_channel
from tests.support.ledger import debit_request, make_grant, make_wallet, rid
from tests.support.servers import START, RunningLedger
from tests.support.tls import server_settings


@pytest.fixture(scope="module")
async def ledger_server(new_database: Any, ledger_template: str) -> AsyncIterator[RunningLedger]:
    """conftest's ledger_server, shared by this module's tests to keep the suite fast: one real gRPC
    server on its own database with a FakeClock. Tests use their own wallets and customers and only
    ever move the clock forward, so they do not depend on each other."""
    settings = LedgerSettings(
        admin_key_file=admin_key_file(),
        database_url=await new_database("ledger", ledger_template),
        listen="127.0.0.1:0",
        migrate=False,
        pool_size=10,
        sweep_interval_s=0,
        **server_settings(),
    )
    clock = FakeClock(START)
    ledger = await ledger_main.build(settings, clock)
    target = f"127.0.0.1:{await ledger.server.start()}"
    channel = open_channel(target)
    try:
        yield RunningLedger(
            target, clock, ledger, channel, ledger_pb2_grpc.LedgerServiceStub(channel)
        )
    finally:
        await channel.close()
        await ledger.close()


async def page_through(
    call: Callable[[str], Awaitable[Any]], items: Callable[[Any], list[Any]], page_size: int
) -> tuple[list[Any], list[int]]:
    """Every item of every page, and the page lengths. Fails on a circle or an empty middle page."""
    collected: list[Any] = []
    sizes: list[int] = []
    token, seen = "", set()
    while True:
        response = await call(token)
        page = items(response)
        assert len(page) <= page_size
        collected += page
        sizes.append(len(page))
        token = response.next_page_token
        if not token:
            return collected, sizes
        assert page, "a page with a next_page_token must not be empty"
        assert token not in seen, "paging went round in a circle"
        seen.add(token)
        assert len(sizes) < 1000


def expected_sizes(total: int, page_size: int) -> list[int]:
    if total == 0:
        return [0]
    return [min(page_size, total - i) for i in range(0, total, page_size)]


# -- ListWallets ---------------------------------------------------------------------------------


async def test_list_wallets_by_customer_pages_oldest_first(ledger_server: Any) -> None:
    stub = ledger_server.stub
    a, b = f"cust-a-{rid()}", f"cust-b-{rid()}"
    mine: list[str] = []
    others: list[str] = []
    for i in range(7):  # interleaved with another customer's wallets, so the seqs have gaps
        mine.append((await make_wallet(stub, customer_id=a, unit=f"U{i}")).wallet_id)
        others.append((await make_wallet(stub, customer_id=b, unit=f"U{i}")).wallet_id)
    interleaved = [w for pair in zip(mine, others, strict=True) for w in pair]
    total = len((await stub.ListWallets(pb.ListWalletsRequest(page_size=500))).wallets)
    assert total >= 14

    for page_size in (1, 2, 3, 7, 8):

        async def by_customer(token: str, page_size: int = page_size) -> pb.ListWalletsResponse:
            return await stub.ListWallets(
                pb.ListWalletsRequest(customer_id=a, page_size=page_size, page_token=token)
            )

        wallets, sizes = await page_through(by_customer, lambda r: list(r.wallets), page_size)
        assert [w.wallet_id for w in wallets] == mine, page_size
        assert {w.customer_id for w in wallets} == {a}
        assert sizes == expected_sizes(7, page_size), page_size

        async def everyone(token: str, page_size: int = page_size) -> pb.ListWalletsResponse:
            return await stub.ListWallets(
                pb.ListWalletsRequest(page_size=page_size, page_token=token)
            )

        all_ids = [
            w.wallet_id
            for w in (await page_through(everyone, lambda r: list(r.wallets), page_size))[0]
        ]
        assert len(all_ids) == len(set(all_ids)) == total, page_size
        assert [w for w in all_ids if w in set(interleaved)] == interleaved, page_size


async def test_list_wallets_of_unknown_customer_is_one_empty_page(ledger_server: Any) -> None:
    await make_wallet(ledger_server.stub)
    response = await ledger_server.stub.ListWallets(
        pb.ListWalletsRequest(customer_id=f"nobody-{rid()}", page_size=1)
    )
    assert list(response.wallets) == [] and response.next_page_token == ""


async def test_list_wallets_sees_wallets_created_while_paging(ledger_server: Any) -> None:
    stub, customer = ledger_server.stub, f"cust-{rid()}"
    ids = [
        (await make_wallet(stub, customer_id=customer, unit=f"U{i}")).wallet_id for i in range(4)
    ]
    first = await stub.ListWallets(pb.ListWalletsRequest(customer_id=customer, page_size=2))
    ids.append((await make_wallet(stub, customer_id=customer, unit="LATE")).wallet_id)

    token, collected = first.next_page_token, [w.wallet_id for w in first.wallets]
    while token:
        page = await stub.ListWallets(
            pb.ListWalletsRequest(customer_id=customer, page_size=2, page_token=token)
        )
        collected += [w.wallet_id for w in page.wallets]
        token = page.next_page_token
    assert collected == ids


# -- ListGrants ----------------------------------------------------------------------------------


async def grants_in_every_state(server: Any) -> tuple[str, list[str], dict[int, list[str]]]:
    """A wallet with grants in every state, created interleaved; returns all ids in creation order
    and the expected ids per state (in creation order) once the clock has moved two hours on."""
    stub, t0 = server.stub, server.clock.now()
    wallet = await make_wallet(stub)
    w = wallet.wallet_id
    expected: dict[int, list[str]] = {s: [] for s in range(1, 6)}
    created: list[str] = []

    async def add(state: int, amount: str, **kw: Any) -> str:
        grant_id = (await make_grant(stub, w, amount, **kw)).grant.grant_id
        expected[state].append(grant_id)
        created.append(grant_id)
        return grant_id

    voided = []
    for round_ in range(3):
        await add(pb.GRANT_STATE_ACTIVE, "10", priority=5)
        await add(pb.GRANT_STATE_CONSUMED, str(round_ + 1), priority=-10)  # burns first
        await add(pb.GRANT_STATE_PENDING, "20", effective=t0 + timedelta(days=10))
        await add(pb.GRANT_STATE_EXPIRED, "30", priority=5, expire=t0 + timedelta(hours=1))
        voided.append(await add(pb.GRANT_STATE_VOIDED, "40", priority=5))
    # Ended before their expiry passed: they stay CONSUMED / VOIDED, not EXPIRED.
    await add(pb.GRANT_STATE_CONSUMED, "4", priority=-10, expire=t0 + timedelta(hours=1))
    voided.append(
        await add(pb.GRANT_STATE_VOIDED, "40", priority=5, expire=t0 + timedelta(hours=1))
    )
    await add(
        pb.GRANT_STATE_PENDING,
        "20",
        effective=t0 + timedelta(days=10),
        expire=t0 + timedelta(days=20),
    )
    await add(pb.GRANT_STATE_ACTIVE, "10", priority=5)
    for grant_id in voided:
        await stub.VoidGrant(pb.VoidGrantRequest(request_id=rid(), grant_id=grant_id))
    # Consume exactly the priority -10 grants (1 + 2 + 3 + 4).
    await stub.Debit(debit_request(w, "10"))
    server.clock.advance(timedelta(hours=2))
    return w, created, expected


STATES = [
    pb.GRANT_STATE_ACTIVE,
    pb.GRANT_STATE_PENDING,
    pb.GRANT_STATE_EXPIRED,
    pb.GRANT_STATE_VOIDED,
    pb.GRANT_STATE_CONSUMED,
]


async def test_list_grants_by_state_pages_oldest_first(ledger_server: Any) -> None:
    stub = ledger_server.stub
    wallet_id, created, expected = await grants_in_every_state(ledger_server)

    async def listed(state: int, page_size: int) -> list[pb.Grant]:
        grants, sizes = await page_through(
            lambda t: stub.ListGrants(
                pb.ListGrantsRequest(
                    wallet_id=wallet_id, state=state, page_size=page_size, page_token=t
                )
            ),
            lambda r: list(r.grants),
            page_size,
        )
        total = len(expected[state]) if state else len(created)
        assert sizes == expected_sizes(total, page_size), (pb.GrantState.Name(state), page_size)
        return grants

    for page_size in (1, 2, 3):
        for state in STATES:
            grants = await listed(state, page_size)
            assert [g.grant_id for g in grants] == expected[state], (
                pb.GrantState.Name(state),
                page_size,
            )
            assert {g.state for g in grants} == {state}
        # Unfiltered: every grant, oldest first (creation order, not grouped by state).
        all_grants = await listed(pb.GRANT_STATE_UNSPECIFIED, page_size)
        assert [g.grant_id for g in all_grants] == created
        assert {g.grant_id: g.state for g in all_grants} == {
            g: state for state, ids in expected.items() for g in ids
        }

    # Booking the write-offs changes no grant's state.
    swept = await stub.RunExpiry(pb.RunExpiryRequest(wallet_id=wallet_id))
    assert sorted(e.related_id for e in swept.entries) == sorted(expected[pb.GRANT_STATE_EXPIRED])
    for state in STATES:
        assert [g.grant_id for g in await listed(state, 2)] == expected[state]


async def test_list_grants_pending_becomes_active_as_the_clock_moves(ledger_server: Any) -> None:
    stub, t0 = ledger_server.stub, ledger_server.clock.now()
    wallet = await make_wallet(stub)
    soon = [
        (
            await make_grant(stub, wallet.wallet_id, "1", effective=t0 + timedelta(days=d))
        ).grant.grant_id
        for d in (1, 2, 3)
    ]

    async def ids(state: int) -> list[str]:
        grants, _ = await page_through(
            lambda t: stub.ListGrants(
                pb.ListGrantsRequest(
                    wallet_id=wallet.wallet_id, state=state, page_size=1, page_token=t
                )
            ),
            lambda r: list(r.grants),
            1,
        )
        return [g.grant_id for g in grants]

    assert (await ids(pb.GRANT_STATE_PENDING), await ids(pb.GRANT_STATE_ACTIVE)) == (soon, [])
    ledger_server.clock.advance(timedelta(days=2))
    assert (await ids(pb.GRANT_STATE_PENDING), await ids(pb.GRANT_STATE_ACTIVE)) == (
        soon[2:],
        soon[:2],
    )


# -- ListEntries ---------------------------------------------------------------------------------


async def journal(server: Any) -> tuple[str, list[tuple[str, int, datetime]]]:
    """A wallet whose entries are booked one minute apart: (entry_id, type, book_time), oldest
    first."""
    stub, clock = server.stub, server.clock
    wallet = await make_wallet(stub)
    w = wallet.wallet_id
    booked: list[tuple[str, int, datetime]] = []

    def note(entries: Any) -> None:
        for e in entries:
            booked.append((e.entry_id, e.type, e.book_time.ToDatetime()))
        clock.advance(timedelta(minutes=1))

    grant = await make_grant(stub, w, "1000")
    note(grant.entries)
    debits = []
    for i in range(5):
        entry = (await stub.Debit(debit_request(w, str(i + 1)))).entry
        debits.append(entry)
        note([entry])
    note((await make_grant(stub, w, "50", kind=pb.GRANT_KIND_PROMOTIONAL)).entries)
    note(
        (
            await stub.RefundDebit(
                pb.RefundDebitRequest(request_id=rid(), entry_id=debits[1].entry_id, amount="1")
            )
        ).entries
    )
    batch = await stub.DebitBatch(
        pb.DebitBatchRequest(debits=[debit_request(w, "1") for _ in range(3)])
    )
    note([r.entry for r in batch.results])  # three entries with the same book_time
    extra = await make_grant(stub, w, "7")
    note(extra.entries)
    note(
        [
            (
                await stub.VoidGrant(
                    pb.VoidGrantRequest(request_id=rid(), grant_id=extra.grant.grant_id)
                )
            ).entry
        ]
    )
    note([(await stub.Debit(debit_request(w, "2"))).entry])
    return w, booked


def range_of(start: datetime | None, end: datetime | None) -> types_pb2.TimeRange:
    r = types_pb2.TimeRange()
    if start is not None:
        r.start_time.CopyFrom(timestamp(start))
    if end is not None:
        r.end_time.CopyFrom(timestamp(end))
    return r


async def test_list_entries_filters_and_pages_newest_first(ledger_server: Any) -> None:
    stub = ledger_server.stub
    wallet_id, booked = await journal(ledger_server)
    assert len(booked) == 14
    newest_first = list(reversed(booked))
    t0 = booked[0][2]

    filters: list[tuple[str, dict[str, Any], list[tuple[str, int, datetime]]]] = [
        ("all", {}, newest_first),
        (
            "debits",
            {"types": [pb.ENTRY_TYPE_DEBIT]},
            [b for b in newest_first if b[1] == pb.ENTRY_TYPE_DEBIT],
        ),
        (
            "grants+refunds",
            {"types": [pb.ENTRY_TYPE_GRANT, pb.ENTRY_TYPE_REFUND]},
            [b for b in newest_first if b[1] in (pb.ENTRY_TYPE_GRANT, pb.ENTRY_TYPE_REFUND)],
        ),
    ]
    start, end = t0 + timedelta(minutes=2), t0 + timedelta(minutes=8)
    for label, (s, e) in {
        "range": (start, end),
        "from": (start, None),
        "until": (None, end),
    }.items():
        want = [b for b in newest_first if (s is None or b[2] >= s) and (e is None or b[2] < e)]
        filters.append((label, {"book_time_range": range_of(s, e)}, want))
    filters.append(
        (
            "debits-in-range",
            {"types": [pb.ENTRY_TYPE_DEBIT], "book_time_range": range_of(start, end)},
            [b for b in newest_first if b[1] == pb.ENTRY_TYPE_DEBIT and start <= b[2] < end],
        )
    )

    for label, extra, want in filters:
        assert want, label
        for page_size in (1, 2, 3, 5):

            async def call(
                token: str, extra: dict[str, Any] = extra, page_size: int = page_size
            ) -> Any:
                request = pb.ListEntriesRequest(
                    wallet_id=wallet_id, page_size=page_size, page_token=token
                )
                if "types" in extra:
                    request.types.extend(extra["types"])
                if "book_time_range" in extra:
                    request.book_time_range.CopyFrom(extra["book_time_range"])
                return await stub.ListEntries(request)

            entries, sizes = await page_through(call, lambda r: list(r.entries), page_size)
            got = [(e.entry_id, e.type, e.book_time.ToDatetime()) for e in entries]
            assert got == want, (label, page_size)
            assert sizes == expected_sizes(len(want), page_size), (label, page_size)


async def test_list_entries_paging_is_stable_while_entries_are_added(ledger_server: Any) -> None:
    """A token continues below where the first page stopped: entries booked meanwhile are newer
    and do not shift, repeat or hide the older ones."""
    stub = ledger_server.stub
    wallet_id, booked = await journal(ledger_server)
    first = await stub.ListEntries(pb.ListEntriesRequest(wallet_id=wallet_id, page_size=4))
    await stub.Debit(debit_request(wallet_id, "1"))
    await stub.Debit(debit_request(wallet_id, "1"))
    token, ids = first.next_page_token, [e.entry_id for e in first.entries]
    while token:
        page = await stub.ListEntries(
            pb.ListEntriesRequest(wallet_id=wallet_id, page_size=4, page_token=token)
        )
        ids += [e.entry_id for e in page.entries]
        token = page.next_page_token
    assert ids == [b[0] for b in reversed(booked)]


async def test_list_entries_default_page_size_is_50(ledger_server: Any) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    batch = await stub.DebitBatch(
        pb.DebitBatchRequest(debits=[debit_request(wallet.wallet_id, "1") for _ in range(60)])
    )
    assert all(r.WhichOneof("result") == "entry" for r in batch.results)
    first = await stub.ListEntries(pb.ListEntriesRequest(wallet_id=wallet.wallet_id))
    assert len(first.entries) == 50 and first.next_page_token
    second = await stub.ListEntries(
        pb.ListEntriesRequest(wallet_id=wallet.wallet_id, page_token=first.next_page_token)
    )
    assert len(second.entries) == 11 and second.next_page_token == ""
    ids = [e.entry_id for e in [*first.entries, *second.entries]]
    assert len(set(ids)) == 61
    assert second.entries[-1].type == pb.ENTRY_TYPE_GRANT
