"""A plan's minimum commitment: the span it is measured over and its shortfall. Pure.

PER_PERIOD: every billing period is its own commitment span; its shortfall is its invoice's
true-up. ANNUAL: commitment years are laid out from the assignment's start (every assignment
commits for its own years, so its first year is a whole one whatever the plan's billing anchor).
A billing period counts towards the year in which it starts, so each period belongs to exactly
one year even when periods and years are not aligned (a billing anchor, weekly or daily periods).
The year's shortfall settles once, on the invoice of the last billing period starting in the year
(the period that closes it); invoices of the other periods show the progress (used, remaining)
and no true-up. A year cut short by the assignment's end is not prorated: the commitment is owed
in full and settles on the assignment's last invoice, as the fixed charge of a cut period is.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billing_common.money import exact
from billing_common.periods import Cadence, Period, period_at
from rating_service.domain.model import Assignment, CommitmentPeriod, Plan, billing_period

ZERO = Decimal(0)


@exact
def true_up(minimum_commitment: Decimal, usage_total: Decimal) -> Decimal:
    """The shortfall of usage under a minimum commitment: max(0, commitment - usage). No
    commitment (0) never adds anything."""
    return max(ZERO, minimum_commitment - usage_total)


def commitment_span(plan: Plan, assignment: Assignment, period: Period) -> Period:
    """The commitment span the billing period `period` counts towards: the period itself
    (PER_PERIOD), or the commitment year containing its start (ANNUAL), cut at the assignment's
    end."""
    if plan.commitment_period == CommitmentPeriod.PER_PERIOD:
        return period
    year = period_at(assignment.start_time, Cadence.YEARLY, period.start)
    if assignment.end_time is not None and year.end > assignment.end_time:
        return Period(year.start, assignment.end_time)
    return year


def closes_span(span: Period, period: Period) -> bool:
    """Whether `period` is the last billing period starting in `span`: the next period (which
    starts at this one's end) starts outside it, or there is none (the assignment's end)."""
    return period.end >= span.end


def earlier_periods(plan: Plan, assignment: Assignment, period: Period) -> list[Period]:
    """The billing periods of the assignment that count towards the same commitment span as
    `period` and start before it, oldest first (none under PER_PERIOD)."""
    span = commitment_span(plan, assignment, period)
    out: list[Period] = []
    at = span.start
    while at < period.start:
        p = billing_period(plan, assignment, at)
        if p.start >= span.start:
            out.append(p)
        at = p.end
    return out


@dataclass(frozen=True, slots=True)
class Commitment:
    """Where a billing period stands against its plan's minimum commitment."""

    span: Period
    # Usage of the span up to and including the period.
    used: Decimal
    remaining: Decimal
    # The shortfall settled on this period's invoice (0 unless the period closes the span).
    true_up: Decimal


@exact
def commitment_of(
    plan: Plan,
    assignment: Assignment,
    period: Period,
    usage_total: Decimal,
    earlier_usage: Decimal = ZERO,
) -> Commitment | None:
    """The commitment standing of a billing period with `usage_total` of usage, after
    `earlier_usage` in the span's earlier periods (`earlier_periods`); None without a
    commitment. While the period is open the true-up shown is the shortfall so far."""
    if plan.minimum_commitment <= 0:
        return None
    span = commitment_span(plan, assignment, period)
    used = earlier_usage + usage_total
    remaining = true_up(plan.minimum_commitment, used)
    return Commitment(
        span=span,
        used=used,
        remaining=remaining,
        true_up=remaining if closes_span(span, period) else ZERO,
    )
