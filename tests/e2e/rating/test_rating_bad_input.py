"""Contract tests over real gRPC: bad input for every mutating and reading RatingService RPC.

Each refusal carries the exact code, a stable ErrorInfo reason (domain "rating.billing"), a
BadRequest field violation naming the bad field where there is one, never UNKNOWN or INTERNAL,
and writes nothing: the row count of every rating table (idempotency keys included) is unchanged.
The cases share one rating server and database, wired over gRPC to one real ledger server on
its own database (module scope) to keep the suite fast.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2_grpc
from billing.rating.v1 import rating_pb2 as pb
from billing.rating.v1 import rating_pb2_grpc
from billing.type.v1 import types_pb2
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from sqlalchemy import func, select

from billing_common.clock import FakeClock
from billing_common.protoconv import timestamp
from ledger_service import main as ledger_main
from ledger_service.config import LedgerSettings
from rating_service import main as rating_main
from rating_service.adapters.db import tables
from rating_service.config import RatingSettings
from tests.support.channels import admin_key_file, open_channel
from tests.support.ledger import make_wallet
from tests.support.rating import Setup, event, rid, setup_customer
from tests.support.tls import rating_settings, server_settings

START = datetime(2026, 3, 1, tzinfo=UTC)
NOW = START + timedelta(days=1)
Code = grpc.StatusCode
LONG_ID = "x" * 129
OTHER = "cust-other"  # the customer the base AssignPlan assigns (it owns World.wallet_id)


@dataclass
class World:
    stub: rating_pb2_grpc.RatingServiceStub
    rating: rating_main.Rating
    s: Setup
    wallet_id: str  # another CREDITS wallet on the ledger, of OTHER
    usd_wallet_id: str  # a wallet of OTHER in another unit
    missing_wallet_id: str  # a well-formed wallet id the ledger does not know


@pytest.fixture(scope="module")
async def world(
    new_database: Any, rating_template: str, ledger_template: str
) -> AsyncIterator[World]:
    clock = FakeClock(START)  # one time for both services
    ledger = await ledger_main.build(
        LedgerSettings(
            admin_key_file=admin_key_file(),
            database_url=await new_database("ledger", ledger_template),
            listen="127.0.0.1:0",
            migrate=False,
            pool_size=5,
            sweep_interval_s=0,
            **server_settings(),
        ),
        clock,
    )
    ledger_target = f"127.0.0.1:{await ledger.server.start()}"
    ledger_channel = open_channel(ledger_target)
    settings = RatingSettings(
        admin_key_file=admin_key_file(),
        ledger_api_key_file=admin_key_file(),
        database_url=await new_database("rating", rating_template),
        listen="127.0.0.1:0",
        migrate=False,
        pool_size=5,
        forward=False,
        ledger_target=ledger_target,
        **rating_settings(),
    )
    built = await rating_main.build(settings, clock)
    port = await built.server.start()
    channel = open_channel(f"127.0.0.1:{port}")
    stub = rating_pb2_grpc.RatingServiceStub(channel)
    try:
        ledger_stub = ledger_pb2_grpc.LedgerServiceStub(ledger_channel)
        wallet = await make_wallet(ledger_stub)
        s = await setup_customer(
            stub, start=START, wallet_id=wallet.wallet_id, customer_id=wallet.customer_id
        )
        other = await make_wallet(ledger_stub, customer_id=OTHER)
        usd = await make_wallet(ledger_stub, unit="USD", customer_id=OTHER)
        clock.set(NOW)
        yield World(stub, built, s, other.wallet_id, usd.wallet_id, str(uuid.uuid4()))
    finally:
        await channel.close()
        await built.close()
        await ledger_channel.close()
        await ledger.close()


async def row_counts(w: World) -> dict[str, int]:
    counted = tables.metadata.sorted_tables
    query = select(*(select(func.count()).select_from(t).scalar_subquery() for t in counted))
    async with w.rating.engine.connect() as conn:
        counts = (await conn.execute(query)).one()
    return {t.name: n for t, n in zip(counted, counts, strict=True)}


def rich(exc: grpc.aio.AioRpcError) -> tuple[str, str, list[str]]:
    raw = [v for k, v in (exc.trailing_metadata() or ()) if k == "grpc-status-details-bin"]
    assert raw, f"{exc.code()} without rich status details: {exc.details()}"
    status = status_pb2.Status.FromString(raw[0])
    reason, domain, fields = "", "", []
    for detail in status.details:
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason, domain = info.reason, info.domain
        elif detail.Unpack(bad):
            fields += [v.field for v in bad.field_violations]
    return reason, domain, fields


BASE: dict[str, Callable[[World], Message]] = {
    "CreateMeter": lambda w: pb.CreateMeterRequest(
        request_id=rid(), key=f"k{rid()[:8]}", event_type="x", aggregation=pb.AGGREGATION_COUNT
    ),
    "GetMeter": lambda w: pb.GetMeterRequest(meter_id=w.s.meter.meter_id),
    "ListMeters": lambda w: pb.ListMetersRequest(),
    "CreatePrice": lambda w: pb.CreatePriceRequest(
        request_id=rid(),
        meter_id=w.s.meter.meter_id,
        unit="CREDITS",
        model=pb.PRICING_MODEL_PER_UNIT,
        unit_price="1",
    ),
    "ListPrices": lambda w: pb.ListPricesRequest(),
    "CreatePlan": lambda w: pb.CreatePlanRequest(
        request_id=rid(), cadence=pb.CADENCE_MONTHLY, unit="CREDITS"
    ),
    "GetPlan": lambda w: pb.GetPlanRequest(plan_id=w.s.plan.plan_id),
    "AssignPlan": lambda w: pb.AssignPlanRequest(
        request_id=rid(),
        customer_id=OTHER,
        plan_id=w.s.plan.plan_id,
        wallet_id=w.wallet_id,
    ),
    "ListPlans": lambda w: pb.ListPlansRequest(),
    "GetPlanAssignment": lambda w: pb.GetPlanAssignmentRequest(customer_id=w.s.customer_id),
    "EndPlanAssignment": lambda w: pb.EndPlanAssignmentRequest(
        request_id=rid(), customer_id=w.s.customer_id, end_time=timestamp(NOW + timedelta(days=1))
    ),
    "IngestEvents": lambda w: pb.IngestEventsRequest(
        request_id=rid(), events=[event(w.s.customer_id, NOW, units="1")]
    ),
    "BackfillEvents": lambda w: pb.BackfillEventsRequest(
        request_id=rid(), events=[event(w.s.customer_id, NOW, units="1")]
    ),
    "GetUsage": lambda w: pb.GetUsageRequest(
        customer_id=w.s.customer_id, meter_id=w.s.meter.meter_id
    ),
    "GetInvoice": lambda w: pb.GetInvoiceRequest(customer_id=w.s.customer_id),
    "ListInvoices": lambda w: pb.ListInvoicesRequest(customer_id=w.s.customer_id),
    "CloseBillingPeriod": lambda w: pb.CloseBillingPeriodRequest(
        request_id=rid(), customer_id=w.s.customer_id, period_time=timestamp(START)
    ),
    "ListInvoiceLineEvents": lambda w: pb.ListInvoiceLineEventsRequest(
        invoice_id="nope", line_id="a:1"
    ),
}

BAD_TS = timestamp_pb2.Timestamp(seconds=2**40)
NEG_NANOS = timestamp_pb2.Timestamp(seconds=1_767_225_600, nanos=-1)
# An unsigned cursor, as tokens looked before they were signed.
HUGE_TOKEN = base64.urlsafe_b64encode(json.dumps({"seq": 2**70}).encode()).decode()


def bad(method: str, name: str, code: Code, reason: str, field: str | None, **fields: Any) -> Any:
    return pytest.param(method, fields, code, reason, field, id=f"{method}-{name}")


I = Code.INVALID_ARGUMENT  # noqa: E741
# fmt: off
CASES = [
    bad("CreateMeter", "no-request_id", I, "MISSING_FIELD", "request_id", request_id=""),
    bad("CreateMeter", "long-request_id", I, "INVALID_ID", "request_id", request_id=LONG_ID),
    bad("CreateMeter", "bad-key", I, "INVALID_METER_KEY", "key", key="Has Spaces"),
    bad("CreateMeter", "no-aggregation", I, "MISSING_FIELD", "aggregation", aggregation=0),
    bad("CreateMeter", "unknown-aggregation", I, "MISSING_FIELD", "aggregation", aggregation=99),
    bad("CreateMeter", "count-with-property", I, "INVALID_ARGUMENT", "value_property",
        value_property="n"),
    bad("CreateMeter", "too-many-filters", I, "INVALID_FILTER", "filters",
        filters={f"p{i}": "v" for i in range(21)}),
    bad("GetMeter", "no-id", I, "MISSING_FIELD", "meter_id", meter_id=""),
    bad("GetMeter", "long-id", I, "INVALID_ID", "meter_id", meter_id=LONG_ID),
    bad("GetMeter", "unknown", Code.NOT_FOUND, "METER_NOT_FOUND", None, meter_id="nope"),
    bad("ListMeters", "page-size", I, "PAGE_SIZE_TOO_LARGE", "page_size", page_size=501),
    bad("ListMeters", "negative-page-size", I, "INVALID_PAGE_SIZE", "page_size", page_size=-1),
    bad("ListMeters", "garbage-token", I, "INVALID_PAGE_TOKEN", "page_token", page_token="%%%"),
    bad("ListMeters", "huge-token", I, "INVALID_PAGE_TOKEN", "page_token", page_token=HUGE_TOKEN),
    bad("CreatePrice", "no-model", I, "MISSING_FIELD", "model", model=0),
    bad("CreatePrice", "bad-unit", I, "INVALID_UNIT", "unit", unit="credits"),
    bad("CreatePrice", "unknown-meter", Code.NOT_FOUND, "METER_NOT_FOUND", "meter_id",
        meter_id="nope"),
    bad("CreatePrice", "bad-effective", I, "INVALID_TIME", "effective_time",
        effective_time=BAD_TS),
    bad("CreatePrice", "negative-nanos", I, "INVALID_TIME", "effective_time",
        effective_time=NEG_NANOS),
    bad("CreatePrice", "nan-price", I, "INVALID_AMOUNT", "unit_price", unit_price="NaN"),
    bad("CreatePrice", "tier-junk", I, "INVALID_AMOUNT", "tiers[0].up_to",
        model=pb.PRICING_MODEL_GRADUATED, tiers=[pb.Tier(up_to="1e3"), pb.Tier()]),
    bad("ListPrices", "huge-token", I, "INVALID_PAGE_TOKEN", "page_token", page_token=HUGE_TOKEN),
    bad("CreatePlan", "no-cadence", I, "MISSING_FIELD", "cadence", cadence=0),
    bad("CreatePlan", "bad-anchor", I, "INVALID_TIME", "billing_anchor_time",
        billing_anchor_time=BAD_TS),
    bad("CreatePlan", "negative-fixed", I, "INVALID_AMOUNT", "fixed_charge", fixed_charge="-1"),
    bad("CreatePlan", "unknown-price", Code.NOT_FOUND, "PRICE_NOT_FOUND", "prices[0].price_id",
        prices=[pb.PlanPrice(price_id="nope")]),
    bad("GetPlan", "unknown", Code.NOT_FOUND, "PLAN_NOT_FOUND", None, plan_id="nope"),
    bad("AssignPlan", "no-customer", I, "MISSING_FIELD", "customer_id", customer_id=""),
    bad("AssignPlan", "long-wallet", I, "INVALID_ID", "wallet_id", wallet_id=LONG_ID),
    bad("AssignPlan", "unknown-plan", Code.NOT_FOUND, "PLAN_NOT_FOUND", "plan_id", plan_id="nope"),
    bad("AssignPlan", "bad-start", I, "INVALID_TIME", "start_time", start_time=NEG_NANOS),
    bad("AssignPlan", "unknown-wallet", Code.NOT_FOUND, "WALLET_NOT_FOUND", "wallet_id",
        wallet_id=lambda w: w.missing_wallet_id),
    bad("AssignPlan", "others-wallet", Code.FAILED_PRECONDITION, "WALLET_CUSTOMER_MISMATCH",
        "wallet_id", customer_id="cust-not-the-owner"),
    bad("AssignPlan", "wallet-in-usd", I, "WALLET_UNIT_MISMATCH", "wallet_id",
        wallet_id=lambda w: w.usd_wallet_id),
    bad("ListPlans", "page-size", I, "PAGE_SIZE_TOO_LARGE", "page_size", page_size=501),
    bad("ListPlans", "garbage-token", I, "INVALID_PAGE_TOKEN", "page_token", page_token="%%%"),
    bad("GetPlanAssignment", "no-customer", I, "MISSING_FIELD", "customer_id", customer_id=""),
    bad("GetPlanAssignment", "long-customer", I, "INVALID_ID", "customer_id", customer_id=LONG_ID),
    bad("GetPlanAssignment", "bad-at", I, "INVALID_TIME", "at_time", at_time=NEG_NANOS),
    bad("GetPlanAssignment", "before-the-plan", Code.NOT_FOUND, "CUSTOMER_NOT_FOUND",
        "customer_id", at_time=timestamp(START - timedelta(days=1))),
    bad("GetPlanAssignment", "no-plan", Code.NOT_FOUND, "CUSTOMER_NOT_FOUND", "customer_id",
        customer_id="cust-without-a-plan"),
    bad("EndPlanAssignment", "no-request_id", I, "MISSING_FIELD", "request_id", request_id=""),
    bad("EndPlanAssignment", "no-customer", I, "MISSING_FIELD", "customer_id", customer_id=""),
    bad("EndPlanAssignment", "bad-end", I, "INVALID_TIME", "end_time", end_time=NEG_NANOS),
    bad("EndPlanAssignment", "end-in-past", I, "EFFECTIVE_TIME_IN_PAST", "end_time",
        end_time=timestamp(START)),
    bad("EndPlanAssignment", "no-plan", Code.NOT_FOUND, "CUSTOMER_NOT_FOUND", "customer_id",
        customer_id="cust-without-a-plan"),
    bad("IngestEvents", "no-events", I, "MISSING_FIELD", "events", events=[]),
    bad("IngestEvents", "unknown-mode", I, "INVALID_ENUM", "mode", mode=99),
    bad("BackfillEvents", "no-request_id", I, "MISSING_FIELD", "request_id", request_id=""),
    bad("BackfillEvents", "no-events", I, "MISSING_FIELD", "events", events=[]),
    bad("BackfillEvents", "too-many", I, "BATCH_TOO_LARGE", "events",
        events=lambda w: [event(w.s.customer_id, NOW, units="1") for _ in range(1001)]),
    bad("GetUsage", "unknown-meter", Code.NOT_FOUND, "METER_NOT_FOUND", None, meter_id="nope"),
    bad("GetUsage", "bad-granularity", I, "INVALID_ENUM", "granularity", granularity=7),
    bad("GetUsage", "bad-range", I, "INVALID_TIME", "time_range.start_time",
        time_range=types_pb2.TimeRange(start_time=BAD_TS)),
    bad("GetUsage", "empty-range", I, "INVALID_TIME_RANGE", "time_range",
        time_range=types_pb2.TimeRange(start_time=timestamp(NOW), end_time=timestamp(START))),
    bad("GetUsage", "unknown-customer", Code.NOT_FOUND, "CUSTOMER_NOT_FOUND", None,
        customer_id="nobody"),
    bad("GetInvoice", "unknown-invoice", Code.NOT_FOUND, "INVOICE_NOT_FOUND", None,
        invoice_id="nope"),
    bad("GetInvoice", "unknown-customer", Code.NOT_FOUND, "CUSTOMER_NOT_FOUND", "customer_id",
        customer_id="nobody"),
    bad("GetInvoice", "bad-period", I, "INVALID_TIME", "period_time", period_time=BAD_TS),
    bad("ListInvoices", "bad-status", I, "INVALID_ENUM", "status", status=9),
    bad("CloseBillingPeriod", "open-period", Code.FAILED_PRECONDITION, "PERIOD_NOT_ENDED", None,
        period_time=lambda w: timestamp(NOW)),
    bad("CloseBillingPeriod", "no-period", I, "MISSING_FIELD", "period_time",
        period_time=None),
    bad("ListInvoiceLineEvents", "unknown-invoice", Code.NOT_FOUND, "INVOICE_NOT_FOUND", None),
    bad("ListInvoiceLineEvents", "bad-line", I, "INVALID_LINE_ID", "line_id", line_id="nocolon"),
]
# fmt: on


def build(w: World, method: str, fields: dict[str, Any]) -> Message:
    message = BASE[method](w)
    for name, value in fields.items():
        value = value(w) if callable(value) else value
        if value is None:
            message.ClearField(name)
        elif isinstance(value, Message):
            getattr(message, name).CopyFrom(value)
        elif isinstance(value, dict):
            getattr(message, name).update(value)
        elif isinstance(value, list):
            del getattr(message, name)[:]
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)
    return message


@pytest.mark.parametrize(("method", "fields", "code", "reason", "field"), CASES)
async def test_bad_input_is_refused_and_writes_nothing(
    world: World, method: str, fields: dict[str, Any], code: Code, reason: str, field: str | None
) -> None:
    before = await row_counts(world)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await getattr(world.stub, method)(build(world, method, fields))
    exc = raised.value
    assert exc.code() not in (Code.UNKNOWN, Code.INTERNAL), exc.details()
    got_reason, domain, got_fields = rich(exc)
    assert (exc.code(), got_reason, domain) == (code, reason, "rating.billing"), exc.details()
    if field is not None:
        assert got_fields == [field]
    assert await row_counts(world) == before


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        ({"event_id": LONG_ID}, "INVALID_ID", "event_id"),
        ({"event_id": ""}, "MISSING_FIELD", "event_id"),
        ({"type": ""}, "MISSING_FIELD", "type"),
        ({"occurred_time": BAD_TS}, "INVALID_TIME", "occurred_time"),
        ({"occurred_time": NEG_NANOS}, "INVALID_TIME", "occurred_time"),
        ({"occurred_time": None}, "MISSING_FIELD", "occurred_time"),
        ({"properties": {"units": "\uff11"}}, "INVALID_PROPERTY", "properties[units]"),
    ],
)
async def test_a_bad_event_is_rejected_alone(
    world: World, change: dict[str, Any], reason: str, field: str
) -> None:
    bad_event = event(world.s.customer_id, NOW, units="1")
    for name, value in change.items():
        if value is None:
            bad_event.ClearField(name)
        elif isinstance(value, Message):
            getattr(bad_event, name).CopyFrom(value)
        elif isinstance(value, dict):
            getattr(bad_event, name).clear()
            getattr(bad_event, name).update(value)
        else:
            setattr(bad_event, name, value)
    good = event(world.s.customer_id, NOW, units="1")
    response = await world.stub.IngestEvents(
        pb.IngestEventsRequest(request_id=rid(), events=[bad_event, good])
    )
    first, second = response.results
    assert (first.status, first.error.reason) == (pb.EVENT_STATUS_REJECTED, reason)
    assert [v.field for v in first.error.field_violations] == [field]
    assert first.error.code == Code.INVALID_ARGUMENT.value[0]
    assert second.status == pb.EVENT_STATUS_ACCEPTED


def test_every_rpc_has_bad_input_cases() -> None:
    # PreviewCharge answers bad events with a REJECTED result (test_charging.py); StreamEvents
    # answers a bad batch on its response and goes on (test_charging.py).
    elsewhere = {"PreviewCharge", "StreamEvents"}
    rpcs = {m.name for m in pb.DESCRIPTOR.services_by_name["RatingService"].methods}
    covered = {case.values[0] for case in CASES} | elsewhere
    assert rpcs - covered == set()
