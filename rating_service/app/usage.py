"""Usage queries: a meter's aggregate over a customer's events in a range, as a total and as a
series by hour or day, optionally grouped by a property. Recomputed from the events with the same
domain aggregation the rating uses, so usage and charges always agree. At most USAGE_EVENTS_MAX
events per query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing_common.errors import FailedPrecondition, InvalidArgument
from rating_service.app import commands as cmd
from rating_service.app.context import Context
from rating_service.app.records import UsageEvent
from rating_service.app.stores import RatingStore
from rating_service.domain import tenancy
from rating_service.domain.aggregation import EMPTY, AggregateState, Aggregation, apply
from rating_service.domain.errors import CustomerNotFound, MeterNotFound
from rating_service.domain.meters import Meter, matches, value_of
from rating_service.domain.model import assignment_at, billing_period

USAGE_EVENTS_MAX = 100_000
_BUCKET = {"HOUR": timedelta(hours=1), "DAY": timedelta(days=1)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UsageTooLarge(FailedPrecondition):
    reason = "USAGE_RANGE_TOO_LARGE"


# What these use cases can raise (tests/unit/test_use_case_errors.py checks it against the code).
RAISES = (InvalidArgument, CustomerNotFound, MeterNotFound, UsageTooLarge)


def _fold(meter: Meter, rows: list[UsageEvent]) -> Decimal:
    state: AggregateState = EMPTY
    seen: set[str] = set()
    for r in rows:
        try:
            value = value_of(meter, r.properties)
        except InvalidArgument:
            continue  # accepted events always had a valid value; this guards a changed meter
        state = apply(
            meter.aggregation,
            state,
            value=value.number,
            occurred_time=r.occurred_time,
            event_id=r.id,
            value_seen=value.unique_key in seen,
        )
        if meter.aggregation == Aggregation.UNIQUE_COUNT:
            seen.add(value.unique_key)
    return state.quantity


class Usage:
    def __init__(self, context: Context) -> None:
        self.context = context

    async def query(self, q: cmd.UsageQuery, customers: tenancy.Customers) -> cmd.UsageView:
        return await self.context.read(
            lambda repo: usage_of(repo, q, self.context.clock.now(), customers)
        )


async def usage_of(
    repo: RatingStore, q: cmd.UsageQuery, now: datetime, customers: tenancy.Customers = None
) -> cmd.UsageView:
    """A customer outside `customers` has, for this caller, no plan and no events."""
    visible = tenancy.may_see(customers, q.customer_id)
    found = await repo.get_meter(q.meter_id)
    if found is None:
        raise MeterNotFound(f"meter {q.meter_id!r} does not exist")
    meter = found[0]
    if q.start is not None or q.end is not None:
        start = q.start or _EPOCH
        end = q.end or now
    else:
        at = q.period_time or now
        assigned = (await repo.assignments_of([q.customer_id]))[q.customer_id] if visible else []
        assignment = assignment_at(assigned, at)
        if assignment is None:
            raise CustomerNotFound(f"customer {q.customer_id!r} has no plan at {at.isoformat()}")
        plan = (await repo.plans_by_ids([assignment.plan_id]))[assignment.plan_id].plan
        period = billing_period(plan, assignment, at)
        start, end = period.start, period.end
    if end <= start:
        raise InvalidArgument.field(
            "time_range", "end_time must be after start_time", "INVALID_TIME_RANGE"
        )
    rows = (
        await repo.events_in(q.customer_id, meter.event_type, start, end, USAGE_EVENTS_MAX + 1)
        if visible
        else []
    )
    if len(rows) > USAGE_EVENTS_MAX:
        raise UsageTooLarge(f"more than {USAGE_EVENTS_MAX} events; ask for a shorter range")
    rows = [r for r in rows if matches(meter, meter.event_type, r.properties)]
    total = _fold(meter, rows)
    series: list[cmd.UsagePoint] = []
    if q.granularity:
        size = _BUCKET[q.granularity]
        buckets: dict[tuple[datetime, str], list[UsageEvent]] = {}
        for r in rows:
            # Buckets are whole UTC hours or days.
            bucket = _EPOCH + ((r.occurred_time - _EPOCH) // size) * size
            group = r.properties.get(q.group_by, "") if q.group_by else ""
            buckets.setdefault((bucket, group), []).append(r)
        for (bucket, group), items in sorted(buckets.items()):
            series.append(cmd.UsagePoint(bucket, bucket + size, group, _fold(meter, items)))
    return cmd.UsageView(total, start, end, tuple(series))
