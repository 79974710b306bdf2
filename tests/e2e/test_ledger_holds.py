"""Holds over real gRPC on real PostgreSQL: reserve, capture less or more, release, time out,
and holds and debits competing for the same credits under concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import asyncpg
import grpc
from billing.ledger.v1 import ledger_pb2 as pb

from billing_common.protoconv import duration
from tests.support.ledger import balance, debit_request, make_grant, make_wallet, rid


def hold_request(wallet_id: str, amount: str, minutes: int = 30) -> pb.CreateHoldRequest:
    return pb.CreateHoldRequest(
        request_id=rid(),
        wallet_id=wallet_id,
        amount=amount,
        feature="AI job",
        timeout=duration(timedelta(minutes=minutes)),
    )


async def test_hold_capture_less_release_and_history(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    created = await stub.CreateHold(hold_request(wallet.wallet_id, "60"))
    assert (created.hold.state, created.entry.type, created.entry.amount) == (
        pb.HOLD_STATE_ACTIVE,
        pb.ENTRY_TYPE_HOLD,
        "0",
    )
    b = await balance(stub, wallet.wallet_id)
    assert (b.available, b.held) == ("40", "60")
    captured = await stub.CaptureHold(
        pb.CaptureHoldRequest(request_id=rid(), hold_id=created.hold.hold_id, amount="45")
    )
    assert (captured.hold.state, captured.entry.type, captured.entry.amount) == (
        pb.HOLD_STATE_CAPTURED,
        pb.ENTRY_TYPE_CAPTURE,
        "-45",
    )
    b = await balance(stub, wallet.wallet_id)
    assert (b.available, b.held) == ("55", "0")
    second = await stub.CreateHold(hold_request(wallet.wallet_id, "50"))
    released = await stub.ReleaseHold(
        pb.ReleaseHoldRequest(request_id=rid(), hold_id=second.hold.hold_id)
    )
    assert released.hold.state == pb.HOLD_STATE_RELEASED
    assert (await balance(stub, wallet.wallet_id)).available == "55"
    try:
        await stub.CaptureHold(
            pb.CaptureHoldRequest(request_id=rid(), hold_id=second.hold.hold_id, amount="1")
        )
        raise AssertionError("capturing a released hold must fail")
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION
    # A capture is usage: it can be refunded like a debit.
    refund = await stub.RefundDebit(
        pb.RefundDebitRequest(request_id=rid(), entry_id=captured.entry.entry_id)
    )
    assert refund.entries[0].amount == "45"
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
    assert report.consistent and report.consumed == "0"


async def test_capture_more_only_with_overage(ledger_server) -> None:
    stub = ledger_server.stub
    deny = await make_wallet(stub)
    await make_grant(stub, deny.wallet_id, "100")
    hold = (await stub.CreateHold(hold_request(deny.wallet_id, "10"))).hold
    try:
        await stub.CaptureHold(
            pb.CaptureHoldRequest(request_id=rid(), hold_id=hold.hold_id, amount="11")
        )
        raise AssertionError("DENY wallets cannot capture more than held")
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "CAPTURE_EXCEEDS_HOLD" in str(exc.trailing_metadata())
    allow = await make_wallet(stub, policy=pb.OVERAGE_POLICY_ALLOW_OVERAGE)
    await make_grant(stub, allow.wallet_id, "10")
    hold = (await stub.CreateHold(hold_request(allow.wallet_id, "8"))).hold
    entry = (
        await stub.CaptureHold(
            pb.CaptureHoldRequest(request_id=rid(), hold_id=hold.hold_id, amount="13")
        )
    ).entry
    assert [(a.overage, a.amount) for a in entry.allocations] == [(False, "-10"), (True, "-3")]
    assert (await balance(stub, allow.wallet_id)).overage == "3"


async def test_uncaptured_hold_is_released_at_its_timeout(ledger_server) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    hold = (await stub.CreateHold(hold_request(wallet.wallet_id, "70", minutes=10))).hold
    clock.advance(timedelta(minutes=10))
    # Exact at read time, before any sweep.
    assert (await balance(stub, wallet.wallet_id)).available == "100"
    got = (await stub.GetHold(pb.GetHoldRequest(hold_id=hold.hold_id))).hold
    assert got.state == pb.HOLD_STATE_EXPIRED
    swept = (await stub.RunExpiry(pb.RunExpiryRequest(wallet_id=wallet.wallet_id))).entries
    assert [e.type for e in swept] == [pb.ENTRY_TYPE_RELEASE]
    assert (
        await stub.GetHold(pb.GetHoldRequest(hold_id=hold.hold_id))
    ).hold.state == pb.HOLD_STATE_EXPIRED
    assert (
        await balance(stub, wallet.wallet_id, as_of=clock.now() - timedelta(minutes=5))
    ).held == "70"


async def test_concurrent_holds_and_debits_never_over_reserve(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "1000")
    holds = [stub.CreateHold(hold_request(wallet.wallet_id, "30")) for _ in range(40)]
    debits = [stub.Debit(debit_request(wallet.wallet_id, "20")) for _ in range(40)]
    results = await asyncio.gather(*holds, *debits, return_exceptions=True)
    held = sum(Decimal(r.hold.amount) for r in results if isinstance(r, pb.CreateHoldResponse))
    spent = sum(-Decimal(r.entry.amount) for r in results if isinstance(r, pb.DebitResponse))
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert {r.code() for r in refused} <= {grpc.StatusCode.FAILED_PRECONDITION}
    assert held + spent <= 1000
    assert held + spent > 1000 - 30  # whatever was refused no longer fitted
    b = await balance(stub, wallet.wallet_id)
    assert Decimal(b.held) == held
    assert Decimal(b.available) == 1000 - held - spent
    assert (await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))).consistent


async def test_verify_reports_an_active_hold_its_grants_no_longer_cover(
    ledger_server, ledger_db
) -> None:
    """The end state of a hold/debit double spend: the journal balances, but a debit took the
    credits an active hold reserves. VerifyWallet must say so."""
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    granted = (await make_grant(stub, wallet.wallet_id, "10")).grant
    hold = (await stub.CreateHold(hold_request(wallet.wallet_id, "10"))).hold
    assert (await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))).consistent
    # A debit of the 10 held credits, booked as the service books debits (entry, allocation,
    # grant remainder): every journal sum still agrees.
    conn = await asyncpg.connect(ledger_db)
    try:
        async with conn.transaction():
            await conn.execute(
                """
                INSERT INTO entries (id, wallet_id, type, amount, occurred_time, book_time,
                                     available_after, overage_after)
                VALUES ('spent-twice', $1, 'DEBIT', -10, now(), now(), 0, 0)
                """,
                wallet.wallet_id,
            )
            await conn.execute(
                "INSERT INTO allocations (entry_id, position, grant_id, amount)"
                " VALUES ('spent-twice', 0, $1, -10)",
                granted.grant_id,
            )
            await conn.execute("UPDATE grants SET remaining = 0 WHERE id = $1", granted.grant_id)
    finally:
        await conn.close()
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
    assert not report.consistent
    assert [(d.subject, d.stored, d.recomputed) for d in report.differences] == [
        (f"grant {granted.grant_id} reserved by active holds", "10", "0")
    ]
    # Released, the hold reserves nothing: consistent again.
    await stub.ReleaseHold(pb.ReleaseHoldRequest(request_id=rid(), hold_id=hold.hold_id))
    assert (await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))).consistent


async def test_verify_reports_an_entry_whose_allocations_do_not_add_up(
    ledger_server, ledger_db
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    other = await make_wallet(stub)  # its journal is not this wallet's business
    await make_grant(stub, other.wallet_id, "5")
    await make_grant(stub, wallet.wallet_id, "10")
    entry = (await stub.Debit(debit_request(wallet.wallet_id, "4"))).entry
    conn = await asyncpg.connect(ledger_db)
    try:
        await conn.execute("UPDATE entries SET amount = -3 WHERE id = $1", entry.entry_id)
    finally:
        await conn.close()
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
    assert (f"entry {entry.entry_id} amount vs allocations", "-3", "-4") in [
        (d.subject, d.stored, d.recomputed) for d in report.differences
    ]
    assert (await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=other.wallet_id))).consistent
