"""Backfill over gRPC on the real rating server wired to the real ledger: history imported when
moving from another system. Prices and an assignment effective months ago (CreatePrice and
AssignPlan with `backfill`), events of three months ago (BackfillEvents) rated by the version in
force then and debited as usual; the same refused outside backfill; a closed period refused per
event with its invoice unchanged; the admin scope required; replays answered from the stored
response."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import grpc
import pytest
from billing.auth.v1 import api_keys_pb2 as kpb
from billing.auth.v1 import api_keys_pb2_grpc
from billing.rating.v1 import rating_pb2 as pb
from billing.rating.v1 import rating_pb2_grpc

from billing_common.protoconv import timestamp
from tests.support.channels import open_channel
from tests.support.errors import reason_of
from tests.support.rating import close_period, event, ingest, make_meter, rid
from tests.support.servers import START

NOW = datetime(2026, 5, 10, tzinfo=UTC)
JANUARY = datetime(2026, 1, 15, tzinfo=UTC)
THREE_MONTHS_AGO = datetime(2026, 2, 10, tzinfo=UTC)  # under version 1
APRIL = datetime(2026, 4, 10, tzinfo=UTC)  # under version 2
VERSION_2_FROM = datetime(2026, 3, 1, tzinfo=UTC)
PRICE_1, PRICE_2 = Decimal("0.5"), Decimal("2")


@dataclass
class History:
    rating: Any  # tests/e2e/rating/conftest.py RunningRating
    customer_id: str
    wallet_id: str
    price_id: str


def price_request(meter_id: str, price_id: str, unit_price: Decimal, at: datetime) -> Any:
    return pb.CreatePriceRequest(
        request_id=rid(),
        price_id=price_id,
        meter_id=meter_id,
        unit="CREDITS",
        model=pb.PRICING_MODEL_PER_UNIT,
        unit_price=str(unit_price),
        effective_time=timestamp(at),
        backfill=True,
    )


@pytest.fixture
async def history(rating: Any) -> History:
    """Today is NOW; the customer's catalogue, moved from another system, starts on January 1st:
    version 1 of the price from then, version 2 from March 1st."""
    rating.clock.set(NOW)
    stub = rating.stub
    wallet_id = await rating.ledger.wallet()
    customer_id = rating.ledger.owners[wallet_id]
    meter = await make_meter(stub, pb.AGGREGATION_COUNT)
    first = (await stub.CreatePrice(price_request(meter.meter_id, "", PRICE_1, START))).price
    await stub.CreatePrice(price_request("", first.price_id, PRICE_2, VERSION_2_FROM))
    plan = (
        await stub.CreatePlan(
            pb.CreatePlanRequest(
                request_id=rid(),
                name="moved plan",
                cadence=pb.CADENCE_MONTHLY,
                billing_anchor_time=timestamp(START),
                unit="CREDITS",
                prices=[pb.PlanPrice(price_id=first.price_id)],
            )
        )
    ).plan
    await stub.AssignPlan(
        pb.AssignPlanRequest(
            request_id=rid(),
            customer_id=customer_id,
            plan_id=plan.plan_id,
            wallet_id=wallet_id,
            start_time=timestamp(START),
            backfill=True,
        )
    )
    return History(rating, customer_id, wallet_id, first.price_id)


async def backfill(stub: Any, events: list[pb.Event], request_id: str = "") -> Any:
    return await stub.BackfillEvents(
        pb.BackfillEventsRequest(request_id=request_id or rid(), events=events)
    )


async def invoice_at(stub: Any, customer_id: str, at: datetime) -> pb.Invoice:
    found = await stub.GetInvoice(
        pb.GetInvoiceRequest(customer_id=customer_id, period_time=timestamp(at))
    )
    return found.invoice


async def test_events_of_three_months_ago_are_backfilled_at_the_price_then_in_force(
    history: History,
) -> None:
    stub, ledger = history.rating.stub, history.rating.ledger
    events = [
        event(history.customer_id, THREE_MONTHS_AGO),
        event(history.customer_id, THREE_MONTHS_AGO),
        event(history.customer_id, APRIL),
    ]
    answer = await backfill(stub, events)
    assert [r.status for r in answer.results] == [pb.EVENT_STATUS_ACCEPTED] * 3
    charged = [(c.price_version, Decimal(c.amount)) for r in answer.results for c in r.charges]
    assert charged == [(1, PRICE_1), (1, PRICE_1), (2, PRICE_2)]
    await history.rating.drain()
    debits = sorted(Decimal(e.amount) for e in await ledger.entries([history.wallet_id]))
    assert debits == sorted([-PRICE_1, -PRICE_1, -PRICE_2])
    february = await invoice_at(stub, history.customer_id, THREE_MONTHS_AGO)
    assert Decimal(february.usage_total) == 2 * PRICE_1


async def test_the_same_events_are_refused_outside_backfill_and_write_nothing(
    history: History,
) -> None:
    stub = history.rating.stub
    events = [event(history.customer_id, THREE_MONTHS_AGO), event(history.customer_id, APRIL)]
    answer = await ingest(stub, events)
    assert [(r.status, r.error.reason) for r in answer.results] == [
        (pb.EVENT_STATUS_REJECTED, "EVENT_TOO_OLD")
    ] * 2
    february = await invoice_at(stub, history.customer_id, THREE_MONTHS_AGO)
    assert (february.invoice_id, list(february.lines)) == ("", [])
    # The catalogue refuses the past too unless in backfill.
    request = price_request("", history.price_id, PRICE_2, NOW.replace(month=4, day=20))
    request.backfill = False
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreatePrice(request)
    assert (err.value.code(), reason_of(err.value)[0]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "EFFECTIVE_TIME_IN_PAST",
    )


async def test_an_event_of_a_closed_period_is_refused_in_backfill_and_the_invoice_is_unchanged(
    history: History,
) -> None:
    stub = history.rating.stub
    first = await backfill(stub, [event(history.customer_id, JANUARY)])
    assert first.results[0].status == pb.EVENT_STATUS_ACCEPTED
    await history.rating.drain()
    closed = await close_period(stub, history.customer_id, JANUARY)
    assert closed.status == pb.INVOICE_STATUS_FINAL
    answer = await backfill(
        stub,
        [event(history.customer_id, JANUARY), event(history.customer_id, THREE_MONTHS_AGO)],
    )
    late, open_period = answer.results
    assert (late.status, late.error.reason, late.error.code) == (
        pb.EVENT_STATUS_REJECTED,
        "PERIOD_CLOSED",
        grpc.StatusCode.FAILED_PRECONDITION.value[0],
    )
    assert open_period.status == pb.EVENT_STATUS_ACCEPTED
    assert await invoice_at(stub, history.customer_id, JANUARY) == closed
    assert Decimal(closed.usage_total) == PRICE_1


async def test_backfill_needs_the_admin_scope(history: History) -> None:
    """A key with every scope but admin (a producer's and the catalogue owner's) is refused
    PERMISSION_DENIED on BackfillEvents and on backfill catalogue writes; nothing is written."""
    rating = history.rating
    target = rating.rating.server.listen_target
    admin = open_channel(target)
    made = await api_keys_pb2_grpc.ApiKeyServiceStub(admin).CreateApiKey(
        kpb.CreateApiKeyRequest(
            request_id=str(uuid.uuid4()), name="writer", scopes=["read", "write", "catalogue"]
        )
    )
    writer_channel = open_channel(target, key=made.secret)
    try:
        writer = rating_pb2_grpc.RatingServiceStub(writer_channel)
        before = await rating.stub.ListPrices(pb.ListPricesRequest(price_id=history.price_id))
        calls = [
            writer.BackfillEvents(
                pb.BackfillEventsRequest(
                    request_id=rid(), events=[event(history.customer_id, THREE_MONTHS_AGO)]
                )
            ),
            writer.CreatePrice(
                price_request("", history.price_id, PRICE_2, NOW.replace(month=4, day=20))
            ),
            writer.AssignPlan(
                pb.AssignPlanRequest(
                    request_id=rid(),
                    customer_id=history.customer_id,
                    plan_id="any",
                    wallet_id=history.wallet_id,
                    start_time=timestamp(NOW.replace(month=4, day=20)),
                    backfill=True,
                )
            ),
        ]
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call
            assert (err.value.code(), reason_of(err.value)[0]) == (
                grpc.StatusCode.PERMISSION_DENIED,
                "SCOPE_MISSING",
            )
        after = await rating.stub.ListPrices(pb.ListPricesRequest(price_id=history.price_id))
        assert after == before
        february = await invoice_at(rating.stub, history.customer_id, THREE_MONTHS_AGO)
        assert february.invoice_id == ""
    finally:
        await writer_channel.close()
        await admin.close()


async def test_a_backfill_sent_again_is_answered_from_the_stored_response(
    history: History,
) -> None:
    stub, ledger = history.rating.stub, history.rating.ledger
    events = [event(history.customer_id, THREE_MONTHS_AGO), event(history.customer_id, APRIL)]
    request_id = rid()
    first = await backfill(stub, events, request_id)
    await history.rating.drain()
    again = await backfill(stub, events, request_id)
    assert again == first
    assert [r.status for r in again.results] == [pb.EVENT_STATUS_ACCEPTED] * 2
    await history.rating.drain()
    assert sorted((await ledger.bookings()).values()) == [1, 1]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await backfill(stub, events[:1], request_id)
    assert (err.value.code(), reason_of(err.value)[0]) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "REQUEST_ID_CONFLICT",
    )
    # The same events under a new request id are duplicates: never charged twice.
    fresh = await backfill(stub, events)
    assert [r.status for r in fresh.results] == [pb.EVENT_STATUS_DUPLICATE] * 2
