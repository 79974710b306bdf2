"""Ingest: record events, update aggregates and write pending charges in one transaction.

Asynchronous batch (one transaction, a fixed number of round trips for up to 1,000 events):
  claim request_id -> load catalogue (assignments, plans, price versions, meters) -> invoice rows
  FOR SHARE (closed periods reject) -> INSERT events ON CONFLICT DO NOTHING (the id is the dedup
  key: a concurrent producer with the same id waits for us and then sees DUPLICATE) -> advisory
  locks on the aggregate keys in sorted order -> load aggregates and seen unique values -> rate in
  memory in request order -> upsert aggregates, insert unique values and charges -> store the
  response.

Synchronous: the request_id is claimed first, in a transaction of its own, as in progress (a retry
meanwhile is told UNAVAILABLE, retry later). Then per event: the same transaction commits the
event (HELD), aggregate and PENDING charges (all of them held from the forwarder) while a
session-level advisory lock keeps the aggregates to us; then the ledger is asked; then a second
transaction acknowledges the charges, or, on a DENY refusal of any of them, puts the aggregates
back as they were (nobody else could change them meanwhile), removes its charges, keeps the event
as DENIED (never deleted, so a duplicate can never be told DUPLICATE for usage that was then
thrown away) and records a refund owed for each debit the ledger booked on the other meters, all
in one transaction; those refunds are tried at once and, failing that, delivered by the
forwarder until acknowledged. A crash between A and B leaves PENDING charges the forwarder
delivers after `sync_hold`: nothing is lost and the request id derived from the event id keeps
the ledger from booking it twice. A retry finds the holder gone when its session advisory locks
are free (the request's, the event's aggregates') and takes the request or event over at once
(`ingest_sync`, `_take_over`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from billing_common.errors import BillingError, InvalidArgument, Violation
from billing_common.money import (
    FRACTION_DIGITS_MAX,
    SIGNIFICANT_DIGITS_MAX,
    exact,
    format_amount,
    parse_amount,
)
from billing_common.periods import Period
from billing_common.transactions import RETRIES_MAX, retryable
from rating_service.adapters.db.repository import (
    AggKey,
    ChargeRow,
    Claim,
    RatingRepository,
    StoredPlan,
)
from rating_service.app import commands as cmd
from rating_service.app.failures import report_failed
from rating_service.app.ports import Booked, DebitItem, LedgerUnavailable, Refused
from rating_service.app.split import split_of
from rating_service.domain.aggregation import EMPTY, AggregateState, Aggregation
from rating_service.domain.errors import (
    ChargeOutOfRange,
    CustomerNotFound,
    EventInProgress,
    EventRejected,
    InsufficientCredits,
    NoPriceInForce,
    PeriodClosed,
)
from rating_service.domain.meters import Meter, MeterValue, matches, value_of
from rating_service.domain.model import (
    Assignment,
    PriceVersion,
    assignment_at,
    billing_period,
    version_at,
)
from rating_service.domain.rating import rate

if TYPE_CHECKING:
    from rating_service.app.service import RatingApp, RatingPolicy

log = structlog.get_logger(__name__)

# Event ids, customer ids and event types (and a meter's event_type, which names the same thing).
ID_CHARS_MAX = 128
PROPERTIES_MAX = 50
PROPERTY_CHARS_MAX = 1000


LEDGER_REQUEST_ID_MAX = 128
# What a ledger request id asks for: a charge's debit, a refund part of a negative charge, or the
# refund of a debit booked by a synchronous call whose event was then denied on another meter.
LEDGER_KINDS = frozenset({"debit", "refund", "undo"})


def ledger_request_id(kind: str, event_id: str, meter_key: str, *rest: str) -> str:
    """The ledger request id of an event's charge on a meter (and of its refunds): derived from
    the event, so every retry names the same ledger request and nothing is booked twice.

    `rating:<kind>:<len(event_id)>:<event_id>:<meter_key>[:<rest>]`: the kind comes first and the
    event id is length-prefixed (meter keys have no ':'), so two different charges can never
    spell the same text. When longer than the ledger's 128 characters: a SHA-256 of that text."""
    assert kind in LEDGER_KINDS, kind
    readable = ":".join(("rating", kind, str(len(event_id)), event_id, meter_key, *rest))
    if len(readable) <= LEDGER_REQUEST_ID_MAX:
        return readable
    return "rating:sha256:" + hashlib.sha256(readable.encode()).hexdigest()


@exact
def charge_out_of_range(amount: Decimal) -> bool:
    """Whether the ledger could never accept this charge: money has at most 18 fractional and 38
    significant digits (SPEC "Money"). Prices are exact, so a product of a quantity and a price
    can have more; such an event is rejected (CHARGE_OUT_OF_RANGE) rather than rounded."""
    try:
        # format_amount drops trailing fractional zeros: 0.10 * 0.10 = 0.0100 is 0.01, in range.
        parse_amount(format_amount(abs(amount)), "amount", allow_zero=True)
    except InvalidArgument:
        return True
    return False


@dataclass(frozen=True, slots=True)
class Target:
    meter: Meter
    version: PriceVersion
    included: Decimal
    value: MeterValue
    key: AggKey


@dataclass(frozen=True, slots=True)
class Planned:
    index: int
    event: cmd.EventIn
    occurred: datetime
    assignment: Assignment
    period: Period
    targets: tuple[Target, ...]


@dataclass
class Applied:
    """What accepting one event changed, so a DENY refusal can undo it (synchronous mode)."""

    before: dict[AggKey, tuple[AggregateState, datetime]] = field(default_factory=dict)
    uniques: list[tuple[str, str, datetime, str]] = field(default_factory=list)
    charge_rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Catalogue:
    assignments: dict[str, list[Assignment]]
    plans: dict[str, StoredPlan]
    versions: dict[str, list[PriceVersion]]
    meters: dict[str, Meter]


def check_event(e: cmd.EventIn, now: datetime, policy: RatingPolicy) -> BillingError | None:
    """Checks that need nothing but the event and the time."""
    if e.error is not None:
        return e.error
    for name, value in (("event_id", e.event_id), ("customer_id", e.customer_id), ("type", e.type)):
        if not value:
            return InvalidArgument.field(name, "is required", "MISSING_FIELD")
        if len(value) > ID_CHARS_MAX:
            return InvalidArgument.field(name, f"at most {ID_CHARS_MAX} characters", "INVALID_ID")
    if e.occurred_time is None:
        return InvalidArgument.field("occurred_time", "is required", "MISSING_FIELD")
    if len(e.properties) > PROPERTIES_MAX:
        return InvalidArgument.field("properties", f"at most {PROPERTIES_MAX}", "INVALID_PROPERTY")
    for k, v in e.properties.items():
        if not k or len(k) > PROPERTY_CHARS_MAX or len(v) > PROPERTY_CHARS_MAX:
            return InvalidArgument.field(
                f"properties[{k}]",
                f"names and values up to {PROPERTY_CHARS_MAX} characters",
                "INVALID_PROPERTY",
            )
    if e.occurred_time > now + policy.future_skew:
        return EventRejected(
            f"occurred_time is more than {policy.future_skew} in the future",
            reason="EVENT_IN_FUTURE",
            violations=[Violation("occurred_time", "too far in the future")],
        )
    if e.occurred_time < now - policy.grace:
        return EventRejected(
            f"occurred_time is older than the rating grace window ({policy.grace})",
            reason="EVENT_TOO_OLD",
            violations=[Violation("occurred_time", "older than the grace window")],
        )
    return None


async def load_catalogue(repo: RatingRepository, customer_ids: Sequence[str]) -> Catalogue:
    assignments = await repo.assignments_of(customer_ids)
    plan_ids = {a.plan_id for items in assignments.values() for a in items}
    plans = await repo.plans_by_ids(plan_ids)
    price_ids = {p.price_id for sp in plans.values() for p in sp.plan.prices}
    stored = await repo.versions_of(price_ids)
    versions = {pid: [s.version for s in items] for pid, items in stored.items()}
    meter_ids = {v.meter_id for items in versions.values() for v in items}
    meters = await repo.meters_by_ids(meter_ids)
    return Catalogue(assignments, plans, versions, meters)


def plan_event(index: int, e: cmd.EventIn, cat: Catalogue) -> Planned:
    """Which meters the event counts for, at which price version, in which period."""
    assert e.occurred_time is not None
    at = e.occurred_time
    assignment = assignment_at(cat.assignments.get(e.customer_id, []), at)
    if assignment is None:
        raise CustomerNotFound(
            f"customer {e.customer_id!r} has no plan at {at.isoformat()}",
            violations=[Violation("customer_id", "no plan assignment at occurred_time")],
        )
    plan = cat.plans[assignment.plan_id].plan
    period = billing_period(plan, assignment, at)
    targets = []
    for plan_price in plan.prices:
        versions = cat.versions.get(plan_price.price_id, [])
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


def duplicate_outcome(event_id: str, status: str | None) -> cmd.EventOutcome:
    """The answer for an event id seen before: DUPLICATE of an accepted event; DENIED again for
    one a synchronous refusal undid (the id stays taken: send the usage under a new event id);
    retry later while a synchronous caller still waits for the ledger on it."""
    if status == "HELD":
        error = EventInProgress(
            f"event {event_id!r} is being charged synchronously; send it again shortly"
        )
        return cmd.EventOutcome(event_id, cmd.EventStatus.REJECTED, error)
    if status == "DENIED":
        denied = InsufficientCredits(f"event {event_id!r} was denied by the ledger before")
        return cmd.EventOutcome(event_id, cmd.EventStatus.DENIED, denied)
    return cmd.EventOutcome(event_id, cmd.EventStatus.DUPLICATE)


def _view(row: dict[str, Any]) -> cmd.ChargeView:
    return cmd.ChargeView(
        meter_id=row["meter_id"],
        price_id=row["price_id"],
        price_version=row["price_version"],
        amount=row["amount"],
        quantity_before=row["quantity_before"],
        quantity_after=row["quantity_after"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        status=cmd.ChargeStatus(row["status"]),
        ledger_entry_id=row.get("ledger_entry_id", ""),
    )


class Ingestor:
    def __init__(self, app: RatingApp, policy: RatingPolicy) -> None:
        self.app = app
        self.policy = policy
        # Each synchronous event holds a pooled connection across its ledger call (see
        # `_sync_one`); this bound leaves the rest of the pool to everything else.
        self.sync_slots = asyncio.Semaphore(policy.sync_concurrency_max)

    async def accept(
        self,
        repo: RatingRepository,
        events: Sequence[cmd.EventIn],
        now: datetime,
        *,
        sync: bool = False,
    ) -> tuple[list[cmd.EventOutcome], dict[int, Applied]]:
        """Accept what can be accepted of a batch, inside the caller's transaction."""
        outcomes: dict[int, cmd.EventOutcome] = {}
        candidates: list[tuple[int, cmd.EventIn]] = []
        for i, e in enumerate(events):
            error = check_event(e, now, self.policy)
            if error is None:
                candidates.append((i, e))
            else:
                outcomes[i] = cmd.EventOutcome(e.event_id, cmd.EventStatus.REJECTED, error)
        cat = await load_catalogue(repo, sorted({e.customer_id for _, e in candidates}))
        planned: list[Planned] = []
        for i, e in candidates:
            try:
                planned.append(plan_event(i, e, cat))
            except BillingError as exc:
                outcomes[i] = cmd.EventOutcome(e.event_id, cmd.EventStatus.REJECTED, exc)

        periods = {
            (p.assignment.id, p.period.start): (p.assignment.customer_id, p.period.end)
            for p in planned
        }
        invoices = await repo.ensure_invoices(periods)
        open_planned: list[Planned] = []
        first_seen: set[str] = set()
        for p in planned:
            if invoices[(p.assignment.id, p.period.start)].status == "FINAL":
                error = PeriodClosed(
                    f"the billing period starting {p.period.start.isoformat()} is closed"
                )
                outcomes[p.index] = cmd.EventOutcome(
                    p.event.event_id, cmd.EventStatus.REJECTED, error
                )
            elif p.event.event_id in first_seen:
                outcomes[p.index] = cmd.EventOutcome(p.event.event_id, cmd.EventStatus.DUPLICATE)
            else:
                first_seen.add(p.event.event_id)
                open_planned.append(p)

        inserted = await repo.insert_events(
            [
                {
                    "id": p.event.event_id,
                    "customer_id": p.event.customer_id,
                    "type": p.event.type,
                    "occurred_time": p.occurred,
                    "properties": dict(p.event.properties),
                    "assignment_id": p.assignment.id,
                    "accept_time": now,
                    # HELD keeps duplicates from being told DUPLICATE while a synchronous caller
                    # may still undo the event (DENIED); see `duplicate_outcome`.
                    "status": "HELD" if sync else "ACCEPTED",
                }
                for p in open_planned
            ]
        )
        fresh = [p for p in open_planned if p.event.event_id in inserted]
        repeated = [p for p in open_planned if p.event.event_id not in inserted]
        # Only a batch with duplicates pays this read (the common batch keeps its fixed count).
        statuses = await repo.event_statuses(p.event.event_id for p in repeated)
        for p in repeated:
            outcomes[p.index] = duplicate_outcome(p.event.event_id, statuses.get(p.event.event_id))

        keys = {t.key for p in fresh for t in p.targets}
        await repo.lock_aggregates(keys, session=sync)
        states = await repo.load_aggregates(keys)
        unique_candidates = {
            (*t.key, t.value.unique_key)
            for p in fresh
            for t in p.targets
            if t.meter.aggregation == Aggregation.UNIQUE_COUNT
        }
        seen = await repo.seen_values(unique_candidates)

        changed: dict[AggKey, tuple[AggregateState, datetime]] = {}
        new_uniques: list[tuple[str, str, datetime, str]] = []
        charge_rows: list[dict[str, Any]] = []
        applied: dict[int, Applied] = {}
        out_of_range: list[str] = []
        settled: list[str] = []  # synchronous: events with nothing for the ledger to answer
        for p in fresh:
            # Rate every meter of the event first: an event is accepted whole or not at all.
            rated_all = []
            for t in p.targets:
                unique = (*t.key, t.value.unique_key)
                is_unique = t.meter.aggregation == Aggregation.UNIQUE_COUNT
                before = states.get(t.key, EMPTY)
                rated = rate(
                    t.meter.aggregation,
                    t.version.pricing,
                    before,
                    t.value,
                    occurred_time=p.occurred,
                    event_id=p.event.event_id,
                    value_seen=is_unique and unique in seen,
                    included=t.included,
                )
                rated_all.append((t, before, unique, is_unique, rated))
            too_big = next((r for *_, r in rated_all if charge_out_of_range(r.charge)), None)
            if too_big is not None:
                out_of_range.append(p.event.event_id)
                outcomes[p.index] = cmd.EventOutcome(
                    p.event.event_id,
                    cmd.EventStatus.REJECTED,
                    ChargeOutOfRange(
                        f"the charge {too_big.charge} has more than {FRACTION_DIGITS_MAX} "
                        f"fractional or {SIGNIFICANT_DIGITS_MAX} significant digits; the ledger "
                        "cannot book it",
                    ),
                )
                continue
            record = Applied()
            for t, before, unique, is_unique, rated in rated_all:
                if is_unique and unique not in seen:
                    seen.add(unique)
                    new_uniques.append(unique)
                    record.uniques.append(unique)
                record.before.setdefault(t.key, (before, p.period.end))
                states[t.key] = rated.after
                changed[t.key] = (rated.after, p.period.end)
                # Synchronous mode holds every non-zero charge (debits and refunds) from the
                # forwarder, so nothing of the event reaches the ledger behind the caller's back
                # while a refusal may still undo it.
                hold = sync and rated.charge != 0
                row = {
                    "event_id": p.event.event_id,
                    "meter_id": t.meter.id,
                    "price_id": t.version.price_id,
                    "price_version": t.version.version,
                    "assignment_id": p.assignment.id,
                    "customer_id": p.event.customer_id,
                    "wallet_id": p.assignment.wallet_id,
                    "period_start": p.period.start,
                    "period_end": p.period.end,
                    "occurred_time": p.occurred,
                    "amount": rated.charge,
                    "quantity_before": before.quantity,
                    "quantity_after": rated.after.quantity,
                    "status": "PENDING" if rated.charge != 0 else "ACKNOWLEDGED",
                    "ledger_request_id": ledger_request_id("debit", p.event.event_id, t.meter.key),
                    "forward_after": now + self.policy.sync_hold if hold else now,
                    "create_time": now,
                }
                charge_rows.append(row)
                record.charge_rows.append(row)
            if sync and all(r["amount"] == 0 for r in record.charge_rows):
                settled.append(p.event.event_id)
            applied[p.index] = record
            outcomes[p.index] = cmd.EventOutcome(
                p.event.event_id,
                cmd.EventStatus.ACCEPTED,
                charges=tuple(_view(r) for r in record.charge_rows),
            )
        await repo.save_aggregates(changed)
        await repo.insert_unique_values(new_uniques)
        ids = await repo.insert_charges(charge_rows)
        for row, charge_id in zip(charge_rows, ids, strict=True):
            row["id"] = charge_id
        # Rare paths, so the common batch keeps its fixed statement count.
        await repo.forget_events(out_of_range)
        await repo.set_event_status(settled, "ACCEPTED")
        return [outcomes[i] for i in range(len(events))], applied

    async def ingest_async(
        self,
        repo: RatingRepository,
        events: Sequence[cmd.EventIn],
        encode: Callable[[list[cmd.EventOutcome]], bytes],
    ) -> bytes:
        outcomes, _ = await self.accept(repo, events, self.app.clock.now())
        return encode(outcomes)

    async def preview(self, event: cmd.EventIn) -> cmd.EventOutcome:
        """Run the real accept path in a transaction that is always rolled back."""
        async with self.app.engine.connect() as conn:
            tx = await conn.begin()
            try:
                outcomes, _ = await self.accept(
                    RatingRepository(conn), [event], self.app.clock.now()
                )
            finally:
                await tx.rollback()
        return outcomes[0]

    # -- synchronous mode -------------------------------------------------------------------

    async def ingest_sync(
        self,
        idem: cmd.Idem,
        events: Sequence[cmd.EventIn],
        encode: Callable[[list[cmd.EventOutcome]], bytes],
    ) -> bytes:
        """Claim the request_id first, committed on its own and marked in progress, so a retry
        while we wait for the ledger is told to retry later (never answered from half the work)
        and another request with the same id is refused before anything is written.

        The request keeps one connection, and on it a session advisory lock on its request id
        from before the claim until it is done (`try_lock_request`). A retry that finds that lock
        held is told REQUEST_IN_PROGRESS; one that takes the lock knows any claim still in
        progress has lost its holder (a restart or a crash ended that session, and the lock with
        it) and takes the request over at once. The semaphore keeps synchronous calls from
        taking the whole pool."""
        from rating_service.app.service import check_replay

        def lease() -> datetime:
            return self.app.clock.now() + self.policy.sync_hold

        async with self.sync_slots, self.app.engine.connect() as conn:
            repo = RatingRepository(conn)
            try:
                alone = await repo.try_lock_request(idem.request_id)
                await conn.commit()
                if not alone:
                    # Held by a live session: never raced; answered from what is stored.
                    found = await repo.stored_claim(idem.request_id)
                    await conn.commit()
                    return check_replay(found or Claim(False, idem.method, idem.fingerprint), idem)
                async with conn.begin():
                    claim = await repo.claim_with_lease(
                        idem.request_id,
                        idem.method,
                        idem.fingerprint,
                        self.app.clock.now(),
                        lease(),
                        holder_gone=True,
                    )
                    if not claim.claimed:
                        return check_replay(claim, idem)
                try:
                    outcomes = [
                        await self._sync_one(repo, e, idem.request_id, lease) for e in events
                    ]
                    response = encode(outcomes)
                    async with conn.begin():
                        await repo.store_response(idem.request_id, response)
                except BaseException:
                    # Free the request_id so the caller's retry runs again (events already
                    # decided answer as duplicates, DENIED or in progress), while the request
                    # lock is still ours. If our session died, so did the lock: a retry takes
                    # the claim over anyway.
                    with contextlib.suppress(Exception):
                        await asyncio.shield(release_claim(repo, idem.request_id))
                    raise
                return response
            finally:
                await end_session(conn)

    async def _sync_one(
        self,
        repo: RatingRepository,
        event: cmd.EventIn,
        request_id: str,
        lease: Callable[[], datetime],
    ) -> cmd.EventOutcome:
        # The connection (and its session advisory locks) stays ours across the ledger call:
        # undoing a refusal needs the aggregates untouched meanwhile.
        try:
            outcomes, applied = await self._accept_one(repo, event, request_id, lease)
            outcome = outcomes[0]
            if isinstance(outcome.error, EventInProgress):
                return await self._take_over(repo, outcome)
            if outcome.status != cmd.EventStatus.ACCEPTED:
                return outcome
            return await self._charge_now(repo, outcome, applied[0])
        finally:
            await end_event(repo)

    async def _take_over(
        self, repo: RatingRepository, outcome: cmd.EventOutcome
    ) -> cmd.EventOutcome:
        """An event still HELD by a synchronous call: if that call is gone (every aggregate lock
        it held until deciding the event is free, so its session died: a restart or a crash),
        decide the event now instead of after `sync_hold`, as the forwarder would then: its
        PENDING debits go to the ledger under their derived request ids (so one the dead call
        already booked is answered with the same entry, never booked twice), the answers are
        recorded and the event is ACCEPTED. A refusal is not undone (what the aggregates were
        before is not known to us, and others may have counted on them since): the refused
        charge is DENIED on the invoice, as in asynchronous mode. Otherwise: still in progress."""
        event_id = outcome.event_id
        charges = await repo.charges_of_event(event_id)
        taken = await repo.try_lock_aggregates({c.key for c in charges})
        await repo.conn.commit()
        if not taken:
            return outcome
        async with repo.conn.begin():
            status = (await repo.event_statuses([event_id], lock=True)).get(event_id)
            if status != "HELD":
                return duplicate_outcome(event_id, status)
            charges = await repo.charges_of_event(event_id, lock=True)
        log.warning("sync_event_taken_over", event_id=event_id)
        rows = [charge_row(c) for c in charges]
        taken_over = cmd.EventOutcome(
            event_id, cmd.EventStatus.ACCEPTED, charges=tuple(charge_view(c) for c in charges)
        )
        return await self._charge_now(repo, taken_over, Applied(charge_rows=rows), undo=False)

    async def _accept_one(
        self,
        repo: RatingRepository,
        event: cmd.EventIn,
        request_id: str,
        lease: Callable[[], datetime],
    ) -> tuple[list[cmd.EventOutcome], dict[int, Applied]]:
        """Transaction A of synchronous mode, retried on deadlock or serialization failure."""
        for attempt in range(RETRIES_MAX):
            try:
                async with repo.conn.begin():
                    await repo.renew_lease(request_id, lease())
                    return await self.accept(repo, [event], self.app.clock.now(), sync=True)
            except DBAPIError as exc:
                if not retryable(exc) or attempt == RETRIES_MAX - 1:
                    raise
                await repo.unlock_aggregates()
                await repo.conn.commit()
        raise AssertionError("unreachable")

    async def _charge_now(
        self,
        repo: RatingRepository,
        outcome: cmd.EventOutcome,
        applied: Applied,
        *,
        undo: bool = True,
    ) -> cmd.EventOutcome:
        """Ask the ledger for the event's PENDING debits and record its answers (transaction B);
        on a DENY refusal undo the event (unless `undo` is False: see `_take_over`)."""
        event_id = outcome.event_id
        debits = [r for r in applied.charge_rows if r["amount"] > 0 and r["status"] == "PENDING"]
        if not debits:
            # Refunds only (or nothing): they are the forwarder's, from now on.
            async with repo.conn.begin():
                await repo.hold_charges(event_id, self.app.clock.now())
                await repo.set_event_status([event_id], "ACCEPTED")
            done = all(r["status"] == "ACKNOWLEDGED" for r in applied.charge_rows)
            status = cmd.EventStatus.CHARGED if done else cmd.EventStatus.ACCEPTED
            return cmd.EventOutcome(event_id, status, charges=outcome.charges)
        found = await repo.meters_by_ids({t["meter_id"] for t in debits})
        await repo.conn.commit()  # end the read so the outcome gets a transaction of its own
        keys = {r["id"]: found[r["meter_id"]].key for r in debits}
        items = [
            debit_item(
                r["ledger_request_id"],
                r["wallet_id"],
                r["amount"],
                r["occurred_time"],
                found[r["meter_id"]].key,
                found[r["meter_id"]].description,
                r["event_id"],
                r["customer_id"],
            )
            for r in debits
        ]
        try:
            results = await self.app.ledger.debit_batch(items)
            kinds = await self.app.ledger.grant_kinds(
                sorted(
                    {
                        a.grant_id
                        for b in results
                        if isinstance(b, Booked)
                        for a in b.allocations
                        if a.grant_id
                    }
                )
            )
        except LedgerUnavailable as exc:
            # The charges stay PENDING and are the forwarder's from now on.
            log.warning("sync_charge_deferred", event_id=event_id, error=exc.message)
            async with repo.conn.begin():
                await repo.hold_charges(event_id, self.app.clock.now())
                await repo.set_event_status([event_id], "ACCEPTED")
            return outcome
        pairs = list(zip(debits, results, strict=True))
        denied = [(row, res) for row, res in pairs if isinstance(res, Refused) and res.denied]
        booked = [(row, res) for row, res in pairs if isinstance(res, Booked)]
        failed = [(row, res) for row, res in pairs if isinstance(res, Refused) and res.permanent]
        if undo and denied and await self._undo_denied(repo, event_id, applied, booked, keys):
            return cmd.EventOutcome(
                event_id,
                cmd.EventStatus.DENIED,
                InsufficientCredits(denied[0][1].message or "the wallet cannot cover the charge"),
            )
        async with repo.conn.begin():
            # Only PENDING rows change: if the forwarder took a charge over (after sync_hold),
            # its outcome stands.
            await repo.acknowledge(
                [
                    {"id": row["id"], "entry_id": res.entry_id, **split_of(res, kinds)}
                    for row, res in booked
                ]
            )
            await repo.deny({row["id"]: f"{res.reason}: {res.message}" for row, res in denied})
            moved = await repo.fail(
                {row["id"]: f"{res.reason}: {res.message}" for row, res in failed}
            )
            await repo.hold_charges(event_id, self.app.clock.now())
            await repo.set_event_status([event_id], "ACCEPTED")
        report_failed(
            "debit",
            {
                row["id"]: (event_id, res.reason, f"{res.reason}: {res.message}")
                for row, res in failed
            },
            moved,
        )
        stored = await repo.charges_of_event(event_id)
        await repo.conn.commit()
        views = tuple(charge_view(c) for c in stored)
        # From what is stored, not from our call: the forwarder may have answered first.
        error: BillingError | None = None
        if any(v.status == cmd.ChargeStatus.DENIED for v in views):
            status = cmd.EventStatus.DENIED
            error = InsufficientCredits(
                denied[0][1].message if denied else "the wallet cannot cover the charge"
            )
        elif all(v.status == cmd.ChargeStatus.ACKNOWLEDGED for v in views):
            status = cmd.EventStatus.CHARGED
        else:
            status = cmd.EventStatus.ACCEPTED
        available = booked[-1][1].available_after if booked else ""
        return cmd.EventOutcome(event_id, status, error, views, available)

    async def _untouched(self, repo: RatingRepository, event_id: str) -> bool:
        """Whether every non-zero charge of the event is still PENDING with no refund planned
        against it or by it: nothing of it reached the ledger behind our back. Locks them."""
        current = await repo.charges_of_event(event_id, lock=True)
        nonzero = [c for c in current if c.amount != 0]
        if not all(c.status == "PENDING" for c in nonzero):
            return False
        return not await repo.has_refund_parts(c.id for c in nonzero)

    async def _refund_now(self, undo: dict[str, Any]) -> Booked | None:
        """Try an owed undo refund while the caller waits: a few quick attempts (bounded), by its
        derived request id, so a retry (or the forwarder sending it too) books it once. None:
        not booked now; the forwarder delivers it (and decides what a refusal means)."""
        for attempt in range(UNDO_ATTEMPTS_MAX):
            try:
                refund = await self.app.ledger.refund(
                    undo["ledger_request_id"],
                    undo["debit_entry_id"],
                    undo["amount"],
                    undo["description"],
                )
            except LedgerUnavailable as exc:
                log.warning("sync_undo_refund_failed", event_id=undo["event_id"], error=exc.message)
                if attempt < UNDO_ATTEMPTS_MAX - 1:
                    await asyncio.sleep(UNDO_BACKOFF_S * 2**attempt)
                continue
            if isinstance(refund, Refused):
                log.warning(
                    "sync_undo_refund_refused", event_id=undo["event_id"], reason=refund.reason
                )
                return None
            return refund
        return None

    async def _undo_denied(
        self,
        repo: RatingRepository,
        event_id: str,
        applied: Applied,
        booked: list[tuple[dict[str, Any], Booked]],
        keys: dict[int, str],
    ) -> bool:
        """All or nothing, durably: in one transaction, put back what accepting the event changed,
        keep the event as DENIED and record a refund owed for each debit the ledger booked on
        its other meters (`undo_refunds`); then try those refunds at once. Any the ledger does
        not take now is delivered by the forwarder until acknowledged, so the two services
        converge whatever happens to the ledger or to us meanwhile. False (nothing undone) when
        the forwarder took a charge over meanwhile: the event then stays accepted, as in
        asynchronous mode (the refused charge DENIED, on the invoice)."""
        now = self.app.clock.now()
        undos = [
            {
                "event_id": event_id,
                "meter_id": row["meter_id"],
                "wallet_id": row["wallet_id"],
                "debit_entry_id": res.entry_id,
                "amount": row["amount"],
                "description": f"refund: {event_id} was denied on another meter",
                "ledger_request_id": ledger_request_id("undo", event_id, keys[row["id"]]),
                "status": "PENDING",
                # Ours while we try them now; the forwarder's after that (or if we die).
                "forward_after": now + self.policy.sync_hold,
                "create_time": now,
            }
            for row, res in booked
        ]
        async with repo.conn.begin():
            if not await self._untouched(repo, event_id):
                return False
            ids = await repo.insert_undos(undos)
            # Safe: the session advisory locks on the event's aggregates are still ours.
            await repo.save_aggregates(applied.before)
            await repo.delete_unique_values(applied.uniques)
            await repo.deny_event(event_id)
        left = []
        for undo_id, undo in zip(ids, undos, strict=True):
            refund = await self._refund_now(undo)
            if refund is None:
                left.append(undo_id)
                continue
            async with repo.conn.begin():
                await repo.undo_done(undo_id, refund.entry_id)
        if left:
            log.warning("sync_undo_deferred", event_id=event_id, refunds=len(left))
            async with repo.conn.begin():
                await repo.undo_retry(left, self.app.clock.now(), "left to the forwarder")
        return True


async def end_event(repo: RatingRepository) -> None:
    """Give back the aggregate locks a synchronous event took, on every path (its request's own
    lock stays). Whatever is still open is rolled back first: after an error the transaction may
    be invalid (a connection the database dropped, by a restart or a terminated backend, answers
    every later statement with PendingRollbackError, which is no answer to give a caller). A
    dropped session has nothing to unlock: session advisory locks die with it, and the request
    ends with the error that dropped it (UNAVAILABLE)."""
    conn = repo.conn
    try:
        await conn.rollback()
        if conn.invalidated:
            return
        await repo.unlock_aggregates()
        await conn.commit()
    except BaseException:
        await _discard(conn)
        raise


async def end_session(conn: AsyncConnection) -> None:
    """Give back every session lock of a synchronous request (`end_event` first). If that
    fails, the connection is invalidated (closed, not pooled), so a session still holding locks
    never serves anyone else."""
    try:
        await conn.rollback()
        if conn.invalidated:
            return
        await RatingRepository(conn).unlock_all()
        await conn.commit()
    except BaseException:
        await _discard(conn)
        raise


async def _discard(conn: AsyncConnection) -> None:
    with contextlib.suppress(Exception):
        await conn.invalidate()


async def release_claim(repo: RatingRepository, request_id: str) -> None:
    """Give up a synchronous request's claim on its own connection, only while that session
    (and so its request lock) is alive: a claim whose holder died is taken over by a retry
    anyway, and one released by a stale holder could be a retry's."""
    conn = repo.conn
    await conn.rollback()
    if conn.invalidated:
        return
    async with conn.begin():
        await repo.release_claim(request_id)


def charge_row(c: ChargeRow) -> dict[str, Any]:
    """A stored charge as `_charge_now` takes it (the shape `accept` builds)."""
    return {
        "id": c.id,
        "event_id": c.event_id,
        "meter_id": c.meter_id,
        "customer_id": c.customer_id,
        "wallet_id": c.wallet_id,
        "occurred_time": c.occurred_time,
        "amount": c.amount,
        "status": c.status,
        "ledger_request_id": c.ledger_request_id,
    }


UNDO_ATTEMPTS_MAX = 3
UNDO_BACKOFF_S = 0.2


def charge_view(c: ChargeRow) -> cmd.ChargeView:
    """A stored charge as the API shows it."""
    return cmd.ChargeView(
        meter_id=c.meter_id,
        price_id=c.price_id,
        price_version=c.price_version,
        amount=c.amount,
        quantity_before=c.quantity_before,
        quantity_after=c.quantity_after,
        period_start=c.period_start,
        period_end=c.period_end,
        status=cmd.ChargeStatus(c.status),
        ledger_entry_id=c.ledger_entry_id,
    )


def describe(meter_description: str, event_id: str) -> str:
    """The ledger history line of a charge: what was used, and the event behind it. The meter's
    description is cut to 100 characters so the line stays short (at most 237 characters)."""
    return f"{meter_description[:100]} (event {event_id})"


def debit_item(
    request_id: str,
    wallet_id: str,
    amount: Decimal,
    occurred_time: datetime,
    meter_key: str,
    meter_description: str,
    event_id: str,
    customer_id: str,
) -> DebitItem:
    """The one way a charge becomes a ledger debit. Synchronous ingest and the forwarder must send
    byte-identical requests for the same charge: the ledger answers a retry with the original
    entry only when the content matches (otherwise REQUEST_ID_CONFLICT)."""
    return DebitItem(
        request_id=request_id,
        wallet_id=wallet_id,
        amount=amount,
        occurred_time=occurred_time,
        feature=meter_key,
        source_event_id=event_id,
        customer_id=customer_id,
        description=describe(meter_description or meter_key, event_id),
    )
