"""Ledger behaviour over real gRPC on real PostgreSQL, time driven by the fake clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import grpc
from billing.ledger.v1 import ledger_pb2 as pb

from tests.support.ledger import balance, debit_request, make_grant, make_wallet, rid

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


async def test_concurrent_debits_on_a_deny_wallet_take_exactly_what_is_covered(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "1000")
    # 200 debits of 7: 142 fit in 1000 (994), the remaining 58 must be refused.
    calls = [stub.Debit(debit_request(wallet.wallet_id, "7")) for _ in range(200)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    ok = [r for r in results if isinstance(r, pb.DebitResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(ok) + len(refused) == 200, [
        r for r in results if not isinstance(r, (pb.DebitResponse, grpc.aio.AioRpcError))
    ]
    assert {r.code() for r in refused} == {grpc.StatusCode.FAILED_PRECONDITION}
    assert len(ok) == 142
    # Each booked debit saw a non-negative balance; their sequence of balances is a strict chain.
    afters = sorted((Decimal(r.entry.available_after) for r in ok), reverse=True)
    assert afters == [Decimal(1000 - 7 * (i + 1)) for i in range(142)]
    assert (await balance(stub, wallet.wallet_id)).available == "6"
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
    assert report.consistent, report.differences
    assert report.consumed == "994"


async def test_concurrent_debit_batches_across_wallets_never_deadlock(ledger_server) -> None:
    stub = ledger_server.stub
    wallets = [await make_wallet(stub) for _ in range(5)]
    for w in wallets:
        await make_grant(stub, w.wallet_id, "100")
    # Each batch touches every wallet, in a different order: locks must still be taken in one order.
    batches = []
    for b in range(8):
        order = wallets[b % 5 :] + wallets[: b % 5]
        batches.append(
            pb.DebitBatchRequest(debits=[debit_request(w.wallet_id, "1") for w in order * 2])
        )
    responses = await asyncio.gather(*(stub.DebitBatch(req) for req in batches))
    assert all(r.HasField("entry") for resp in responses for r in resp.results)
    for w in wallets:
        assert (await balance(stub, w.wallet_id)).available == "84"
        assert (await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=w.wallet_id))).consistent


async def test_grants_outside_their_window_are_never_consumed(ledger_server) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    now = clock.now()
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "50", effective=now + DAY)
    await make_grant(stub, wallet.wallet_id, "50", effective=now - DAY, expire=now - HOUR * 2)
    try:
        await stub.Debit(debit_request(wallet.wallet_id, "1"))
        raise AssertionError("debit should have been refused")
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION
    b = await balance(stub, wallet.wallet_id)
    assert (b.available, b.pending_grants) == ("0", "50")


async def test_late_usage_within_grace_burns_the_expired_grant(ledger_server) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    start = clock.now()
    wallet = await make_wallet(stub, grace=HOUR)
    old = await make_grant(stub, wallet.wallet_id, "10", expire=start + DAY)
    new = await make_grant(stub, wallet.wallet_id, "10")
    clock.advance(DAY + timedelta(minutes=20))
    late = await stub.Debit(
        debit_request(wallet.wallet_id, "4", occurred=start + DAY - timedelta(minutes=5))
    )
    assert [a.grant_id for a in late.entry.allocations] == [old.grant.grant_id]
    on_time = await stub.Debit(debit_request(wallet.wallet_id, "3"))
    assert [a.grant_id for a in on_time.entry.allocations] == [new.grant.grant_id]
    b = await balance(stub, wallet.wallet_id)
    assert (b.available, b.pending_expiry) == ("7", "6")
    # The write-off waits for the grace period, then the sweep books it.
    assert (
        list((await stub.RunExpiry(pb.RunExpiryRequest(wallet_id=wallet.wallet_id))).entries) == []
    )
    clock.advance(HOUR)
    swept = (await stub.RunExpiry(pb.RunExpiryRequest(wallet_id=wallet.wallet_id))).entries
    assert [(e.type, e.amount, e.related_id) for e in swept] == [
        (pb.ENTRY_TYPE_EXPIRY, "-6", old.grant.grant_id)
    ]
    after = await balance(stub, wallet.wallet_id)
    assert (after.available, after.pending_expiry) == ("7", "0")
    assert (
        await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
    ).expired == "6"


async def test_a_grace_period_of_zero_is_kept_and_writes_off_at_expiry(ledger_server) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    start = clock.now()
    unset = await make_wallet(stub)
    assert unset.late_event_grace_period.ToTimedelta() == HOUR  # the default
    wallet = await make_wallet(stub, grace=timedelta(0))
    assert wallet.late_event_grace_period.ToTimedelta() == timedelta(0)
    got = (await stub.GetWallet(pb.GetWalletRequest(wallet_id=wallet.wallet_id))).wallet
    assert got.late_event_grace_period.ToTimedelta() == timedelta(0)
    await make_grant(stub, wallet.wallet_id, "10", expire=start + DAY)
    clock.advance(DAY)
    # No grace: late usage finds nothing, and the write-off is due at expire_time itself.
    try:
        await stub.Debit(debit_request(wallet.wallet_id, "1", occurred=start + DAY - HOUR))
        raise AssertionError("without a grace period an expired grant takes no late usage")
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION
    swept = (await stub.RunExpiry(pb.RunExpiryRequest(wallet_id=wallet.wallet_id))).entries
    assert [(e.type, e.amount) for e in swept] == [(pb.ENTRY_TYPE_EXPIRY, "-10")]


async def test_as_of_balances_match_the_journal_at_every_past_instant(ledger_server) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    start = clock.now()
    wallet = await make_wallet(stub, policy=pb.OVERAGE_POLICY_ALLOW_OVERAGE, grace=HOUR)
    snapshots = []

    async def snap() -> None:
        snapshots.append((clock.now(), await balance(stub, wallet.wallet_id)))
        clock.advance(timedelta(minutes=30))

    await make_grant(
        stub, wallet.wallet_id, "100", kind=pb.GRANT_KIND_PROMOTIONAL, expire=start + 3 * HOUR
    )
    await snap()
    debit = (await stub.Debit(debit_request(wallet.wallet_id, "30"))).entry
    await snap()
    await make_grant(stub, wallet.wallet_id, "200")
    await snap()
    await stub.RefundDebit(
        pb.RefundDebitRequest(request_id=rid(), entry_id=debit.entry_id, amount="10")
    )
    await snap()
    await stub.Debit(debit_request(wallet.wallet_id, "500"))  # into overage
    await snap()
    clock.advance(4 * HOUR)  # past the promotional grant's expiry and grace
    await stub.RunExpiry(pb.RunExpiryRequest(wallet_id=wallet.wallet_id))
    await snap()
    await make_grant(stub, wallet.wallet_id, "1000")  # settles the overage
    await snap()

    for when, seen in snapshots:
        again = await balance(stub, wallet.wallet_id, as_of=when)
        fields = (
            "available",
            "overage",
            "net",
            "pending_expiry",
            "prepaid_available",
            "promotional_available",
        )
        assert [getattr(again, f) for f in fields] == [getattr(seen, f) for f in fields], when
        assert [(g.grant_id, g.remaining_amount) for g in again.grants] == [
            (g.grant_id, g.remaining_amount) for g in seen.grants
        ]
    final = snapshots[-1][1]
    # promo 100 - 30 + 10 = 80; the 500 debit takes 80 + 200 and leaves 220 overage; 1000 - 220.
    assert (final.overage, final.available) == ("0", "780")
    assert (await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))).consistent


async def test_overage_is_settled_first_by_the_next_grant(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub, policy=pb.OVERAGE_POLICY_ALLOW_OVERAGE)
    await make_grant(stub, wallet.wallet_id, "5")
    entry = (await stub.Debit(debit_request(wallet.wallet_id, "12"))).entry
    assert [(a.overage, a.amount) for a in entry.allocations] == [(False, "-5"), (True, "-7")]
    b = await balance(stub, wallet.wallet_id)
    assert (b.available, b.overage, b.net) == ("0", "7", "-7")
    created = await make_grant(stub, wallet.wallet_id, "20")
    assert [e.type for e in created.entries] == [
        pb.ENTRY_TYPE_GRANT,
        pb.ENTRY_TYPE_OVERAGE_SETTLEMENT,
    ]
    b = await balance(stub, wallet.wallet_id)
    assert (b.available, b.overage, b.net) == ("13", "0", "13")


async def test_refund_void_and_history_read_like_a_statement(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    g = await make_grant(stub, wallet.wallet_id, "100")
    debit = (
        await stub.Debit(debit_request(wallet.wallet_id, "40", feature="Report Generation"))
    ).entry
    refund = await stub.RefundDebit(
        pb.RefundDebitRequest(request_id=rid(), entry_id=debit.entry_id, amount="15")
    )
    assert [(e.type, e.amount, e.related_id) for e in refund.entries] == [
        (pb.ENTRY_TYPE_REFUND, "15", debit.entry_id)
    ]
    rest = await stub.RefundDebit(pb.RefundDebitRequest(request_id=rid(), entry_id=debit.entry_id))
    assert rest.entries[0].amount == "25"
    voided = await stub.VoidGrant(
        pb.VoidGrantRequest(request_id=rid(), grant_id=g.grant.grant_id, reason="chargeback")
    )
    assert (voided.entry.amount, voided.grant.state) == ("-100", pb.GRANT_STATE_VOIDED)
    history = (await stub.ListEntries(pb.ListEntriesRequest(wallet_id=wallet.wallet_id))).entries
    assert [(e.type, e.amount, e.available_after) for e in history] == [
        (pb.ENTRY_TYPE_VOID, "-100", "0"),
        (pb.ENTRY_TYPE_REFUND, "25", "100"),
        (pb.ENTRY_TYPE_REFUND, "15", "75"),
        (pb.ENTRY_TYPE_DEBIT, "-40", "60"),
        (pb.ENTRY_TYPE_GRANT, "100", "100"),
    ]
    assert history[3].description == "-40 credits for Report Generation on Jan 1"
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
    assert report.consistent and (report.consumed, report.voided) == ("0", "100")
