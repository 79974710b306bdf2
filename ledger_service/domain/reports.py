"""The consumption and revenue reports as pure functions of journal movements.

A *movement* is an allocation of the journal (or a sum of allocations that share everything but
their amount): which entry type booked it, when, on a grant of which kind and cost basis (or on
overage), for which feature, how much (signed: negative takes from the grant or books overage,
positive gives back). The storage adapter sums allocations per bucket in SQL and hands the sums
over as movements timed at their bucket's start; the functions here give the same answer for one
movement per allocation (a property test checks it), so they are the definition of the reports.

How each entry type counts (ledger README "Reports"):
- DEBIT and CAPTURE consume: `-amount` of the grant's kind, or of overage;
- REFUND un-consumes (its allocations are positive) in the refund's own bucket;
- OVERAGE_SETTLEMENT moves consumption from overage (its positive overage allocation) to the kind
  of the grant that paid (its negative grant allocations); it sums to zero;
- EXPIRY is breakage, VOID is voided, GRANT is granted: none of them is consumption;
- HOLD and RELEASE have no allocations; ADJUSTMENT is not booked by any operation.
No time is read here: ranges and buckets are arguments.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, Inexact, localcontext
from enum import StrEnum

from billing_common.money import FRACTION_DIGITS_MAX, MONEY, exact
from ledger_service.domain.model import ZERO, EntryType, GrantKind

# Buckets in one report at most (a year of days, seven years of weeks, 33 years of months).
BUCKETS_MAX = 400

CONSUMING = frozenset(
    {EntryType.DEBIT, EntryType.CAPTURE, EntryType.REFUND, EntryType.OVERAGE_SETTLEMENT}
)


class Bucket(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


def bucket_start(t: datetime, bucket: Bucket) -> datetime:
    """The UTC calendar period `t` falls in: its day, its week (from Monday) or its month."""
    day = t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket is Bucket.DAY:
        return day
    if bucket is Bucket.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_bucket(start: datetime, bucket: Bucket) -> datetime:
    """The start of the period after the one starting at `start` (a bucket start)."""
    if bucket is Bucket.DAY:
        return start + timedelta(days=1)
    if bucket is Bucket.WEEK:
        return start + timedelta(days=7)
    days = calendar.monthrange(start.year, start.month)[1]
    return start + timedelta(days=days)


def periods(start: datetime, end: datetime, bucket: Bucket) -> list[tuple[datetime, datetime]]:
    """The buckets covering [start, end), the first and last cut by the range. At most
    BUCKETS_MAX + 1 (enough for the caller to see the range is too long)."""
    found: list[tuple[datetime, datetime]] = []
    at = start
    while at < end and len(found) <= BUCKETS_MAX:
        upto = min(end, next_bucket(bucket_start(at, bucket), bucket))
        found.append((at, upto))
        at = upto
    return found


@dataclass(frozen=True, slots=True)
class ReportWallet:
    """What a report shows of a wallet; `seq` is its place in the listing (the page cursor)."""

    seq: int
    id: str
    customer_id: str
    unit: str


@dataclass(frozen=True, slots=True)
class Movement:
    """Allocations summed: one entry type, one bucket (or instant), one grant kind and cost basis
    (kind None: overage, no cost basis), one feature, one wallet."""

    wallet_id: str
    time: datetime
    entry_type: EntryType
    kind: GrantKind | None
    amount: Decimal
    feature: str = ""
    unit_price: Decimal = ZERO
    currency: str = ""


@dataclass(frozen=True, slots=True)
class Consumption:
    prepaid: Decimal = ZERO
    promotional: Decimal = ZERO
    overage: Decimal = ZERO

    @property
    @exact
    def total(self) -> Decimal:
        return self.prepaid + self.promotional + self.overage

    @exact
    def __add__(self, other: Consumption) -> Consumption:
        return Consumption(
            self.prepaid + other.prepaid,
            self.promotional + other.promotional,
            self.overage + other.overage,
        )


def consumed(m: Movement) -> Consumption:
    """What one movement adds to consumption (zero for entries that do not consume)."""
    if m.entry_type not in CONSUMING:
        return Consumption()
    taken = -m.amount
    if m.kind is None:
        return Consumption(overage=taken)
    if m.kind is GrantKind.PREPAID:
        return Consumption(prepaid=taken)
    return Consumption(promotional=taken)


@dataclass(frozen=True, slots=True)
class ConsumptionBucket:
    start: datetime
    end: datetime
    consumption: Consumption = Consumption()
    features: dict[str, Consumption] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConsumptionReport:
    buckets: tuple[ConsumptionBucket, ...]
    total: Consumption
    features: dict[str, Consumption]
    burn_rate_per_day: Decimal
    burn_rate_per_week: Decimal


def _add(into: dict[str, Consumption], key: str, value: Consumption) -> None:
    into[key] = into.get(key, Consumption()) + value


def _index(spans: list[tuple[datetime, datetime]], bucket: Bucket) -> dict[datetime, int]:
    """Each span by the start of the calendar period it lies in (spans are cut periods)."""
    return {bucket_start(s, bucket): i for i, (s, _) in enumerate(spans)}


def burn_rate_per_day(consumed_total: Decimal, start: datetime, end: datetime) -> Decimal:
    """Consumed over [start, end) / the range's length in days, rounded half-even to 18
    fractional digits (the only rounding in the reports: a rate, not an amount booked)."""
    span_us = (end - start) // timedelta(microseconds=1)
    with localcontext(MONEY) as ctx:
        ctx.traps[Inexact] = False
        rate = consumed_total * Decimal(86_400_000_000) / Decimal(span_us)
        return rate.quantize(Decimal(1).scaleb(-FRACTION_DIGITS_MAX), rounding=ROUND_HALF_EVEN)


def consumption_report(
    movements: Iterable[Movement], start: datetime, end: datetime, bucket: Bucket
) -> ConsumptionReport:
    """One wallet's consumption over [start, end) per bucket and per feature, and its burn rate.
    Movements outside the range are left out."""
    spans = periods(start, end, bucket)
    index = _index(spans, bucket)
    per_bucket = [Consumption() for _ in spans]
    per_feature: list[dict[str, Consumption]] = [{} for _ in spans]
    for m in movements:
        if not start <= m.time < end:
            continue
        value = consumed(m)
        if value == Consumption():
            continue
        i = index[bucket_start(m.time, bucket)]
        per_bucket[i] = per_bucket[i] + value
        _add(per_feature[i], m.feature, value)
    total = sum(per_bucket, Consumption())
    features: dict[str, Consumption] = {}
    for found in per_feature:
        for name, value in found.items():
            _add(features, name, value)
    daily = burn_rate_per_day(total.total, start, end)
    return ConsumptionReport(
        buckets=tuple(
            ConsumptionBucket(s, e, c, dict(sorted(f.items())))
            for (s, e), c, f in zip(spans, per_bucket, per_feature, strict=True)
        ),
        total=total,
        features=dict(sorted(features.items())),
        burn_rate_per_day=daily,
        burn_rate_per_week=_times(daily, 7),
    )


@exact
def _times(value: Decimal, factor: int) -> Decimal:
    return value * factor


# -- revenue ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RevenueFigures:
    """One period of one (currency, unit): credits and their value at cost basis."""

    prepaid_consumed: Decimal = ZERO
    revenue_recognized: Decimal = ZERO
    prepaid_expired: Decimal = ZERO
    breakage: Decimal = ZERO
    prepaid_voided: Decimal = ZERO
    voided_value: Decimal = ZERO
    prepaid_granted: Decimal = ZERO
    granted_value: Decimal = ZERO
    prepaid_unused: Decimal = ZERO
    deferred_revenue: Decimal = ZERO
    promotional_consumed: Decimal = ZERO
    promotional_cost: Decimal = ZERO

    @exact
    def __add__(self, other: RevenueFigures) -> RevenueFigures:
        return RevenueFigures(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(RevenueFigures))
        )


@exact
def _figures(m: Movement) -> RevenueFigures:
    """What one movement adds to its period's figures (prepaid_unused: to the balance after)."""
    credits = -m.amount  # credits leaving the grant
    value = credits * m.unit_price
    if m.kind is None:  # overage: no grant, no cost basis; revenue comes when a grant settles it
        return RevenueFigures()
    if m.kind is GrantKind.PROMOTIONAL:
        if m.entry_type not in CONSUMING:
            return RevenueFigures()
        return RevenueFigures(promotional_consumed=credits, promotional_cost=value)
    unused = RevenueFigures(prepaid_unused=-credits, deferred_revenue=-value)
    if m.entry_type in CONSUMING:
        moved = RevenueFigures(prepaid_consumed=credits, revenue_recognized=value)
    elif m.entry_type is EntryType.EXPIRY:
        moved = RevenueFigures(prepaid_expired=credits, breakage=value)
    elif m.entry_type is EntryType.VOID:
        moved = RevenueFigures(prepaid_voided=credits, voided_value=value)
    elif m.entry_type is EntryType.GRANT:
        moved = RevenueFigures(prepaid_granted=-credits, granted_value=-value)
    else:
        moved = RevenueFigures()
    return unused + moved


Key = tuple[str, str]  # (currency, unit)


@dataclass(frozen=True, slots=True)
class RevenuePeriod:
    start: datetime
    end: datetime
    figures: dict[Key, RevenueFigures]


def revenue_report(
    opening: Iterable[tuple[Movement, str]],
    movements: Iterable[tuple[Movement, str]],
    start: datetime,
    end: datetime,
    bucket: Bucket,
) -> list[RevenuePeriod]:
    """Revenue per period of [start, end) and per (currency, unit), from the movements booked in
    the range and the `opening` ones (everything booked before `start`, which only makes the
    unused balance the range starts with). Each movement comes with its wallet's unit.

    prepaid_unused and deferred_revenue are balances at each period's end; everything else is
    what the period's movements did. So, per (currency, unit):
    unused(end) = unused(start) + granted - consumed - expired - voided (credits and values)."""
    spans = periods(start, end, bucket)
    index = _index(spans, bucket)
    balance: dict[Key, RevenueFigures] = {}
    for m, unit in opening:
        f = _figures(m)
        key = (m.currency, unit)
        balance[key] = balance.get(key, RevenueFigures()) + RevenueFigures(
            prepaid_unused=f.prepaid_unused, deferred_revenue=f.deferred_revenue
        )
    moved: list[dict[Key, RevenueFigures]] = [{} for _ in spans]
    for m, unit in movements:
        if not start <= m.time < end:
            continue
        i = index[bucket_start(m.time, bucket)]
        key = (m.currency, unit)
        moved[i][key] = moved[i].get(key, RevenueFigures()) + _figures(m)
    result = []
    for (s, e), changes in zip(spans, moved, strict=True):
        figures: dict[Key, RevenueFigures] = {}
        for key in sorted(set(balance) | set(changes)):
            change = changes.get(key, RevenueFigures())
            before = balance.get(key, RevenueFigures())
            after = change + RevenueFigures(
                prepaid_unused=before.prepaid_unused, deferred_revenue=before.deferred_revenue
            )
            balance[key] = RevenueFigures(
                prepaid_unused=after.prepaid_unused, deferred_revenue=after.deferred_revenue
            )
            figures[key] = after
        result.append(RevenuePeriod(s, e, figures))
    return result
