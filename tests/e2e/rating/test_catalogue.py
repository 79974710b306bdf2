"""Catalogue RPCs: validation with stable reasons and field violations, idempotency, paging;
prices and plans never take effect in the past; one limit and reason for an event type."""

from __future__ import annotations

from datetime import timedelta

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


async def refused(call) -> tuple[grpc.StatusCode, str, list[str]]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return (err.value.code(), *reason_of(err.value))


async def test_meter_validation_and_replay(rating) -> None:  # type: ignore[no-untyped-def]
    stub = rating.stub
    code, reason, fields = await refused(
        stub.CreateMeter(pb.CreateMeterRequest(request_id=rid(), key="x", event_type="e"))
    )
    assert (code, reason, fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "MISSING_FIELD",
        ["aggregation"],
    )
    code, reason, fields = await refused(
        stub.CreateMeter(
            pb.CreateMeterRequest(
                request_id=rid(), key="x", event_type="e", aggregation=pb.AGGREGATION_SUM
            )
        )
    )
    assert (reason, fields) == ("MISSING_FIELD", ["value_property"])
    request = pb.CreateMeterRequest(
        request_id=rid(),
        key="tokens",
        event_type="llm",
        aggregation=pb.AGGREGATION_SUM,
        value_property="n",
    )
    first = await stub.CreateMeter(request)
    assert await stub.CreateMeter(request) == first
    other = pb.CreateMeterRequest()
    other.CopyFrom(request)
    other.request_id = rid()
    code, reason, _ = await refused(stub.CreateMeter(other))
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "METER_ALREADY_EXISTS")
    got = await stub.GetMeter(pb.GetMeterRequest(meter_id=first.meter.meter_id))
    assert got.meter == first.meter
    code, reason, _ = await refused(stub.GetMeter(pb.GetMeterRequest(meter_id="nope")))
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "METER_NOT_FOUND")


async def test_list_meters_pages(rating) -> None:  # type: ignore[no-untyped-def]
    made = [await make_meter(rating.stub, pb.AGGREGATION_COUNT) for _ in range(3)]
    page = await rating.stub.ListMeters(pb.ListMetersRequest(page_size=2))
    rest = await rating.stub.ListMeters(pb.ListMetersRequest(page_token=page.next_page_token))
    assert [m.meter_id for m in [*page.meters, *rest.meters]] == [m.meter_id for m in made]
    assert rest.next_page_token == ""
    code, reason, _ = await refused(rating.stub.ListMeters(pb.ListMetersRequest(page_size=501)))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "PAGE_SIZE_TOO_LARGE")


@pytest.mark.parametrize(
    ("kw", "reason", "fields"),
    [
        ({"model": pb.PRICING_MODEL_VOLUME}, "INVALID_PRICING", ["tiers"]),
        (
            {
                "model": pb.PRICING_MODEL_VOLUME,
                "tiers": [pb.Tier(up_to="10"), pb.Tier(up_to="5"), pb.Tier()],
            },
            "INVALID_PRICING",
            ["tiers[1].up_to"],
        ),
        (
            {"model": pb.PRICING_MODEL_PER_UNIT, "unit_price": "1.5e3"},
            "INVALID_AMOUNT",
            ["unit_price"],
        ),
        (
            {"model": pb.PRICING_MODEL_PER_UNIT, "unit_price": "-1"},
            "INVALID_AMOUNT",
            ["unit_price"],
        ),
        (
            {"model": pb.PRICING_MODEL_PACKAGE, "package_price": "1"},
            "INVALID_PRICING",
            ["package_size"],
        ),
        (
            {"model": pb.PRICING_MODEL_PER_UNIT, "unit_price": "0." + "1" * 19},
            "INVALID_AMOUNT",
            ["unit_price"],
        ),
    ],
)
async def test_malformed_prices_are_refused(rating, kw, reason, fields) -> None:  # type: ignore[no-untyped-def]
    meter = await make_meter(rating.stub, pb.AGGREGATION_COUNT)
    code, got_reason, got_fields = await refused(
        make_price(rating.stub, meter.meter_id, START, **kw)
    )
    assert (code, got_reason, got_fields) == (grpc.StatusCode.INVALID_ARGUMENT, reason, fields)
    listed = await rating.stub.ListPrices(pb.ListPricesRequest(meter_id=meter.meter_id))
    assert list(listed.prices) == []


async def test_overlapping_price_version_is_refused(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    code, reason, fields = await refused(
        make_price(
            rating.stub,
            "",
            START,
            price_id=s.price.price_id,
            model=pb.PRICING_MODEL_PER_UNIT,
            unit_price="1",
        )
    )
    assert (code, reason, fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "PRICE_VERSION_OVERLAP",
        ["effective_time"],
    )
    code, reason, _ = await refused(
        make_price(
            rating.stub, "", START, price_id="nope", model=pb.PRICING_MODEL_PER_UNIT, unit_price="1"
        )
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "PRICE_NOT_FOUND")


async def test_plans_and_assignments(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    # The ledger has one wallet per (customer, unit), and a plan's wallet is its customer's.
    wallet = s.wallet_id
    plan = await rating.stub.GetPlan(pb.GetPlanRequest(plan_id=s.plan.plan_id))
    assert plan.plan == s.plan
    code, reason, fields = await refused(
        rating.stub.CreatePlan(
            pb.CreatePlanRequest(
                request_id=rid(),
                cadence=pb.CADENCE_MONTHLY,
                unit="CREDITS",
                prices=[pb.PlanPrice(price_id="nope")],
            )
        )
    )
    assert (code, reason, fields) == (
        grpc.StatusCode.NOT_FOUND,
        "PRICE_NOT_FOUND",
        ["prices[0].price_id"],
    )
    code, reason, _ = await refused(
        rating.stub.CreatePlan(
            pb.CreatePlanRequest(
                request_id=rid(),
                cadence=pb.CADENCE_MONTHLY,
                unit="CREDITS",
                prices=[pb.PlanPrice(price_id=s.price.price_id)] * 2,
            )
        )
    )
    assert reason == "DUPLICATE_METER"
    code, reason, _ = await refused(
        rating.stub.AssignPlan(
            pb.AssignPlanRequest(
                request_id=rid(),
                customer_id=s.customer_id,
                plan_id=s.plan.plan_id,
                wallet_id=wallet,
                start_time=timestamp(START),
            )
        )
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ASSIGNMENT_OVERLAP")
    later = await rating.stub.AssignPlan(
        pb.AssignPlanRequest(
            request_id=rid(),
            customer_id=s.customer_id,
            plan_id=s.plan.plan_id,
            wallet_id=wallet,
            start_time=timestamp(START + timedelta(days=40)),
        )
    )
    assert later.assignment.wallet_id == wallet


async def test_prices_and_plans_never_take_effect_in_the_past(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T + timedelta(hours=1))
    await ingest(rating.stub, [event(s.customer_id, T, "at-T", units="1")])
    for effective in (T - timedelta(minutes=1), T + timedelta(minutes=59)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await make_price(
                rating.stub,
                "",
                effective,
                price_id=s.price.price_id,
                model=pb.PRICING_MODEL_PER_UNIT,
                unit_price="2",
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason_of(err.value) == ("EFFECTIVE_TIME_IN_PAST", ["effective_time"])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await make_price(rating.stub, s.meter.meter_id, T, model=pb.PRICING_MODEL_PER_UNIT)
    assert reason_of(err.value)[0] == "EFFECTIVE_TIME_IN_PAST"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await rating.stub.AssignPlan(
            pb.AssignPlanRequest(
                request_id=rid(),
                customer_id=s.customer_id,
                plan_id=s.plan.plan_id,
                wallet_id=s.wallet_id,
                start_time=timestamp(T + timedelta(minutes=30)),
            )
        )
    assert reason_of(err.value) == ("EFFECTIVE_TIME_IN_PAST", ["start_time"])
    # An event accepted up to future_skew ahead also blocks a version starting before it.
    now = rating.clock.now()
    await ingest(
        rating.stub, [event(s.customer_id, now + timedelta(minutes=4), "ahead", units="1")]
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await make_price(
            rating.stub,
            "",
            now + timedelta(minutes=2),
            price_id=s.price.price_id,
            model=pb.PRICING_MODEL_PER_UNIT,
            unit_price="2",
        )
    assert reason_of(err.value)[0] == "EFFECTIVE_TIME_IN_PAST"
    # Now or later is fine, and nothing above was written.
    later = await make_price(
        rating.stub,
        "",
        now + timedelta(minutes=10),
        price_id=s.price.price_id,
        model=pb.PRICING_MODEL_PER_UNIT,
        unit_price="2",
    )
    assert later.version == 2


async def test_event_type_has_one_limit_and_reason(rating) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await make_meter(rating.stub, pb.AGGREGATION_COUNT, event_type="t" * 129)
    assert reason_of(err.value) == ("INVALID_ID", ["event_type"])
    meter = await make_meter(rating.stub, pb.AGGREGATION_COUNT, event_type="t" * 128)
    assert meter.event_type == "t" * 128
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    r = await ingest(
        rating.stub,
        [
            event(s.customer_id, T, "x" * 129, units="1"),
            event(s.customer_id, T, "ok", type_="t" * 129),
        ],
    )
    assert [x.error.reason for x in r.results] == ["INVALID_ID", "INVALID_ID"]
