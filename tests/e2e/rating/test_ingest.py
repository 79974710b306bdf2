"""Ingest on real PostgreSQL with the real ledger: statuses, charges, duplicates, idempotency."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import grpc
import pytest
from billing.rating.v1 import rating_pb2 as pb

from billing_common.protoconv import timestamp
from tests.support.errors import reason_of
from tests.support.rating import (
    event,
    ingest,
    make_meter,
    make_price,
    rid,
)
from tests.support.servers import START

T = START + timedelta(hours=1)


async def test_async_batch_is_rated_and_forwarded(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    response = await ingest(
        rating.stub,
        [event(s.customer_id, T, "e1", units="10"), event(s.customer_id, T, "e2", units="4")],
    )
    assert [r.status for r in response.results] == [pb.EVENT_STATUS_ACCEPTED] * 2
    assert [r.charges[0].amount for r in response.results] == ["5", "2"]
    assert response.results[0].charges[0].status == pb.CHARGE_STATUS_PENDING
    await rating.drain()
    assert await rating.ledger.balance(s.wallet_id) == Decimal(-7)
    assert await rating.ledger.amounts() == {
        f"rating:debit:2:e1:{s.meter.key}": Decimal(-5),
        f"rating:debit:2:e2:{s.meter.key}": Decimal(-2),
    }
    descriptions = await rating.ledger.descriptions()
    assert "(event e1)" in descriptions[f"rating:debit:2:e1:{s.meter.key}"]


async def test_duplicates_within_and_across_batches_are_never_charged_twice(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    first = await ingest(
        rating.stub,
        [event(s.customer_id, T, "a", units="1"), event(s.customer_id, T, "a", units="1")],
    )
    assert [r.status for r in first.results] == [
        pb.EVENT_STATUS_ACCEPTED,
        pb.EVENT_STATUS_DUPLICATE,
    ]
    second = await ingest(rating.stub, [event(s.customer_id, T, "a", units="1")])
    assert second.results[0].status == pb.EVENT_STATUS_DUPLICATE
    assert not second.results[0].charges
    await rating.drain()
    assert await rating.ledger.balance(s.wallet_id) == Decimal("-0.5")
    assert max((await rating.ledger.bookings()).values()) == 1


async def test_duplicates_under_concurrency_are_charged_once(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    ids = [f"c{i}" for i in range(30)]
    # Eight producers send overlapping batches of the same 30 ids in different orders at once.
    batches = [
        [event(s.customer_id, T, ids[(j * 7 + k) % 30], units="1") for k in range(20)]
        for j in range(8)
    ]
    responses = await asyncio.gather(*(ingest(rating.stub, b) for b in batches))
    accepted = [
        r.event_id
        for resp in responses
        for r in resp.results
        if r.status == pb.EVENT_STATUS_ACCEPTED
    ]
    assert sorted(accepted) == sorted(set(accepted))
    assert set(accepted) == set(ids)
    await rating.drain()
    assert await rating.ledger.balance(s.wallet_id) == Decimal(-15)
    bookings = await rating.ledger.bookings()
    assert len(bookings) == 30
    assert max(bookings.values()) == 1


async def test_bad_events_are_rejected_alone(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    response = await ingest(
        rating.stub,
        [
            event(s.customer_id, T, "ok", units="2"),
            event("nobody", T, "unknown-customer", units="1"),
            event(s.customer_id, T, "bad-prop", units="-3"),
            event(s.customer_id, T, "missing-prop"),
            event(s.customer_id, T + timedelta(hours=1), "future", units="1"),
            event(s.customer_id, T - timedelta(days=4), "old", units="1"),
        ],
    )
    got = {r.event_id: (r.status, r.error.reason) for r in response.results}
    assert got == {
        "ok": (pb.EVENT_STATUS_ACCEPTED, ""),
        "unknown-customer": (pb.EVENT_STATUS_REJECTED, "CUSTOMER_NOT_FOUND"),
        "bad-prop": (pb.EVENT_STATUS_REJECTED, "INVALID_PROPERTY"),
        "missing-prop": (pb.EVENT_STATUS_REJECTED, "INVALID_PROPERTY"),
        "future": (pb.EVENT_STATUS_REJECTED, "EVENT_IN_FUTURE"),
        "old": (pb.EVENT_STATUS_REJECTED, "EVENT_TOO_OLD"),
    }
    assert response.results[2].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert [v.field for v in response.results[2].error.field_violations] == ["properties[units]"]
    # The rejected ones wrote nothing: the same ids are accepted once fixed.
    again = await ingest(rating.stub, [event(s.customer_id, T, "bad-prop", units="3")])
    assert again.results[0].status == pb.EVENT_STATUS_ACCEPTED


async def test_oversized_batch_is_refused_and_writes_nothing(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    events = [event(s.customer_id, T, f"big{i}", units="1") for i in range(1001)]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ingest(rating.stub, events)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(err.value) == ("BATCH_TOO_LARGE", ["events"])
    ok = await ingest(rating.stub, events[:1000])
    assert {r.status for r in ok.results} == {pb.EVENT_STATUS_ACCEPTED}


async def test_request_id_replay_and_conflict(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    request_id = rid()
    events = [event(s.customer_id, T, "r1", units="2")]
    first = await ingest(rating.stub, events, request_id=request_id)
    replay = await ingest(rating.stub, events, request_id=request_id)
    assert replay == first
    assert replay.results[0].status == pb.EVENT_STATUS_ACCEPTED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ingest(rating.stub, [event(s.customer_id, T, "r2", units="2")], request_id=request_id)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert reason_of(err.value)[0] == "REQUEST_ID_CONFLICT"


async def test_full_batch_counted_by_two_meters_commits_whole(rating) -> None:  # type: ignore[no-untyped-def]
    stub = rating.stub
    calls = await make_meter(stub, pb.AGGREGATION_COUNT, event_type="job")
    seconds = await make_meter(stub, pb.AGGREGATION_SUM, "seconds", event_type="job")
    prices = [
        await make_price(stub, m.meter_id, START, model=pb.PRICING_MODEL_PER_UNIT, unit_price="0.1")
        for m in (calls, seconds)
    ]
    plan = await stub.CreatePlan(
        pb.CreatePlanRequest(
            request_id=rid(),
            cadence=pb.CADENCE_MONTHLY,
            unit="CREDITS",
            prices=[pb.PlanPrice(price_id=p.price_id) for p in prices],
        )
    )
    wallet = await rating.ledger.wallet(customer_id="two-meters")
    await stub.AssignPlan(
        pb.AssignPlanRequest(
            request_id=rid(),
            customer_id="two-meters",
            plan_id=plan.plan.plan_id,
            wallet_id=wallet,
            start_time=timestamp(START),
        )
    )
    rating.clock.set(T)
    events = [event("two-meters", T, f"j{i}", type_="job", seconds="2") for i in range(1000)]
    response = await ingest(stub, events)
    assert {len(r.charges) for r in response.results} == {2}
    await rating.drain()
    # 1,000 calls * 0.1 + 2,000 seconds * 0.1
    assert await rating.ledger.balance(wallet) == Decimal(-300)
    assert len(await rating.ledger.bookings()) == 2000
