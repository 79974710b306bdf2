"""Accepting a batch of events inside the caller's transaction (asynchronous ingest, preview, and
transaction A of synchronous ingest). The rules are the domain's (`domain/batch.py`); this
module loads what they need and stores what they decide, with a fixed number of statements for up
to 1,000 events:

  load catalogue (assignments, plans, price versions, meters) -> invoice rows FOR SHARE (closed
  periods reject) -> INSERT events ON CONFLICT DO NOTHING (the id is the dedup key: a concurrent
  producer with the same id waits for us and then sees DUPLICATE) -> advisory locks on the
  aggregate keys in sorted order -> load aggregates and seen unique values -> rate in memory in
  request order -> upsert aggregates, insert unique values and charges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from billing_common.errors import BillingError, InvalidArgument
from rating_service.app.records import NewEvent
from rating_service.app.stores import RatingStore
from rating_service.domain import tenancy
from rating_service.domain.batch import (
    Applied,
    CatalogueSnapshot,
    Planned,
    duplicate_outcome,
    plan_event,
    rate_batch,
    unique_candidates,
)
from rating_service.domain.errors import (
    ChargeOutOfRange,
    CustomerNotFound,
    EventInProgress,
    EventRejected,
    InsufficientCredits,
    NoPriceInForce,
    PeriodClosed,
)
from rating_service.domain.events import EventIn, EventOutcome, EventStatus, check_event
from rating_service.domain.status import EventState, InvoiceStatus, initial_event_state

# What an event of the batch can be answered with (`EventOutcome.error`; nothing is raised):
# tests/unit/test_use_case_errors.py checks every RAISES against the code.
RAISES = (
    InvalidArgument,
    CustomerNotFound,
    NoPriceInForce,
    EventRejected,
    ChargeOutOfRange,
    PeriodClosed,
    EventInProgress,
    InsufficientCredits,
)


@dataclass(frozen=True, slots=True)
class RatingPolicy:
    """Rules of ingest that come from configuration."""

    # Events that occurred longer ago than this are rejected (EVENT_TOO_OLD).
    grace: timedelta = timedelta(days=3)
    # Events more than this in the future are rejected (EVENT_IN_FUTURE); the ledger allows 5 min.
    future_skew: timedelta = timedelta(minutes=5)
    # Synchronous ingest: how long the forwarder leaves a charge to the synchronous caller.
    sync_hold: timedelta = timedelta(seconds=60)
    batch_size_max: int = 1000
    # Synchronous events in flight at once: each holds a pooled connection across its ledger
    # call, so this must stay below the pool size (main.py sets pool_size - 3, at least 1).
    sync_concurrency_max: int = 8


async def load_catalogue(repo: RatingStore, customer_ids: Sequence[str]) -> CatalogueSnapshot:
    assignments = await repo.assignments_of(customer_ids)
    plan_ids = {a.plan_id for items in assignments.values() for a in items}
    plans = await repo.plans_by_ids(plan_ids)
    price_ids = {p.price_id for sp in plans.values() for p in sp.plan.prices}
    stored = await repo.versions_of(price_ids)
    versions = {pid: [s.version for s in items] for pid, items in stored.items()}
    meter_ids = {v.meter_id for items in versions.values() for v in items}
    meters = await repo.meters_by_ids(meter_ids)
    return CatalogueSnapshot(
        assignments, {pid: sp.plan for pid, sp in plans.items()}, versions, meters
    )


async def accept(
    repo: RatingStore,
    events: Sequence[EventIn],
    now: datetime,
    policy: RatingPolicy,
    *,
    sync: bool = False,
    customers: tenancy.Customers = None,
    backfill: bool = False,
) -> tuple[list[EventOutcome], dict[int, Applied]]:
    """Accept what can be accepted of a batch, inside the caller's transaction: the answer for
    each event, and what accepting each accepted one changed (by index in the batch). An event
    of a customer outside `customers` finds no plan assignment (CUSTOMER_NOT_FOUND, as for a
    customer that does not exist) and writes nothing. `backfill`: no grace window
    (`check_event`); an event of a closed period is still PERIOD_CLOSED."""
    outcomes: dict[int, EventOutcome] = {}
    candidates: list[tuple[int, EventIn]] = []
    for i, e in enumerate(events):
        error = check_event(
            e, now, grace=policy.grace, future_skew=policy.future_skew, backfill=backfill
        )
        if error is None:
            candidates.append((i, e))
        else:
            outcomes[i] = EventOutcome(e.event_id, EventStatus.REJECTED, error)
    cat = await load_catalogue(
        repo,
        sorted({e.customer_id for _, e in candidates if tenancy.may_see(customers, e.customer_id)}),
    )
    planned: list[Planned] = []
    for i, e in candidates:
        try:
            planned.append(plan_event(i, e, cat))
        except BillingError as exc:
            outcomes[i] = EventOutcome(e.event_id, EventStatus.REJECTED, exc)

    periods = {
        (p.assignment.id, p.period.start): (p.assignment.customer_id, p.period.end) for p in planned
    }
    invoices = await repo.ensure_invoices(periods)
    open_planned: list[Planned] = []
    first_seen: set[str] = set()
    for p in planned:
        if invoices[(p.assignment.id, p.period.start)].status == InvoiceStatus.FINAL:
            error = PeriodClosed(
                f"the billing period starting {p.period.start.isoformat()} is closed"
            )
            outcomes[p.index] = EventOutcome(p.event.event_id, EventStatus.REJECTED, error)
        elif p.event.event_id in first_seen:
            outcomes[p.index] = EventOutcome(p.event.event_id, EventStatus.DUPLICATE)
        else:
            first_seen.add(p.event.event_id)
            open_planned.append(p)

    state = initial_event_state(sync)
    inserted = await repo.insert_events(
        [
            NewEvent(
                id=p.event.event_id,
                customer_id=p.event.customer_id,
                type=p.event.type,
                occurred_time=p.occurred,
                properties=dict(p.event.properties),
                assignment_id=p.assignment.id,
                accept_time=now,
                status=state,
            )
            for p in open_planned
        ]
    )
    fresh = [p for p in open_planned if p.event.event_id in inserted]
    repeated = [p for p in open_planned if p.event.event_id not in inserted]
    # Only a batch with duplicates pays this read (the common batch keeps its fixed count).
    statuses = await repo.event_statuses(p.event.event_id for p in repeated)
    for p in repeated:
        stored = statuses.get(p.event.event_id)
        outcomes[p.index] = duplicate_outcome(p.event.event_id, stored)

    keys = {t.key for p in fresh for t in p.targets}
    await repo.lock_aggregates(keys, session=sync)
    states = await repo.load_aggregates(keys)
    seen = await repo.seen_values(unique_candidates(fresh))
    rated = rate_batch(fresh, states, seen, now, sync=sync, sync_hold=policy.sync_hold)
    outcomes.update(rated.outcomes)
    await repo.save_aggregates(rated.changed)
    await repo.insert_unique_values(rated.new_uniques)
    ids = await repo.insert_charges(rated.charges)
    for charge, charge_id in zip(rated.charges, ids, strict=True):
        charge.id = charge_id
    # Rare paths, so the common batch keeps its fixed statement count.
    await repo.forget_events(rated.out_of_range)
    await repo.set_event_status(rated.settled, EventState.ACCEPTED)
    return [outcomes[i] for i in range(len(events))], rated.applied
