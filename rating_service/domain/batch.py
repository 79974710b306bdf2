"""Batch rating: which meters each event of a batch counts for, and what accepting the batch
changes (aggregates, unique values, charges). Pure: the caller loads the catalogue, the
aggregates and the unique values seen, under its locks, and stores what comes back.

Events are rated in request order, each from the aggregate the previous one left (the
incremental rule, `rating.rate`). An event is accepted whole or not at all: if any of its
charges is out of the ledger's range, none of it is applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from billing_common.errors import Violation
from billing_common.money import FRACTION_DIGITS_MAX, SIGNIFICANT_DIGITS_MAX
from billing_common.periods import Period
from rating_service.domain.aggregation import EMPTY, AggregateState, Aggregation
from rating_service.domain.charges import NewCharge, charge_out_of_range, ledger_request_id
from rating_service.domain.errors import (
    ChargeOutOfRange,
    CustomerNotFound,
    EventInProgress,
    InsufficientCredits,
    NoPriceInForce,
)
from rating_service.domain.events import ChargeView, EventIn, EventOutcome, EventStatus
from rating_service.domain.meters import Meter, MeterValue, matches, value_of
from rating_service.domain.model import (
    Assignment,
    Plan,
    PriceVersion,
    assignment_at,
    billing_period,
    version_at,
)
from rating_service.domain.rating import Rated, rate
from rating_service.domain.status import EventState, initial_charge_status

# An aggregate: (assignment_id, meter_id, period_start).
AggKey = tuple[str, str, datetime]
# A value a UNIQUE_COUNT aggregate has seen: (*AggKey, value).
UniqueKey = tuple[str, str, datetime, str]


@dataclass(frozen=True, slots=True)
class CatalogueSnapshot:
    """What rating a batch needs of the catalogue, for the batch's customers."""

    assignments: Mapping[str, Sequence[Assignment]]  # by customer id, oldest first
    plans: Mapping[str, Plan]
    versions: Mapping[str, Sequence[PriceVersion]]  # by price id, oldest first
    meters: Mapping[str, Meter]


@dataclass(frozen=True, slots=True)
class Target:
    """One meter an event counts for."""

    meter: Meter
    version: PriceVersion
    included: Decimal
    value: MeterValue
    key: AggKey

    @property
    def unique(self) -> UniqueKey:
        return (*self.key, self.value.unique_key)


@dataclass(frozen=True, slots=True)
class Planned:
    """An event placed: its customer's assignment and period, and the meters it counts for."""

    index: int
    event: EventIn
    occurred: datetime
    assignment: Assignment
    period: Period
    targets: tuple[Target, ...]


@dataclass
class Applied:
    """What accepting one event changed, so a DENY refusal can undo it (synchronous mode)."""

    before: dict[AggKey, tuple[AggregateState, datetime]] = field(default_factory=dict)
    uniques: list[UniqueKey] = field(default_factory=list)
    charges: list[NewCharge] = field(default_factory=list)


@dataclass
class RatedBatch:
    """What accepting the fresh events of a batch changes."""

    outcomes: dict[int, EventOutcome] = field(default_factory=dict)  # by index in the request
    changed: dict[AggKey, tuple[AggregateState, datetime]] = field(default_factory=dict)
    new_uniques: list[UniqueKey] = field(default_factory=list)
    charges: list[NewCharge] = field(default_factory=list)
    applied: dict[int, Applied] = field(default_factory=dict)
    # Events rejected as CHARGE_OUT_OF_RANGE after being inserted: their ids are given back.
    out_of_range: list[str] = field(default_factory=list)
    # Synchronous: events with nothing for the ledger to answer (ACCEPTED at once).
    settled: list[str] = field(default_factory=list)


def plan_event(index: int, e: EventIn, cat: CatalogueSnapshot) -> Planned:
    """Which meters the event counts for, at which price version, in which period."""
    assert e.occurred_time is not None
    at = e.occurred_time
    assignment = assignment_at(list(cat.assignments.get(e.customer_id, [])), at)
    if assignment is None:
        raise CustomerNotFound(
            f"customer {e.customer_id!r} has no plan at {at.isoformat()}",
            violations=[Violation("customer_id", "no plan assignment at occurred_time")],
        )
    plan = cat.plans[assignment.plan_id]
    period = billing_period(plan, assignment, at)
    targets = []
    for plan_price in plan.prices:
        versions = list(cat.versions.get(plan_price.price_id, []))
        meter = cat.meters[versions[0].meter_id]
        if not matches(meter, e.type, e.properties):
            continue
        version = version_at(versions, at)
        if version is None:
            raise NoPriceInForce(
                f"price {plan_price.price_id} of meter {meter.key} has no version in force at "
                f"{at.isoformat()}"
            )
        value = value_of(meter, e.properties)
        key = (assignment.id, meter.id, period.start)
        targets.append(Target(meter, version, plan_price.included_quantity, value, key))
    return Planned(index, e, at, assignment, period, tuple(targets))


def duplicate_outcome(event_id: str, state: EventState | None) -> EventOutcome:
    """The answer for an event id seen before: DUPLICATE of an accepted event; DENIED again for
    one a synchronous refusal undid (the id stays taken: send the usage under a new event id);
    retry later while a synchronous caller still waits for the ledger on it."""
    if state == EventState.HELD:
        error = EventInProgress(
            f"event {event_id!r} is being charged synchronously; send it again shortly"
        )
        return EventOutcome(event_id, EventStatus.REJECTED, error)
    if state == EventState.DENIED:
        denied = InsufficientCredits(f"event {event_id!r} was denied by the ledger before")
        return EventOutcome(event_id, EventStatus.DENIED, denied)
    return EventOutcome(event_id, EventStatus.DUPLICATE)


def unique_candidates(fresh: Sequence[Planned]) -> set[UniqueKey]:
    """The unique values the batch may add: the caller loads which of them were seen."""
    return {
        t.unique
        for p in fresh
        for t in p.targets
        if t.meter.aggregation == Aggregation.UNIQUE_COUNT
    }


def view_of(c: NewCharge) -> ChargeView:
    return ChargeView(
        meter_id=c.meter_id,
        price_id=c.price_id,
        price_version=c.price_version,
        amount=c.amount,
        quantity_before=c.quantity_before,
        quantity_after=c.quantity_after,
        period_start=c.period_start,
        period_end=c.period_end,
        status=c.status,
    )


def rate_batch(
    fresh: Sequence[Planned],
    states: Mapping[AggKey, AggregateState],
    seen: Set[UniqueKey],
    now: datetime,
    *,
    sync: bool,
    sync_hold: timedelta,
) -> RatedBatch:
    """Rate the batch's fresh events (inserted, not duplicates) in order. `states`: the
    aggregates as stored (missing: empty); `seen`: the unique values already counted."""
    states = dict(states)
    seen = set(seen)
    out = RatedBatch()
    for p in fresh:
        # Rate every meter of the event first: an event is accepted whole or not at all.
        rated_all: list[tuple[Target, AggregateState, Rated]] = []
        for t in p.targets:
            before = states.get(t.key, EMPTY)
            rated = rate(
                t.meter.aggregation,
                t.version.pricing,
                before,
                t.value,
                occurred_time=p.occurred,
                event_id=p.event.event_id,
                value_seen=t.meter.aggregation == Aggregation.UNIQUE_COUNT and t.unique in seen,
                included=t.included,
            )
            rated_all.append((t, before, rated))
        too_big = next((r for *_, r in rated_all if charge_out_of_range(r.charge)), None)
        if too_big is not None:
            out.out_of_range.append(p.event.event_id)
            out.outcomes[p.index] = EventOutcome(
                p.event.event_id,
                EventStatus.REJECTED,
                ChargeOutOfRange(
                    f"the charge {too_big.charge} has more than {FRACTION_DIGITS_MAX} "
                    f"fractional or {SIGNIFICANT_DIGITS_MAX} significant digits; the ledger "
                    "cannot book it",
                ),
            )
            continue
        record = Applied()
        for t, before, rated in rated_all:
            if t.meter.aggregation == Aggregation.UNIQUE_COUNT and t.unique not in seen:
                seen.add(t.unique)
                out.new_uniques.append(t.unique)
                record.uniques.append(t.unique)
            record.before.setdefault(t.key, (before, p.period.end))
            states[t.key] = rated.after
            out.changed[t.key] = (rated.after, p.period.end)
            # Synchronous mode holds every non-zero charge (debits and refunds) from the
            # forwarder, so nothing of the event reaches the ledger behind the caller's back
            # while a refusal may still undo it.
            hold = sync and rated.charge != 0
            charge = NewCharge(
                event_id=p.event.event_id,
                meter_id=t.meter.id,
                price_id=t.version.price_id,
                price_version=t.version.version,
                assignment_id=p.assignment.id,
                customer_id=p.event.customer_id,
                wallet_id=p.assignment.wallet_id,
                period_start=p.period.start,
                period_end=p.period.end,
                occurred_time=p.occurred,
                amount=rated.charge,
                quantity_before=before.quantity,
                quantity_after=rated.after.quantity,
                status=initial_charge_status(rated.charge),
                ledger_request_id=ledger_request_id("debit", p.event.event_id, t.meter.key),
                forward_after=now + sync_hold if hold else now,
                create_time=now,
                member_id=p.event.member_id,
            )
            out.charges.append(charge)
            record.charges.append(charge)
        if sync and all(c.amount == 0 for c in record.charges):
            out.settled.append(p.event.event_id)
        out.applied[p.index] = record
        out.outcomes[p.index] = EventOutcome(
            p.event.event_id,
            EventStatus.ACCEPTED,
            charges=tuple(view_of(c) for c in record.charges),
        )
    return out
