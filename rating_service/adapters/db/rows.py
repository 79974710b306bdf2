"""Rows of the rating database as the rest of the service sees them, their mappers, and what
every store shares (a connection, ids, lock keys, statement sizes)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from billing_common.rowmap import RowMap, json_items
from rating_service.app.records import (
    ChargeRow,
    FixedCharge,
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
from rating_service.domain.pricing import Pricing, Tier

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


# Rows derived from their dataclasses (billing_common/rowmap.py): a field is the column of its name.
METER = RowMap(Meter)
ASSIGNMENT = RowMap(Assignment)
INVOICE = RowMap(InvoiceRow)
NEW_EVENT = RowMap(NewEvent)
USAGE_EVENT = RowMap(UsageEvent)
# A charge is read joined with its meter (`meter_key`, `meter_description`: see `charge_of`).
CHARGE = RowMap(ChargeRow, not_stored=("meter_key", "meter_description"))
REFUND_PART = RowMap(RefundPart)
# Price versions and plans hold their tiers and plan prices as JSON arrays of decimal strings.
PRICING = RowMap(Pricing, codecs={"tiers": json_items(Tier)})
PRICE_VERSION = RowMap(PriceVersion, nested={"pricing": PRICING})
PRICE = RowMap(StoredPrice, nested={"version": PRICE_VERSION})
PLAN = RowMap(Plan, codecs={"prices": json_items(PlanPrice)})
STORED_PLAN = RowMap(StoredPlan, nested={"plan": PLAN})
NEW_UNDO = RowMap(NewUndo)
UNDO = RowMap(UndoRow)
FIXED_CHARGE = RowMap(FixedCharge)


def charge_of(row: Any) -> ChargeRow:
    """A charge read with its meter's key and description (labelled so)."""
    return CHARGE.load(row, meter_key=row.meter_key, meter_description=row.meter_description)


class Store:
    """A store works inside its caller's transaction, on its connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
