"""Builders for rating requests, and reads of the rating database behind the `rating` fixture."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime

from billing.rating.v1 import rating_pb2 as pb
from sqlalchemy import text

from billing_common import database
from billing_common.protoconv import timestamp
from rating_service.adapters.db.migrate import upgrade_async


def rid() -> str:
    return str(uuid.uuid4())


@dataclass
class Setup:
    meter: pb.Meter
    price: pb.Price
    plan: pb.Plan
    customer_id: str
    wallet_id: str


async def make_meter(stub, aggregation: int, prop: str = "", **kw) -> pb.Meter:  # type: ignore[no-untyped-def]
    key = kw.pop("key", f"m_{rid()[:8]}")
    response = await stub.CreateMeter(
        pb.CreateMeterRequest(
            request_id=rid(),
            key=key,
            event_type=kw.pop("event_type", "api.call"),
            aggregation=aggregation,
            value_property=prop,
            description=kw.pop("description", f"meter {key}"),
            **kw,
        )
    )
    return response.meter


async def make_price(stub, meter_id: str, effective: datetime, **kw) -> pb.Price:  # type: ignore[no-untyped-def]
    request = pb.CreatePriceRequest(
        request_id=rid(),
        meter_id=meter_id,
        unit="CREDITS",
        effective_time=timestamp(effective),
        **kw,
    )
    return (await stub.CreatePrice(request)).price


async def setup_customer(  # type: ignore[no-untyped-def]
    stub,
    *,
    start: datetime,
    aggregation: int = pb.AGGREGATION_SUM,
    prop: str = "units",
    wallet_id: str = "",
    customer_id: str = "",
    fixed_charge: str = "",
    included: str = "",
    fixed_charge_collection: int = 0,
    minimum_commitment: str = "",
    commitment_period: int = 0,
    anchor: datetime | None = None,
    prorate_fixed_charge: bool = False,
    **price_kw,
) -> Setup:
    """A meter, a price, a monthly plan anchored at `anchor` (default `start`) and the customer
    assigned to it from `start`."""
    meter = await make_meter(stub, aggregation, "" if aggregation == pb.AGGREGATION_COUNT else prop)
    if not price_kw:
        price_kw = {"model": pb.PRICING_MODEL_PER_UNIT, "unit_price": "0.5"}
    price = await make_price(stub, meter.meter_id, start, **price_kw)
    plan = (
        await stub.CreatePlan(
            pb.CreatePlanRequest(
                request_id=rid(),
                name="test plan",
                cadence=pb.CADENCE_MONTHLY,
                billing_anchor_time=timestamp(anchor or start),
                fixed_charge=fixed_charge,
                prorate_fixed_charge=prorate_fixed_charge,
                fixed_charge_collection=fixed_charge_collection,
                minimum_commitment=minimum_commitment,
                commitment_period=commitment_period,
                unit="CREDITS",
                prices=[pb.PlanPrice(price_id=price.price_id, included_quantity=included)],
            )
        )
    ).plan
    customer_id = customer_id or f"cust-{rid()[:8]}"
    wallet_id = wallet_id or f"wallet-{customer_id}"
    await stub.AssignPlan(
        pb.AssignPlanRequest(
            request_id=rid(),
            customer_id=customer_id,
            plan_id=plan.plan_id,
            wallet_id=wallet_id,
            start_time=timestamp(start),
        )
    )
    return Setup(meter, price, plan, customer_id, wallet_id)


def event(
    customer_id: str,
    at: datetime,
    event_id: str | None = None,
    type_: str = "api.call",
    **props: str,
) -> pb.Event:
    return pb.Event(
        event_id=event_id or rid(),
        customer_id=customer_id,
        type=type_,
        occurred_time=timestamp(at),
        properties=props,
    )


async def ingest(
    stub, events: list[pb.Event], *, sync: bool = False, request_id: str = ""
) -> pb.IngestEventsResponse:  # type: ignore[no-untyped-def]
    return await stub.IngestEvents(
        pb.IngestEventsRequest(
            request_id=request_id or rid(),
            events=events,
            mode=pb.INGEST_MODE_SYNC if sync else pb.INGEST_MODE_ASYNC,
        )
    )


async def migrated_template(pg_server_uri: str) -> str:
    """A migrated rating database that fresh test databases are copied from."""
    name = f"rating_template_{os.getpid()}"
    await database.ensure_database(pg_server_uri, name)
    await upgrade_async(database.with_database(pg_server_uri, name))
    return name


async def rows(rating, sql: str) -> list[tuple]:  # type: ignore[no-untyped-def,type-arg]
    """The rows a query returns from the rating service's own database (`rating` fixture)."""
    async with rating.rating.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(sql))]


async def close_period(stub, customer_id: str, at: datetime) -> pb.Invoice:  # type: ignore[no-untyped-def]
    """CloseBillingPeriod of the period holding `at`; the final invoice."""
    response = await stub.CloseBillingPeriod(
        pb.CloseBillingPeriodRequest(
            request_id=rid(), customer_id=customer_id, period_time=timestamp(at)
        )
    )
    return response.invoice
