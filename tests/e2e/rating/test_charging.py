"""Synchronous mode, refunds, price versions and ledger outages, against the real ledger."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from billing.rating.v1 import rating_pb2 as pb
from billing.type.v1 import types_pb2

from billing_common.protoconv import timestamp
from tests.support.rating import event, ingest, make_price, rid
from tests.support.servers import START

T = START + timedelta(hours=1)


async def usage_total(rating, s) -> str:  # type: ignore[no-untyped-def]
    response = await rating.stub.GetUsage(
        pb.GetUsageRequest(customer_id=s.customer_id, meter_id=s.meter.meter_id)
    )
    return response.total


async def test_sync_mode_charges_and_a_deny_leaves_the_aggregate_unchanged(rating) -> None:  # type: ignore[no-untyped-def]
    wallet = await rating.ledger.wallet(deny=True, credits="3")
    s = await rating.setup_customer(start=START, wallet_id=wallet)
    rating.clock.set(T)
    response = await ingest(
        rating.stub,
        [
            event(s.customer_id, T, "s1", units="4"),  # 2 credits: covered
            event(s.customer_id, T, "s2", units="4"),  # 2 more: only 1 left, denied
            event(s.customer_id, T, "s3", units="2"),  # 1 credit: covered
        ],
        sync=True,
    )
    statuses = [r.status for r in response.results]
    assert statuses == [pb.EVENT_STATUS_CHARGED, pb.EVENT_STATUS_DENIED, pb.EVENT_STATUS_CHARGED]
    assert response.results[0].available_after == "1"
    assert response.results[0].charges[0].status == pb.CHARGE_STATUS_ACKNOWLEDGED
    assert response.results[1].error.reason == "INSUFFICIENT_CREDITS"
    assert response.results[1].error.code == 9
    # s3 was rated against the aggregate without s2: quantity 4 -> 6.
    assert response.results[2].charges[0].quantity_before == "4"
    assert await usage_total(rating, s) == "6"
    assert await rating.ledger.balance(s.wallet_id) == Decimal(0)
    # The forwarder has nothing left to do. A denied event's id stays taken (DENIED again, in
    # either mode); after a top-up the usage is sent again under a new event id.
    await rating.drain()
    await rating.ledger.grant(s.wallet_id, "10")  # top-up: 0 -> 10
    again = await ingest(rating.stub, [event(s.customer_id, T, "s2", units="4")], sync=True)
    assert again.results[0].status == pb.EVENT_STATUS_DENIED
    assert again.results[0].error.reason == "INSUFFICIENT_CREDITS"
    resent = await ingest(rating.stub, [event(s.customer_id, T, "s2", units="4")])
    assert resent.results[0].status == pb.EVENT_STATUS_DENIED
    fresh = await ingest(rating.stub, [event(s.customer_id, T, "s2-retry", units="4")], sync=True)
    assert fresh.results[0].status == pb.EVENT_STATUS_CHARGED
    assert await rating.ledger.balance(s.wallet_id) == Decimal(8)
    assert await usage_total(rating, s) == "10"


async def test_latest_drop_becomes_a_refund(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START, aggregation=pb.AGGREGATION_LATEST, prop="seats")
    rating.clock.set(T)
    await ingest(rating.stub, [event(s.customer_id, T, "l1", seats="10")])
    await ingest(rating.stub, [event(s.customer_id, T + timedelta(minutes=1), "l2", seats="12")])
    down = await ingest(
        rating.stub, [event(s.customer_id, T + timedelta(minutes=2), "l3", seats="3")]
    )
    assert down.results[0].charges[0].amount == "-4.5"
    await rating.drain()
    assert await rating.ledger.balance(s.wallet_id) == Decimal("-1.5")
    # Refunds return the newest debits first: all of l2's 1 credit, then 3.5 of l1's 5.
    refunds = {k: v for k, v in (await rating.ledger.amounts()).items() if ":refund:" in k}
    assert refunds == {
        f"rating:refund:2:l3:{s.meter.key}:l2": Decimal(1),
        f"rating:refund:2:l3:{s.meter.key}:l1": Decimal("3.5"),
    }


async def test_unique_count_and_max_charge_only_on_increase(rating) -> None:  # type: ignore[no-untyped-def]
    u = await rating.setup_customer(
        start=START, aggregation=pb.AGGREGATION_UNIQUE_COUNT, prop="user"
    )
    rating.clock.set(T)
    response = await ingest(
        rating.stub,
        [
            event(u.customer_id, T, f"u{i}", user=name)
            for i, name in enumerate(["ann", "bob", "ann"])
        ],
    )
    assert [r.charges[0].amount for r in response.results] == ["0.5", "0.5", "0"]
    assert response.results[2].charges[0].status == pb.CHARGE_STATUS_ACKNOWLEDGED
    rating.clock.set(START)
    m = await rating.setup_customer(start=START, aggregation=pb.AGGREGATION_MAX, prop="gb")
    rating.clock.set(T)
    response = await ingest(
        rating.stub,
        [event(m.customer_id, T, f"m{i}", gb=v) for i, v in enumerate(["4", "2", "6", "6"])],
    )
    assert [r.charges[0].amount for r in response.results] == ["2", "0", "1", "0"]
    await rating.drain()
    assert await rating.ledger.balance(m.wallet_id) == Decimal(-3)


async def test_price_change_splits_events_by_occurred_time(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    change = START + timedelta(hours=2)
    v2 = await make_price(
        rating.stub,
        "",
        change,
        price_id=s.price.price_id,
        model=pb.PRICING_MODEL_PER_UNIT,
        unit_price="2",
    )
    assert v2.version == 2
    rating.clock.set(change + timedelta(hours=1))
    response = await ingest(
        rating.stub,
        [
            event(s.customer_id, change - timedelta(seconds=1), "before", units="1"),
            event(s.customer_id, change, "at", units="1"),
            event(s.customer_id, change + timedelta(minutes=5), "after", units="1"),
        ],
    )
    got = [(r.charges[0].price_version, r.charges[0].amount) for r in response.results]
    assert got == [(1, "0.5"), (2, "2"), (2, "2")]
    versions = await rating.stub.ListPrices(pb.ListPricesRequest(price_id=s.price.price_id))
    assert [(p.version, p.unit_price) for p in versions.prices] == [(1, "0.5"), (2, "2")]


async def test_ledger_outage_loses_nothing_and_charges_once(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    rating.ledger.pause()
    await ingest(rating.stub, [event(s.customer_id, T, f"o{i}", units="2") for i in range(5)])
    await rating.drain()  # every attempt fails; charges back off
    assert await rating.ledger.bookings() == {}
    # Synchronous mode during the outage: accepted (durable), charged later.
    sync = await ingest(rating.stub, [event(s.customer_id, T, "o-sync", units="2")], sync=True)
    assert sync.results[0].status == pb.EVENT_STATUS_ACCEPTED
    assert sync.results[0].charges[0].status == pb.CHARGE_STATUS_PENDING
    await rating.ledger.resume()
    rating.clock.advance(timedelta(minutes=5))  # past every backoff and the sync hold
    await rating.drain()
    assert await rating.ledger.balance(s.wallet_id) == Decimal(-6)
    bookings = await rating.ledger.bookings()
    assert len(bookings) == 6
    assert max(bookings.values()) == 1


async def test_stream_events_answers_each_batch(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)

    async def batches():  # type: ignore[no-untyped-def]
        yield pb.StreamEventsRequest(
            request_id=rid(), events=[event(s.customer_id, T, "st1", units="1")]
        )
        yield pb.StreamEventsRequest(request_id=rid(), events=[])
        yield pb.StreamEventsRequest(
            request_id=rid(), events=[event(s.customer_id, T, "st1", units="1")]
        )

    answers = [a async for a in rating.stub.StreamEvents(batches())]
    assert [a.results[0].status for a in answers if a.results] == [
        pb.EVENT_STATUS_ACCEPTED,
        pb.EVENT_STATUS_DUPLICATE,
    ]
    assert answers[1].error.reason == "MISSING_FIELD"


async def test_preview_writes_nothing(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    preview = await rating.stub.PreviewCharge(
        pb.PreviewChargeRequest(event=event(s.customer_id, T, "p1", units="8"))
    )
    assert preview.result.status == pb.EVENT_STATUS_ACCEPTED
    assert preview.result.charges[0].amount == "4"
    real = await ingest(rating.stub, [event(s.customer_id, T, "p1", units="8")])
    assert real.results[0].status == pb.EVENT_STATUS_ACCEPTED
    assert real.results[0].charges[0].quantity_before == "0"
    again = await rating.stub.PreviewCharge(
        pb.PreviewChargeRequest(event=event(s.customer_id, T, "p1", units="8"))
    )
    assert again.result.status == pb.EVENT_STATUS_DUPLICATE
    bad = await rating.stub.PreviewCharge(
        pb.PreviewChargeRequest(event=event(s.customer_id, T, "p2", units="x"))
    )
    assert (bad.result.status, bad.result.error.reason) == (
        pb.EVENT_STATUS_REJECTED,
        "INVALID_PROPERTY",
    )


async def test_usage_series_grouped_by_property(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(START + timedelta(hours=5))
    await ingest(
        rating.stub,
        [
            event(
                s.customer_id, START + timedelta(hours=1, minutes=10), "g1", units="1", region="eu"
            ),
            event(
                s.customer_id, START + timedelta(hours=1, minutes=20), "g2", units="2", region="us"
            ),
            event(s.customer_id, START + timedelta(hours=3), "g3", units="4", region="eu"),
        ],
    )
    response = await rating.stub.GetUsage(
        pb.GetUsageRequest(
            customer_id=s.customer_id,
            meter_id=s.meter.meter_id,
            granularity=pb.GRANULARITY_HOUR,
            group_by_property="region",
        )
    )
    assert response.total == "7"
    got = [(p.start_time.ToDatetime().hour, p.group, p.quantity) for p in response.series]
    assert got == [(1, "eu", "1"), (1, "us", "2"), (3, "eu", "4")]
    assert response.start_time == timestamp(START)
    ranged = await rating.stub.GetUsage(
        pb.GetUsageRequest(
            customer_id=s.customer_id,
            meter_id=s.meter.meter_id,
            time_range=types_pb2.TimeRange(
                start_time=timestamp(START + timedelta(hours=1)),
                end_time=timestamp(START + timedelta(hours=2)),
            ),
            granularity=pb.GRANULARITY_DAY,
        )
    )
    assert ranged.total == "3"
    assert [(p.group, p.quantity) for p in ranged.series] == [("", "3")]


async def test_stream_survives_a_bad_batch(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)

    async def batches():  # type: ignore[no-untyped-def]
        yield pb.StreamEventsRequest(
            request_id=rid(), events=[event(s.customer_id, T, "nul", units="1", note="a\x00b")]
        )
        yield pb.StreamEventsRequest(
            request_id=rid(), events=[event(s.customer_id, T, "fine", units="1")]
        )

    answers = [a async for a in rating.stub.StreamEvents(batches())]
    assert (answers[0].error.reason, answers[0].error.code) == ("INVALID_TEXT", 3)
    assert answers[1].results[0].status == pb.EVENT_STATUS_ACCEPTED
