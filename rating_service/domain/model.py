"""Catalogue types: price versions, plans and plan assignments. Plain frozen dataclasses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing_common.periods import Cadence, Period, period_at
from rating_service.domain.pricing import Pricing

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PriceVersion:
    """One version of a price. A price's versions never overlap: each is in force from its
    effective_time until the next version's."""

    price_id: str
    version: int
    meter_id: str
    effective_time: datetime
    pricing: Pricing


@dataclass(frozen=True, slots=True)
class PlanPrice:
    price_id: str
    included_quantity: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Plan:
    id: str
    name: str
    cadence: Cadence
    # None: periods are anchored at each assignment's start time.
    billing_anchor: datetime | None
    fixed_charge: Decimal
    prices: tuple[PlanPrice, ...]


@dataclass(frozen=True, slots=True)
class Assignment:
    """A customer on a plan from start_time until the next assignment's start."""

    id: str
    customer_id: str
    plan_id: str
    wallet_id: str
    start_time: datetime


def version_at(versions: Sequence[PriceVersion], at: datetime) -> PriceVersion | None:
    """The version in force at `at`: the one with the latest effective_time <= at."""
    best: PriceVersion | None = None
    for v in versions:
        if v.effective_time <= at and (best is None or v.effective_time > best.effective_time):
            best = v
    return best


def assignment_at(assignments: Sequence[Assignment], at: datetime) -> Assignment | None:
    """The customer's assignment in force at `at`: the latest one that started at or before it."""
    best: Assignment | None = None
    for a in assignments:
        if a.start_time <= at and (best is None or a.start_time > best.start_time):
            best = a
    return best


def billing_period(plan: Plan, assignment: Assignment, at: datetime) -> Period:
    """The period of `at` under this assignment. Periods are laid out from the plan's anchor (or
    the assignment start) and the first one starts no earlier than the assignment."""
    anchor = plan.billing_anchor or assignment.start_time
    period = period_at(anchor, plan.cadence, at)
    if period.start < assignment.start_time:
        return Period(assignment.start_time, period.end)
    return period
