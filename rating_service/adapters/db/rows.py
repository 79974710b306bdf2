"""Rows of the rating database as the rest of the service sees them, their mappers, and what
every store shares (a connection, ids, lock keys, statement sizes)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from billing_common.periods import Cadence
from billing_common.rowmap import RowMap
from rating_service.app.records import (
    ChargeRow,
    InvoiceRow,
    NewEvent,
    NewUndo,
    RefundPart,
    StoredPlan,
    StoredPrice,
    UndoRow,
    UsageEvent,
)
from rating_service.domain.meters import Meter
from rating_service.domain.model import Assignment, Plan, PlanPrice, PriceVersion
from rating_service.domain.pricing import Pricing, PricingModel, Tier

ZERO = Decimal(0)


# Rows per multi-row statement: keeps every statement under PostgreSQL's bind-parameter limit
# (charges have 17 columns: 1,000 rows are 17,000 parameters of the 32,767 asyncpg allows).
ROWS_PER_STATEMENT = 1000


def chunks(items: Sequence[Any], size: int = ROWS_PER_STATEMENT) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def new_id() -> str:
    return str(uuid.uuid4())


def lock_key(*parts: object) -> int:
    """A signed 64-bit advisory lock key. Collisions only serialise unrelated work."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _pricing_json(p: Pricing) -> list[dict[str, str | None]]:
    return [
        {
            "up_to": None if t.up_to is None else str(t.up_to),
            "unit_price": str(t.unit_price),
            "flat_price": str(t.flat_price),
        }
        for t in p.tiers
    ]


def _price(row: Any) -> StoredPrice:
    tiers = tuple(
        Tier(
            None if t["up_to"] is None else Decimal(t["up_to"]),
            Decimal(t["unit_price"]),
            Decimal(t["flat_price"]),
        )
        for t in row.tiers
    )
    pricing = Pricing(
        PricingModel(row.model), row.unit_price, row.package_size, row.package_price, tiers
    )
    version = PriceVersion(row.price_id, row.version, row.meter_id, row.effective_time, pricing)
    return StoredPrice(version, row.unit, row.create_time, row.seq)


def _plan(row: Any) -> StoredPlan:
    plan = Plan(
        id=row.id,
        name=row.name,
        cadence=Cadence(row.cadence),
        billing_anchor=row.billing_anchor,
        fixed_charge=row.fixed_charge,
        prices=tuple(PlanPrice(p["price_id"], Decimal(p["included_quantity"])) for p in row.prices),
    )
    return StoredPlan(plan, row.unit, row.create_time)


# Rows derived from their dataclasses (billing_common/rowmap.py): a field is the column of its name.
METER = RowMap(Meter)
ASSIGNMENT = RowMap(Assignment)
INVOICE = RowMap(InvoiceRow)
NEW_EVENT = RowMap(NewEvent)
USAGE_EVENT = RowMap(UsageEvent)
# A charge is read joined with its meter (`meter_key`, `meter_description`: see `charge_of`).
CHARGE = RowMap(ChargeRow, not_stored=("meter_key", "meter_description"))
REFUND_PART = RowMap(RefundPart)
NEW_UNDO = RowMap(NewUndo)
UNDO = RowMap(UndoRow)


def charge_of(row: Any) -> ChargeRow:
    """A charge read with its meter's key and description (labelled so)."""
    return CHARGE.load(row, meter_key=row.meter_key, meter_description=row.meter_description)


class Store:
    """A store works inside its caller's transaction, on its connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
