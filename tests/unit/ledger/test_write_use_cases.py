"""The ledger's write use cases and its write pipeline against the in-memory unit of work: each
request keeps its own result, idempotency and error however writes are grouped."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from billing_common.clock import FakeClock
from billing_common.errors import BillingError, RequestIdConflict, ResourceExhausted, Unavailable
from ledger_service.app import commands as cmd
from ledger_service.app import operations as ops
from ledger_service.app.commands import SYSTEM
from ledger_service.app.ports import StoredEntry
from ledger_service.app.service import LedgerApp, LedgerPolicy
from ledger_service.domain.errors import InsufficientCredits, WalletNotFound
from ledger_service.domain.model import EventType, GrantKind, Hold, OveragePolicy
from tests.unit.ledger.factories import T0
from tests.unit.ledger.fakes import FakeUnitOfWork


def idem(request_id: str, method: str, content: str) -> cmd.Idem:
    return cmd.Idem(request_id, method, content.encode())


def encode_entry(stored: StoredEntry) -> bytes:
    return f"{stored.id}|{stored.entry.amount}|{stored.entry.available_after}".encode()


def encode_hold(hold: Hold, stored: StoredEntry, now: object) -> bytes:
    return f"{hold.id}|{hold.amount}|{stored.entry.type.value}".encode()


def debit(request_id: str, wallet_id: str, amount: str) -> cmd.Debit:
    return cmd.Debit(
        idem(request_id, "Debit", f"{wallet_id}:{amount}"),
        wallet_id,
        Decimal(amount),
        None,
        "api",
        "",
        "",
    )


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def app(uow: FakeUnitOfWork) -> LedgerApp:
    return LedgerApp(uow, FakeClock(T0), LedgerPolicy())


async def funded_wallet(app: LedgerApp, customer: str, amount: str) -> str:
    created = await app.create_wallet(
        cmd.CreateWallet(
            idem(f"wallet-{customer}", "CreateWallet", customer),
            customer,
            "CREDITS",
            OveragePolicy.DENY,
            None,
        ),
        lambda w: w.id.encode(),
        SYSTEM,
    )
    wallet_id = created.decode()
    await grant(app, f"grant-{customer}", wallet_id, amount)
    return wallet_id


async def grant(app: LedgerApp, request_id: str, wallet_id: str, amount: str) -> None:
    command = cmd.CreateGrant(
        idem(request_id, "CreateGrant", request_id),
        wallet_id,
        GrantKind.PREPAID,
        Decimal(amount),
        0,
        None,
        None,
        Decimal(0),
        "",
        "",
        "",
    )
    await app.create_grant(command, lambda g, entries, now: g.id.encode(), SYSTEM)


async def test_a_debit_replays_byte_for_byte_and_a_changed_one_conflicts(app: LedgerApp) -> None:
    wallet = await funded_wallet(app, "c1", "10")
    first = await app.debit(debit("d1", wallet, "3"), encode_entry, SYSTEM)
    assert first.endswith(b"|-3|7")
    assert await app.debit(debit("d1", wallet, "3"), encode_entry, SYSTEM) == first
    with pytest.raises(RequestIdConflict):
        await app.debit(debit("d1", wallet, "4"), encode_entry, SYSTEM)
    (_, balance) = await app.balance(wallet, None, None)
    assert balance.available == Decimal(7)


async def test_a_refused_debit_is_not_remembered(app: LedgerApp, uow: FakeUnitOfWork) -> None:
    wallet = await funded_wallet(app, "c1", "2")
    with pytest.raises(InsufficientCredits):
        await app.debit(debit("d1", wallet, "5"), encode_entry, SYSTEM)
    assert "d1" not in uow.tables.keys  # the claim was released: nothing written
    await grant(app, "more", wallet, "10")
    assert (await app.debit(debit("d1", wallet, "5"), encode_entry, SYSTEM)).endswith(b"|-5|7")


async def test_concurrent_writes_of_many_wallets_share_transactions(
    app: LedgerApp, uow: FakeUnitOfWork
) -> None:
    wallets = [await funded_wallet(app, f"c{i}", "10") for i in range(10)]
    before = uow.transactions
    calls = [
        app.debit(debit(f"d{i}", wallets[i % 10], "1"), encode_entry, SYSTEM) for i in range(50)
    ]
    calls += [
        app.create_hold(
            cmd.CreateHold(
                idem(f"h{i}", "CreateHold", str(i)), w, Decimal(2), timedelta(hours=1), "", ""
            ),
            encode_hold,
            SYSTEM,
        )
        for i, w in enumerate(wallets)
    ]
    calls.append(app.debit(debit("too-much", wallets[0], "100"), encode_entry, SYSTEM))
    calls.append(app.debit(debit("nowhere", "no-such-wallet", "1"), encode_entry, SYSTEM))
    results = await asyncio.gather(*calls, return_exceptions=True)
    *booked, too_much, nowhere = results
    assert all(isinstance(r, bytes) for r in booked), booked
    assert isinstance(too_much, InsufficientCredits)
    assert isinstance(nowhere, WalletNotFound)
    # 62 calls, a handful of transactions: the first alone, then everything that waited.
    assert uow.transactions - before <= 3, uow.transactions - before
    for w in wallets:
        (_, balance) = await app.balance(w, None, None)
        assert (balance.available, balance.held) == (Decimal(3), Decimal(2))


async def test_a_hold_and_a_debit_in_one_transaction_never_share_credits(app: LedgerApp) -> None:
    wallet = await funded_wallet(app, "c1", "10")
    hold = app.create_hold(
        cmd.CreateHold(
            idem("h", "CreateHold", "h"), wallet, Decimal(10), timedelta(hours=1), "", ""
        ),
        encode_hold,
        SYSTEM,
    )
    spend = app.debit(debit("d", wallet, "10"), encode_entry, SYSTEM)
    results = await asyncio.gather(hold, spend, return_exceptions=True)
    assert isinstance(results[0], bytes)
    assert isinstance(results[1], InsufficientCredits)


async def test_a_failed_transaction_fails_only_its_own_callers(
    app: LedgerApp, uow: FakeUnitOfWork
) -> None:
    wallet = await funded_wallet(app, "c1", "10")
    uow.fail_next = [Unavailable("the database is unavailable; retry")]
    with pytest.raises(Unavailable):
        await app.debit(debit("d1", wallet, "1"), encode_entry, SYSTEM)
    # The same request again, once the database is back: booked once.
    assert (await app.debit(debit("d1", wallet, "1"), encode_entry, SYSTEM)).endswith(b"|-1|9")


async def test_a_full_write_queue_refuses_at_once(uow: FakeUnitOfWork) -> None:
    app = LedgerApp(uow, FakeClock(T0), LedgerPolicy(), write_queue_max=2)
    wallet = await funded_wallet(app, "c1", "10")
    # Three writes sent in the same turn of the loop: two wait, the third finds the queue full.
    calls = [app.debit(debit(f"d{i}", wallet, "1"), encode_entry, SYSTEM) for i in range(3)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    refused = [r for r in results if isinstance(r, ResourceExhausted)]
    assert len(refused) == 1 and refused[0].reason == "WRITE_QUEUE_FULL"
    assert sum(isinstance(r, bytes) for r in results) == 2
    assert not any(isinstance(r, BillingError) and r not in refused for r in results)


def fired(uow: FakeUnitOfWork, wallet_id: str) -> list[tuple[str, str]]:
    """(rule name, available) of each ALERT_FIRED event of the wallet, in order."""
    return [
        (e.data["name"], e.data["available"])
        for _, w, e in uow.tables.events
        if w == wallet_id and e.type is EventType.ALERT_FIRED
    ]


async def test_a_batch_evaluates_alerts_once_on_the_balance_it_leaves(
    app: LedgerApp, uow: FakeUnitOfWork
) -> None:
    wallet = await funded_wallet(app, "c1", "100")
    # 100 -> 70 -> 40 -> 10: crosses 50%, 25% and 10% left (the default rules).
    results = await app.debit_batch(
        [debit(f"d{i}", wallet, "30") for i in range(3)], encode_entry, SYSTEM
    )
    assert all(isinstance(r, bytes) for r in results)
    assert sorted(fired(uow, wallet)) == [
        ("10% left", "10"),
        ("25% left", "10"),
        ("50% left", "10"),
    ]


async def test_a_breach_that_ends_within_its_transaction_fires_no_alert(
    app: LedgerApp, uow: FakeUnitOfWork
) -> None:
    wallet = await funded_wallet(app, "c1", "100")
    grant_more = cmd.CreateGrant(
        idem("more", "CreateGrant", "more"),
        wallet,
        GrantKind.PREPAID,
        Decimal(100),
        0,
        None,
        None,
        Decimal(0),
        "",
        "",
        "",
    )
    # One transaction: a debit to 40 (below 50% of 100), then a grant back to 140 (70% of 200).
    results = await app.apply_group(
        [
            ops.DebitOp(debit("d", wallet, "60"), encode_entry, SYSTEM),
            ops.CreateGrantOp(
                grant_more, lambda g, entries, now: g.id.encode(), "grant-more", SYSTEM
            ),
        ]
    )
    assert all(isinstance(r, bytes) for r in results)
    assert fired(uow, wallet) == []
    # A debit alone to 40 of 200 (20% left) fires.
    await app.debit(debit("d2", wallet, "100"), encode_entry, SYSTEM)
    assert sorted(fired(uow, wallet)) == [("25% left", "40"), ("50% left", "40")]
