"""Inputs and outputs of the rating use cases: plain frozen dataclasses (no protobuf)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing_common.periods import Cadence
from rating_service.domain.aggregation import Aggregation
from rating_service.domain.events import ChargeView, EventIn, EventOutcome, EventStatus
from rating_service.domain.model import CommitmentPeriod, FixedChargeCollection, PlanPrice
from rating_service.domain.pricing import Pricing
from rating_service.domain.status import ChargeStatus

# The event types live in the domain; the use cases name them from here too.
__all__ = [
    "ChargeStatus",
    "ChargeView",
    "EventIn",
    "EventOutcome",
    "EventStatus",
    "Idem",
    "NewAssignment",
    "NewMeter",
    "NewPlan",
    "NewPrice",
    "UsagePoint",
    "UsageQuery",
    "UsageView",
]


@dataclass(frozen=True, slots=True)
class Idem:
    """Idempotency of a mutating call: the key and a fingerprint of the request."""

    request_id: str
    method: str
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class NewMeter:
    key: str
    event_type: str
    aggregation: Aggregation
    value_property: str
    filters: Mapping[str, str]
    description: str


@dataclass(frozen=True, slots=True)
class NewPrice:
    price_id: str
    meter_id: str
    unit: str
    pricing: Pricing
    effective_time: datetime | None
    # Backfill (an admin's import of history): effective_time may be in the past.
    backfill: bool = False


@dataclass(frozen=True, slots=True)
class NewPlan:
    name: str
    cadence: Cadence
    billing_anchor: datetime | None
    fixed_charge: Decimal
    unit: str
    prices: tuple[PlanPrice, ...]
    fixed_charge_collection: FixedChargeCollection = FixedChargeCollection.INVOICE
    minimum_commitment: Decimal = Decimal(0)
    commitment_period: CommitmentPeriod = CommitmentPeriod.PER_PERIOD
    prorate_fixed_charge: bool = False


@dataclass(frozen=True, slots=True)
class NewAssignment:
    customer_id: str
    plan_id: str
    wallet_id: str
    start_time: datetime | None
    # Backfill (an admin's import of history): start_time may be in the past.
    backfill: bool = False


@dataclass(frozen=True, slots=True)
class UsageQuery:
    customer_id: str
    meter_id: str
    start: datetime | None
    end: datetime | None
    period_time: datetime | None
    granularity: str  # "", "HOUR" or "DAY"
    group_by: str


@dataclass(frozen=True, slots=True)
class UsagePoint:
    start: datetime
    end: datetime
    group: str
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class UsageView:
    total: Decimal
    start: datetime
    end: datetime
    series: tuple[UsagePoint, ...]
