"""A hold is a guarantee under concurrency: a hold and a debit sent at the same moment for the same
credits never both succeed, and a hold that succeeded can always be captured in full.

The server runs on a clock that moves forward on every read (as real time does), so a write that
reads its time before it holds the wallet's lock books a time earlier than a write that committed
while it waited: the shape of the race this file guards against.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc

from billing_common.clock import FakeClock
from billing_common.protoconv import duration
from ledger_service import main as ledger_main
from ledger_service.config import LedgerSettings
from tests.support.channels import admin_key_file, open_channel
from tests.support.ledger import TickingClock, balance, debit_request, make_grant, make_wallet, rid
from tests.support.servers import START
from tests.support.tls import server_settings

RACES = 200
RACES_AT_ONCE = 10


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock(START)


def hold_request(wallet_id: str, amount: str) -> pb.CreateHoldRequest:
    return pb.CreateHoldRequest(
        request_id=rid(),
        wallet_id=wallet_id,
        amount=amount,
        feature="AI job",
        timeout=duration(timedelta(minutes=30)),
    )


def refused_for_credits(result: object) -> bool:
    return (
        isinstance(result, grpc.aio.AioRpcError)
        and result.code() == grpc.StatusCode.FAILED_PRECONDITION
        and "INSUFFICIENT_CREDITS" in str(result.trailing_metadata())
    )


async def test_a_hold_and_a_debit_racing_for_the_same_credits_never_both_succeed(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallets = await asyncio.gather(*(make_wallet(stub) for _ in range(RACES)))
    await asyncio.gather(*(make_grant(stub, w.wallet_id, "10") for w in wallets))

    async def race(wallet_id: str) -> tuple[object, object]:
        hold, debit = await asyncio.gather(
            stub.CreateHold(hold_request(wallet_id, "10")),
            stub.Debit(debit_request(wallet_id, "10")),
            return_exceptions=True,
        )
        return hold, debit

    outcomes: list[tuple[object, object]] = []
    for start in range(0, RACES, RACES_AT_ONCE):
        chunk = wallets[start : start + RACES_AT_ONCE]
        outcomes += await asyncio.gather(*(race(w.wallet_id) for w in chunk))

    both = [
        w.wallet_id
        for w, (h, d) in zip(wallets, outcomes, strict=True)
        if isinstance(h, pb.CreateHoldResponse) and isinstance(d, pb.DebitResponse)
    ]
    assert both == [], f"{len(both)} of {RACES} races spent the held credits twice"
    for hold, debit in outcomes:
        # Exactly one wins; the other is refused for lack of credits, nothing else.
        assert isinstance(hold, pb.CreateHoldResponse) or refused_for_credits(hold), hold
        assert isinstance(debit, pb.DebitResponse) or refused_for_credits(debit), debit
    hold_wins = [
        (w.wallet_id, h.hold.hold_id)
        for w, (h, _) in zip(wallets, outcomes, strict=True)
        if isinstance(h, pb.CreateHoldResponse)
    ]
    assert 0 < len(hold_wins) < RACES  # both orders happened: the race was really run

    async def capture(wallet_id: str, hold_id: str) -> None:
        captured = await stub.CaptureHold(
            pb.CaptureHoldRequest(request_id=rid(), hold_id=hold_id, amount="10")
        )
        assert captured.hold.state == pb.HOLD_STATE_CAPTURED

    await asyncio.gather(*(capture(w, h) for w, h in hold_wins))

    async def settled(wallet_id: str) -> None:
        b = await balance(stub, wallet_id)
        assert (b.available, b.held, b.overage) == ("0", "0", "0")
        report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet_id))
        assert report.consistent, report.differences
        assert report.consumed == "10"

    await asyncio.gather(*(settled(w.wallet_id) for w in wallets))


async def test_a_ledger_whose_clock_is_behind_still_honours_a_hold_booked_by_another(
    ledger_server, ledger_db
) -> None:
    """Two ledger processes on one database, the second's clock a minute behind: a hold booked
    by the first is held for the second too, and the journal's book times never go back."""
    behind = FakeClock(START - timedelta(minutes=1))
    settings = LedgerSettings(
        admin_key_file=admin_key_file(),
        database_url=ledger_db,
        listen="127.0.0.1:0",
        migrate=False,
        pool_size=2,
        sweep_interval_s=0,
        **server_settings(),
    )
    other = await ledger_main.build(settings, behind)
    port = await other.server.start()
    channel = open_channel(f"127.0.0.1:{port}")
    try:
        late = ledger_pb2_grpc.LedgerServiceStub(channel)
        stub = ledger_server.stub
        wallet = await make_wallet(stub)
        # Effective since before either clock: only the hold stands between the debit and it.
        effective = START - timedelta(hours=1)
        grant = (await make_grant(stub, wallet.wallet_id, "10", effective=effective)).grant
        hold = (await stub.CreateHold(hold_request(wallet.wallet_id, "10"))).hold

        refused = await asyncio.gather(
            late.Debit(debit_request(wallet.wallet_id, "10")), return_exceptions=True
        )
        assert refused_for_credits(refused[0]), refused[0]
        # Reads through the late process see the hold and the grant as they were booked.
        assert (await late.GetHold(pb.GetHoldRequest(hold_id=hold.hold_id))).hold == hold
        got = (await late.GetGrant(pb.GetGrantRequest(grant_id=grant.grant_id))).grant
        assert got.state == pb.GRANT_STATE_ACTIVE
        b = await balance(late, wallet.wallet_id)
        assert (b.available, b.held) == ("0", "10")
        captured = await late.CaptureHold(
            pb.CaptureHoldRequest(request_id=rid(), hold_id=hold.hold_id, amount="10")
        )
        assert captured.hold.state == pb.HOLD_STATE_CAPTURED
        entries = (
            await late.ListEntries(pb.ListEntriesRequest(wallet_id=wallet.wallet_id))
        ).entries
        book_times = [e.book_time.ToDatetime() for e in reversed(entries)]
        assert book_times == sorted(book_times)
        report = await late.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
        assert report.consistent, report.differences
    finally:
        await channel.close()
        await other.close()


async def test_one_write_from_a_clock_far_ahead_does_not_move_the_wallet_into_its_future(
    ledger_server,
) -> None:
    """A process whose clock runs a day ahead books one write. The journal stays in order (later
    writes are booked no earlier), but the rules keep running at the clock's time: a grant booked
    afterwards is usable at once, and credits that expire in 12 hours stay usable until then."""
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100", expire=START + timedelta(hours=12))
    clock.set(START + timedelta(days=1))  # the skewed process
    await make_grant(stub, wallet, "1")
    real = START + timedelta(minutes=1)
    clock.set(real)  # every other process: the real time
    await make_grant(stub, wallet, "50")
    assert (await balance(stub, wallet)).available == "150"  # the skewed grant is not yet in force
    entry = (await stub.Debit(debit_request(wallet, "120"))).entry
    assert entry.available_after == "30"
    history = (await stub.ListEntries(pb.ListEntriesRequest(wallet_id=wallet))).entries
    book_times = [e.book_time.ToDatetime() for e in reversed(history)]  # oldest first
    assert book_times == sorted(book_times)
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet))
    assert report.consistent, report.differences


def authorize_hold(wallet_id: str, amount: str) -> pb.AuthorizeRequest:
    return pb.AuthorizeRequest(
        request_id=rid(),
        wallet_id=wallet_id,
        amount=amount,
        feature="AI job",
        hold=True,
        hold_timeout=duration(timedelta(minutes=30)),
    )


async def test_two_authorize_holds_for_more_than_half_the_balance_are_never_both_allowed(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallets = await asyncio.gather(*(make_wallet(stub) for _ in range(RACES)))
    await asyncio.gather(*(make_grant(stub, w.wallet_id, "10") for w in wallets))

    async def race(wallet_id: str) -> list[pb.AuthorizeResponse]:
        return list(
            await asyncio.gather(
                stub.Authorize(authorize_hold(wallet_id, "6")),
                stub.Authorize(authorize_hold(wallet_id, "6")),
            )
        )

    outcomes: list[list[pb.AuthorizeResponse]] = []
    for start in range(0, RACES, RACES_AT_ONCE):
        chunk = wallets[start : start + RACES_AT_ONCE]
        outcomes += await asyncio.gather(*(race(w.wallet_id) for w in chunk))
    for pair in outcomes:
        # Exactly one is allowed (one always fits); the other is denied as an answer.
        assert sorted(a.allowed for a in pair) == [False, True], pair
        (denied,) = [a for a in pair if not a.allowed]
        assert (denied.reason, denied.available_before, denied.shortfall) == (
            pb.AUTHORIZE_REASON_INSUFFICIENT_CREDITS,
            "4",
            "2",
        )
    for w in wallets:
        b = await balance(stub, w.wallet_id)
        assert (b.available, b.held) == ("4", "6")


async def test_a_debit_never_spends_what_an_allowed_authorize_hold_reserved(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallets = await asyncio.gather(*(make_wallet(stub) for _ in range(RACES)))
    await asyncio.gather(*(make_grant(stub, w.wallet_id, "10") for w in wallets))

    async def race(wallet_id: str) -> tuple[object, object]:
        hold, debit = await asyncio.gather(
            stub.Authorize(authorize_hold(wallet_id, "10")),
            stub.Debit(debit_request(wallet_id, "10")),
            return_exceptions=True,
        )
        return hold, debit

    outcomes: list[tuple[object, object]] = []
    for start in range(0, RACES, RACES_AT_ONCE):
        chunk = wallets[start : start + RACES_AT_ONCE]
        outcomes += await asyncio.gather(*(race(w.wallet_id) for w in chunk))
    held: list[str] = []
    for hold, debit in outcomes:
        assert isinstance(hold, pb.AuthorizeResponse), hold
        debited = isinstance(debit, pb.DebitResponse)
        assert debited or refused_for_credits(debit), debit
        assert hold.allowed != debited, (hold, debit)  # exactly one gets the credits
        if hold.allowed:
            held.append(hold.hold.hold_id)
    assert 0 < len(held) < RACES  # both orders happened: the race was really run
    for hold_id in held:  # a hold that was allowed can be captured in full
        captured = await stub.CaptureHold(
            pb.CaptureHoldRequest(request_id=rid(), hold_id=hold_id, amount="10")
        )
        assert captured.hold.state == pb.HOLD_STATE_CAPTURED
    for w in wallets:
        report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=w.wallet_id))
        assert report.consistent and report.consumed == "10", report


async def test_many_concurrent_authorize_holds_and_debits_never_use_more_than_the_wallet_has(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    calls = [
        stub.Authorize(authorize_hold(wallet, "3"))
        if i % 2
        else stub.Debit(debit_request(wallet, "3"))
        for i in range(80)
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    holds = [r for r in results if isinstance(r, pb.AuthorizeResponse) and r.allowed]
    debits = [r for r in results if isinstance(r, pb.DebitResponse)]
    for r in results:
        assert isinstance(r, pb.AuthorizeResponse | pb.DebitResponse) or refused_for_credits(r)
    # 100 covers 33 uses of 3, whichever kind wins them.
    assert len(holds) + len(debits) == 33
    b = await balance(stub, wallet)
    assert (b.available, b.held) == ("1", str(3 * len(holds)))
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet))
    assert report.consistent, report.differences
