"""Catalogue types: price versions, plans and plan assignments. Plain frozen dataclasses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

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


class FixedChargeCollection(StrEnum):
    """How a plan's fixed charge is collected. INVOICE (the default, as before): it is only shown
    on each period's invoice. DEBIT: it is also debited from the wallet at the start of each
    period (`domain/fixed_charges.py`)."""

    INVOICE = "INVOICE"
    DEBIT = "DEBIT"


class CommitmentPeriod(StrEnum):
    """Over which span a plan's minimum commitment is measured (`domain/commitments.py`).
    PER_PERIOD (the default, as before): each billing period. ANNUAL: each commitment year, laid
    out from the assignment's start; the year's shortfall settles on the invoice of the last
    billing period that starts in the year."""

    PER_PERIOD = "PER_PERIOD"
    ANNUAL = "ANNUAL"


@dataclass(frozen=True, slots=True)
class Plan:
    id: str
    name: str
    cadence: Cadence
    # None: periods are anchored at each assignment's start time.
    billing_anchor: datetime | None
    fixed_charge: Decimal
    prices: tuple[PlanPrice, ...]
    fixed_charge_collection: FixedChargeCollection = FixedChargeCollection.INVOICE
    # The usage a period must reach; a shortfall is invoiced as the period's true-up. 0: none.
    minimum_commitment: Decimal = ZERO
    commitment_period: CommitmentPeriod = CommitmentPeriod.PER_PERIOD
    # A first period cut short by the assignment's start pays its share of the fixed charge.
    prorate_fixed_charge: bool = False


@dataclass(frozen=True, slots=True)
class Assignment:
    """A customer on a plan from start_time until the next assignment's start or its own
    end_time (EndPlanAssignment), whichever comes first."""

    id: str
    customer_id: str
    plan_id: str
    wallet_id: str
    start_time: datetime
    # None: it runs on until the next assignment.
    end_time: datetime | None = None


def version_at(versions: Sequence[PriceVersion], at: datetime) -> PriceVersion | None:
    """The version in force at `at`: the one with the latest effective_time <= at."""
    best: PriceVersion | None = None
    for v in versions:
        if v.effective_time <= at and (best is None or v.effective_time > best.effective_time):
            best = v
    return best


def assignment_at(assignments: Sequence[Assignment], at: datetime) -> Assignment | None:
    """The customer's assignment in force at `at`: the latest one that started at or before it,
    unless it ended at or before `at` (then the customer has no plan at `at`)."""
    best: Assignment | None = None
    for a in assignments:
        if a.start_time <= at and (best is None or a.start_time > best.start_time):
            best = a
    if best is not None and best.end_time is not None and best.end_time <= at:
        return None
    return best


def billing_period(plan: Plan, assignment: Assignment, at: datetime) -> Period:
    """The period of `at` under this assignment. Periods are laid out from the plan's anchor (or
    the assignment start); the first one starts no earlier than the assignment and the last one
    ends no later than its end_time."""
    anchor = plan.billing_anchor or assignment.start_time
    period = period_at(anchor, plan.cadence, at)
    start, end = period.start, period.end
    if start < assignment.start_time:
        start = assignment.start_time
    if assignment.end_time is not None and end > assignment.end_time:
        end = assignment.end_time
    return Period(start, end) if (start, end) != (period.start, period.end) else period
