"""Billing periods: half-open [start, end) intervals laid out from an anchor by a cadence.

Monthly (and yearly) periods keep the anchor's day of month, clamped to the month's last day: an
anchor on Jan 31 gives periods starting Feb 28 (or 29), Mar 31, Apr 30, ... Every period is
computed from the anchor (never from the previous period), so clamping never drifts.
Only timezone-aware UTC datetimes go in and out.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Cadence(StrEnum):
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    YEARLY = "YEARLY"


_MONTHS = {Cadence.MONTHLY: 1, Cadence.QUARTERLY: 3, Cadence.YEARLY: 12}
_DAYS = {Cadence.DAILY: 1, Cadence.WEEKLY: 7}


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


def _add_months(anchor: datetime, months: int) -> datetime:
    total = anchor.year * 12 + (anchor.month - 1) + months
    year, month0 = divmod(total, 12)
    day = min(anchor.day, calendar.monthrange(year, month0 + 1)[1])
    return anchor.replace(year=year, month=month0 + 1, day=day)


def period_start(anchor: datetime, cadence: Cadence, index: int) -> datetime:
    """The start of the index-th period from the anchor (index 0 starts at the anchor)."""
    if cadence in _DAYS:
        return anchor + timedelta(days=_DAYS[cadence] * index)
    return _add_months(anchor, _MONTHS[cadence] * index)


def period_index(anchor: datetime, cadence: Cadence, at: datetime) -> int:
    """The index of the period that contains `at` (negative before the anchor)."""
    assert anchor.tzinfo is not None and at.tzinfo is not None, "aware datetimes only"
    if cadence in _DAYS:
        return (at - anchor) // timedelta(days=_DAYS[cadence])
    step = _MONTHS[cadence]
    months = (at.year - anchor.year) * 12 + (at.month - anchor.month)
    index = months // step
    # The estimate is off by at most one in either direction because of day and time of day.
    while period_start(anchor, cadence, index) > at:
        index -= 1
    while period_start(anchor, cadence, index + 1) <= at:
        index += 1
    return index


def period_at(anchor: datetime, cadence: Cadence, at: datetime) -> Period:
    """The billing period that contains `at`."""
    index = period_index(anchor, cadence, at)
    return Period(period_start(anchor, cadence, index), period_start(anchor, cadence, index + 1))
