"""Recurring allotments and block top-up pricing over real gRPC on real PostgreSQL, time driven by
the fake clock: the monthly plan of the prepaid-credits write-up, and block top-ups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from billing.ledger.v1 import ledger_pb2 as pb

from billing_common.protoconv import duration, timestamp
from tests.support.ledger import balance, debit_request, make_grant, make_wallet, rid

HOUR = timedelta(hours=1)


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


async def sweep(stub, wallet_id: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    entries = (await stub.RunExpiry(pb.RunExpiryRequest(wallet_id=wallet_id))).entries
    return [(pb.EntryType.Name(e.type).removeprefix("ENTRY_TYPE_"), e.amount) for e in entries]


async def test_monthly_allotment_plus_bulk_purchase_across_three_months(ledger_server) -> None:
    """10,000 credits each month, expiring at month end (the fixed monthly charge), and a bulk
    purchase of 20,000 expiring a year after it was bought; usage over three months."""
    stub, clock = ledger_server.stub, ledger_server.clock
    assert clock.now() == at(1, 1)
    wallet = await make_wallet(stub, grace=HOUR)
    w = wallet.wallet_id
    created = await stub.CreateAllotmentSchedule(
        pb.CreateAllotmentScheduleRequest(
            request_id=rid(),
            schedule=pb.AllotmentSchedule(
                wallet_id=w,
                amount="10000",
                kind=pb.GRANT_KIND_PREPAID,
                cadence=pb.ALLOTMENT_CADENCE_MONTHLY,
                anchor_time=timestamp(at(1, 1)),
                expiry=pb.ALLOTMENT_EXPIRY_END_OF_PERIOD,
                unit_price="0.01",
                currency="USD",
            ),
        )
    )
    assert created.schedule.periods_granted == 1
    clock.set(at(1, 10))
    await stub.Debit(debit_request(w, "4000"))  # January's allotment: 6,000 left
    clock.set(at(1, 20))
    await make_grant(stub, w, "20000", expire=at(1, 20) + timedelta(days=365))  # bulk purchase
    clock.set(at(1, 25))
    await stub.Debit(debit_request(w, "8000"))  # 6,000 from January's allotment, 2,000 bulk
    assert (await balance(stub, w)).available == "18000"

    # February 1: January's allotment is used up (nothing expires); February's is granted.
    clock.set(at(2, 1, 2))
    assert await sweep(stub, w) == [("GRANT", "10000")]
    assert (await balance(stub, w)).available == "28000"
    clock.set(at(2, 15))
    await stub.Debit(debit_request(w, "3000"))  # February's allotment: 7,000 left

    # March 1: February's 7,000 expire (breakage) after the grace hour; March's is granted.
    clock.set(at(3, 1, 0) + timedelta(minutes=30))
    b = await balance(stub, w)  # within the grace: not usable, pending write-off; March counted
    assert (b.available, b.pending_expiry) == ("28000", "7000")
    clock.set(at(3, 1, 2))
    assert sorted(await sweep(stub, w)) == [("EXPIRY", "-7000"), ("GRANT", "10000")]
    clock.set(at(3, 20))
    await stub.Debit(debit_request(w, "12000"))  # March's 10,000, then 2,000 bulk

    # April 1: March's allotment is used up; April's is granted; the bulk purchase keeps 16,000.
    clock.set(at(4, 1, 2))
    assert await sweep(stub, w) == [("GRANT", "10000")]
    final = await balance(stub, w)
    assert (final.available, final.pending_expiry) == ("26000", "0")
    # The balance at each boundary, as recorded then.
    assert (await balance(stub, w, as_of=at(2, 1, 3))).available == "28000"
    assert (await balance(stub, w, as_of=at(3, 1, 3))).available == "28000"
    expiries = (
        await stub.ListEntries(pb.ListEntriesRequest(wallet_id=w, types=[pb.ENTRY_TYPE_EXPIRY]))
    ).entries
    assert [(e.amount, e.occurred_time.ToDatetime(tzinfo=UTC)) for e in expiries] == [
        ("-7000", at(3, 1))
    ]
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=w))
    assert report.consistent
    assert (report.granted, report.consumed, report.expired) == ("60000", "27000", "7000")
    schedules = (
        await stub.ListAllotmentSchedules(pb.ListAllotmentSchedulesRequest(wallet_id=w))
    ).schedules
    assert [s.periods_granted for s in schedules] == [4]


async def test_catch_up_grants_each_missed_period_exactly_once(ledger_server) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = await make_wallet(stub)
    await stub.CreateAllotmentSchedule(
        pb.CreateAllotmentScheduleRequest(
            request_id=rid(),
            schedule=pb.AllotmentSchedule(
                wallet_id=wallet.wallet_id,
                amount="100",
                kind=pb.GRANT_KIND_PROMOTIONAL,
                cadence=pb.ALLOTMENT_CADENCE_WEEKLY,
                anchor_time=timestamp(at(1, 1)),
                expiry=pb.ALLOTMENT_EXPIRY_NEVER,
            ),
        )
    )
    clock.set(at(1, 29, 12))  # the service was "down" for four weekly boundaries
    assert (await balance(stub, wallet.wallet_id)).available == "500"  # read: exact already
    first, second = await sweep(stub, wallet.wallet_id), await sweep(stub, wallet.wallet_id)
    assert first == [("GRANT", "100")] * 4 and second == []
    assert (await balance(stub, wallet.wallet_id)).available == "500"


async def test_block_top_up_pricing_carries_blocks_over_and_resets_at_subscription_end(
    ledger_server,
) -> None:
    """Included 1,000 units a month that reset, plus blocks of 500 at $450 bought automatically
    when the included units run out; unused block units carry over; all resets at the end."""
    stub, clock = ledger_server.stub, ledger_server.clock
    end = at(3, 1)  # a two-month subscription
    wallet = await make_wallet(stub)
    w = wallet.wallet_id
    await stub.CreateAllotmentSchedule(
        pb.CreateAllotmentScheduleRequest(
            request_id=rid(),
            schedule=pb.AllotmentSchedule(
                wallet_id=w,
                amount="1000",
                kind=pb.GRANT_KIND_PREPAID,
                priority=0,
                cadence=pb.ALLOTMENT_CADENCE_MONTHLY,
                anchor_time=timestamp(at(1, 1)),
                expiry=pb.ALLOTMENT_EXPIRY_END_OF_PERIOD,
                end_time=timestamp(end),
            ),
        )
    )
    await stub.SetTopUpRule(
        pb.SetTopUpRuleRequest(
            request_id=rid(),
            rule=pb.TopUpRule(
                wallet_id=w,
                threshold="0",
                amount="500",
                kind=pb.GRANT_KIND_PREPAID,
                priority=1,
                unit_price="0.9",
                currency="USD",
                payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
                expire_time=timestamp(end),
            ),
        )
    )
    clock.set(at(1, 20))
    await stub.Debit(debit_request(w, "1300"))  # 1,000 included + 300 of a first block
    assert (await balance(stub, w)).available == "200"
    clock.set(at(2, 10))  # January's included units reset; the block's 200 carry over
    assert (await balance(stub, w)).available == "1200"
    await stub.Debit(debit_request(w, "1500"))  # 1,000 included, 200 carried, 300 of a new block
    assert (await balance(stub, w)).available == "200"
    blocks = (await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=w))).top_ups
    assert [(t.amount, t.unit_price, t.state) for t in blocks] == [
        ("500", "0.9", pb.TOP_UP_STATE_COMPLETED)
    ] * 2

    clock.set(end + timedelta(hours=2))  # the subscription ends: everything resets
    await sweep(stub, w)
    b = await balance(stub, w)
    assert (b.available, b.pending_expiry) == ("0", "0")
    try:
        await stub.Debit(debit_request(w, "1"))  # no new period, no more blocks
        raise AssertionError("after the subscription ends nothing is bought")
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=w))
    assert report.consistent
    assert (report.granted, report.consumed, report.expired) == ("3000", "2800", "200")


async def test_ending_a_schedule_voids_what_it_left(ledger_server) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = await make_wallet(stub)
    made = await stub.CreateAllotmentSchedule(
        pb.CreateAllotmentScheduleRequest(
            request_id=rid(),
            schedule=pb.AllotmentSchedule(
                wallet_id=wallet.wallet_id,
                amount="100",
                kind=pb.GRANT_KIND_PROMOTIONAL,
                cadence=pb.ALLOTMENT_CADENCE_MONTHLY,
                anchor_time=timestamp(at(1, 1)),
                expiry=pb.ALLOTMENT_EXPIRY_AFTER_DURATION,
                expire_after=duration(timedelta(days=365)),
            ),
        )
    )
    clock.set(at(2, 5))
    await stub.Debit(debit_request(wallet.wallet_id, "30"))  # January's grant: 70 left; Feb: 100
    await stub.EndAllotmentSchedule(
        pb.EndAllotmentScheduleRequest(
            request_id=rid(),
            schedule_id=made.schedule.schedule_id,
        )
    )
    assert (await balance(stub, wallet.wallet_id)).available == "0"
    voids = (
        await stub.ListEntries(
            pb.ListEntriesRequest(wallet_id=wallet.wallet_id, types=[pb.ENTRY_TYPE_VOID])
        )
    ).entries
    assert sorted(e.amount for e in voids) == ["-100", "-70"]
    clock.set(at(5, 1))
    assert await sweep(stub, wallet.wallet_id) == []  # no period after the end


async def _subscription_with_blocks(stub, wallet_id: str) -> str:  # type: ignore[no-untyped-def]
    """100 included units a month (no end known yet) and blocks of 500 bought under it."""
    made = await stub.CreateAllotmentSchedule(
        pb.CreateAllotmentScheduleRequest(
            request_id=rid(),
            schedule=pb.AllotmentSchedule(
                wallet_id=wallet_id,
                amount="100",
                kind=pb.GRANT_KIND_PREPAID,
                priority=0,
                cadence=pb.ALLOTMENT_CADENCE_MONTHLY,
                anchor_time=timestamp(at(1, 1)),
                expiry=pb.ALLOTMENT_EXPIRY_END_OF_PERIOD,
            ),
        )
    )
    schedule_id: str = made.schedule.schedule_id
    rule = pb.TopUpRule(
        wallet_id=wallet_id,
        threshold="0",
        amount="500",
        kind=pb.GRANT_KIND_PREPAID,
        priority=1,
        unit_price="0.9",
        currency="USD",
        payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
    )
    rule.schedule_id = schedule_id  # the blocks belong to this subscription
    stored = await stub.SetTopUpRule(pb.SetTopUpRuleRequest(request_id=rid(), rule=rule))
    assert stored.rule.schedule_id == schedule_id
    return schedule_id


async def test_ending_a_subscription_voids_the_blocks_bought_under_it(ledger_server) -> None:
    """Seed 004: "The unused top-up balance will reset at the end of the subscription schedule"."""
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = await make_wallet(stub)
    w = wallet.wallet_id
    schedule_id = await _subscription_with_blocks(stub, w)
    clock.set(at(1, 20))
    await stub.Debit(debit_request(w, "300"))  # 100 included + 200 of a block of 500
    assert (await balance(stub, w)).available == "300"

    await stub.EndAllotmentSchedule(
        pb.EndAllotmentScheduleRequest(request_id=rid(), schedule_id=schedule_id)
    )
    assert (await balance(stub, w)).available == "0"
    voids = (
        await stub.ListEntries(pb.ListEntriesRequest(wallet_id=w, types=[pb.ENTRY_TYPE_VOID]))
    ).entries
    assert [e.amount for e in voids] == ["-300"]  # the block's remainder
    try:  # no block is bought after the end
        await stub.Debit(debit_request(w, "1"))
        raise AssertionError("after the subscription ends its blocks are gone")
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert len((await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=w))).top_ups) == 1
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=w))
    assert report.consistent
    assert (report.granted, report.consumed, report.voided, report.remaining) == (
        "600",
        "300",
        "300",
        "0",
    )


async def test_blocks_bought_under_a_subscription_with_a_known_end_expire_at_it(
    ledger_server,
) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = await make_wallet(stub)
    w = wallet.wallet_id
    schedule_id = await _subscription_with_blocks(stub, w)
    end = at(3, 1)
    await stub.EndAllotmentSchedule(
        pb.EndAllotmentScheduleRequest(
            request_id=rid(), schedule_id=schedule_id, end_time=timestamp(end)
        )
    )
    clock.set(at(1, 20))
    await stub.Debit(debit_request(w, "300"))
    (block,) = (await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=w))).top_ups
    grant = (await stub.GetGrant(pb.GetGrantRequest(grant_id=block.grant_id))).grant
    assert grant.expire_time.ToDatetime(tzinfo=UTC) == end


async def test_a_top_up_rule_cannot_name_another_wallets_subscription(ledger_server) -> None:
    stub = ledger_server.stub
    mine, theirs = await make_wallet(stub), await make_wallet(stub)
    schedule_id = await _subscription_with_blocks(stub, theirs.wallet_id)
    rule = pb.TopUpRule(
        wallet_id=mine.wallet_id,
        threshold="0",
        amount="500",
        kind=pb.GRANT_KIND_PREPAID,
        payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
    )
    rule.schedule_id = schedule_id
    try:
        await stub.SetTopUpRule(pb.SetTopUpRuleRequest(request_id=rid(), rule=rule))
        raise AssertionError("a wallet's blocks cannot belong to another wallet's subscription")
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.NOT_FOUND


async def _schedule(stub, wallet_id: str, **fields: object) -> None:  # type: ignore[no-untyped-def]
    """100 credits a period from January 1st, never expiring, and `fields`."""
    schedule = {
        "amount": "100",
        "anchor_time": timestamp(at(1, 1)),
        "expiry": pb.ALLOTMENT_EXPIRY_NEVER,
        **fields,
    }
    await stub.CreateAllotmentSchedule(
        pb.CreateAllotmentScheduleRequest(
            request_id=rid(), schedule=pb.AllotmentSchedule(wallet_id=wallet_id, **schedule)
        )
    )


async def _capped_schedule(stub, wallet_id: str) -> None:  # type: ignore[no-untyped-def]
    """100 credits a month, never expiring, with nothing carried beyond a cap of 0: each new
    period writes off what the earlier grants still hold."""
    await _schedule(
        stub,
        wallet_id,
        kind=pb.GRANT_KIND_PREPAID,
        cadence=pb.ALLOTMENT_CADENCE_MONTHLY,
        rollover_cap="0",
    )


async def test_a_refund_that_first_catches_up_a_period_keeps_the_rollover_write_off(
    ledger_server,
) -> None:
    """The first write of a new period books its write-off of what rolls over beyond the cap; a
    refund that is that first write keeps it (it once restored the grant as loaded before the
    catch-up, so the journal and the grant disagreed). Found by the simulator."""
    stub, clock = ledger_server.stub, ledger_server.clock
    w = (await make_wallet(stub)).wallet_id
    await _capped_schedule(stub, w)
    debit = (await stub.Debit(debit_request(w, "10"))).entry
    clock.set(at(2, 1, 1))
    await stub.RefundDebit(pb.RefundDebitRequest(request_id=rid(), entry_id=debit.entry_id))
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=w))
    assert report.consistent, report.differences
    # January's 90 were written off at the boundary; the refunded 10 go back to January's grant,
    # which is not past any write-off point, so they stay: February's 100 plus 10.
    assert (await balance(stub, w)).available == "110"


async def test_voiding_a_grant_the_rollover_cap_just_wrote_off_removes_nothing_twice(
    ledger_server,
) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    w = (await make_wallet(stub)).wallet_id
    await _capped_schedule(stub, w)
    (january,) = (await stub.ListGrants(pb.ListGrantsRequest(wallet_id=w))).grants
    clock.set(at(2, 1, 1))
    try:
        await stub.VoidGrant(pb.VoidGrantRequest(request_id=rid(), grant_id=january.grant_id))
    except grpc.aio.AioRpcError as exc:  # written off by the catch-up: nothing left to void
        assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc
        assert "GRANT_ALREADY_ENDED" in str(exc.trailing_metadata())
    else:
        raise AssertionError("a grant the rollover cap wrote off was voided again")
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=w))
    assert report.consistent, report.differences


async def test_a_write_that_books_a_due_period_returns_its_own_entry(ledger_server) -> None:
    """A hold, a void or a grant that is the first write after a period boundary also books that
    period's grant; its response still carries its own entry (HOLD, VOID, GRANT of its grant),
    not the period grant's."""
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = await make_wallet(stub)
    w = wallet.wallet_id
    await _schedule(stub, w, kind=pb.GRANT_KIND_PROMOTIONAL, cadence=pb.ALLOTMENT_CADENCE_WEEKLY)
    extra = await make_grant(stub, w, "5")
    clock.set(at(1, 8, 1))  # the second week's grant is due, not booked
    hold = await stub.CreateHold(pb.CreateHoldRequest(request_id=rid(), wallet_id=w, amount="3"))
    assert pb.EntryType.Name(hold.entry.type) == "ENTRY_TYPE_HOLD"
    assert hold.entry.related_id == hold.hold.hold_id
    clock.set(at(1, 15, 1))
    void = await stub.VoidGrant(
        pb.VoidGrantRequest(request_id=rid(), grant_id=extra.grant.grant_id)
    )
    assert pb.EntryType.Name(void.entry.type) == "ENTRY_TYPE_VOID"
    assert void.entry.related_id == extra.grant.grant_id
    clock.set(at(1, 22, 1))
    granted = await stub.CreateGrant(
        pb.CreateGrantRequest(request_id=rid(), wallet_id=w, amount="7", kind=pb.GRANT_KIND_PREPAID)
    )
    assert [(pb.EntryType.Name(e.type), e.amount) for e in granted.entries] == [
        ("ENTRY_TYPE_GRANT", "7")
    ]
    # The period grants were booked all the same (the hold timed out an hour after it was made).
    assert (await balance(stub, w)).available == str(100 * 4 + 7)
