"""Ingest: record events, update aggregates and write pending charges in one transaction.

Asynchronous batch (one transaction, a fixed number of round trips for up to 1,000 events):
  claim request_id -> load catalogue (assignments, plans, price versions, meters) -> invoice rows
  FOR SHARE (closed periods reject) -> INSERT events ON CONFLICT DO NOTHING (the id is the dedup
  key: a concurrent producer with the same id waits for us and then sees DUPLICATE) -> advisory
  locks on the aggregate keys in sorted order -> load aggregates and seen unique values -> rate in
  memory in request order -> upsert aggregates, insert unique values and charges -> store the
  response.

Synchronous, per event: the same transaction commits the event, aggregate and PENDING charge while
a session-level advisory lock keeps the aggregates to us; then the ledger is asked; then a second
transaction acknowledges the charge, or, on a DENY refusal, puts the aggregates back as they were
(nobody else could change them meanwhile) and deletes the event and its charge. A crash between
the two leaves a PENDING charge the forwarder delivers after `sync_hold`: nothing is lost and the
request id derived from the event id keeps the ledger from booking it twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.exc import DBAPIError

from billing_common.errors import BillingError, InvalidArgument, Violation
from billing_common.periods import Period
from rating_service.adapters.db.repository import AggKey, RatingRepository, StoredPlan
from rating_service.app import commands as cmd
from rating_service.app.ports import Booked, DebitItem, LedgerUnavailable, Refused
from rating_service.app.split import split_of
from rating_service.domain.aggregation import EMPTY, AggregateState, Aggregation
from rating_service.domain.errors import (
    CustomerNotFound,
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

EVENT_ID_CHARS_MAX = 128
PROPERTIES_MAX = 50
PROPERTY_CHARS_MAX = 1000


LEDGER_REQUEST_ID_MAX = 128


def ledger_request_id(*parts: str) -> str:
    """The ledger request id of an event's charge on a meter (and of its refund parts): derived
    from the event, so every retry names the same ledger request and nothing is booked twice.
    Readable ("rating:<event_id>:<meter_key>") when it fits the ledger's 128 characters, else a
    SHA-256 of the same text."""
    readable = "rating:" + ":".join(parts)
    if len(readable) <= LEDGER_REQUEST_ID_MAX:
        return readable
    return "rating:sha256:" + hashlib.sha256(readable.encode()).hexdigest()


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
        if len(value) > EVENT_ID_CHARS_MAX:
            return InvalidArgument.field(
                name, f"at most {EVENT_ID_CHARS_MAX} characters", "INVALID_ID"
            )
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
                }
                for p in open_planned
            ]
        )
        fresh = [p for p in open_planned if p.event.event_id in inserted]
        for p in open_planned:
            if p.event.event_id not in inserted:
                outcomes[p.index] = cmd.EventOutcome(p.event.event_id, cmd.EventStatus.DUPLICATE)

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
        for p in fresh:
            record = Applied()
            for t in p.targets:
                before = states.get(t.key, EMPTY)
                unique = (*t.key, t.value.unique_key)
                is_unique = t.meter.aggregation == Aggregation.UNIQUE_COUNT
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
                if is_unique and unique not in seen:
                    seen.add(unique)
                    new_uniques.append(unique)
                    record.uniques.append(unique)
                record.before.setdefault(t.key, (before, p.period.end))
                states[t.key] = rated.after
                changed[t.key] = (rated.after, p.period.end)
                hold = sync and rated.charge > 0
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
                    "ledger_request_id": ledger_request_id(p.event.event_id, t.meter.key),
                    "forward_after": now + self.policy.sync_hold if hold else now,
                    "create_time": now,
                }
                charge_rows.append(row)
                record.charge_rows.append(row)
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
        from rating_service.app.service import check_replay

        earlier = await self.app.read(lambda repo: repo.peek_claim(idem.request_id))
        if earlier is not None:
            return check_replay(earlier, idem)
        outcomes = [await self._sync_one(e) for e in events]
        response = encode(outcomes)

        async def store(repo: RatingRepository) -> bytes:
            claim = await repo.claim(
                idem.request_id, idem.method, idem.fingerprint, self.app.clock.now()
            )
            if not claim.claimed:
                return check_replay(claim, idem)
            await repo.store_response(idem.request_id, response)
            return response

        return await self.app.write(store)

    async def _sync_one(self, event: cmd.EventIn) -> cmd.EventOutcome:
        async with self.app.engine.connect() as conn:
            repo = RatingRepository(conn)
            try:
                outcomes, applied = await self._accept_one(repo, event)
                outcome = outcomes[0]
                if outcome.status != cmd.EventStatus.ACCEPTED:
                    return outcome
                return await self._charge_now(repo, outcome, applied[0])
            finally:
                await repo.unlock_all()
                await conn.commit()

    async def _accept_one(
        self, repo: RatingRepository, event: cmd.EventIn
    ) -> tuple[list[cmd.EventOutcome], dict[int, Applied]]:
        """Transaction A of synchronous mode, retried on deadlock or serialization failure."""
        from rating_service.app.service import RETRIES_MAX, retryable

        for attempt in range(RETRIES_MAX):
            try:
                async with repo.conn.begin():
                    return await self.accept(repo, [event], self.app.clock.now(), sync=True)
            except DBAPIError as exc:
                if not retryable(exc) or attempt == RETRIES_MAX - 1:
                    raise
                await repo.unlock_all()
                await repo.conn.commit()
        raise AssertionError("unreachable")

    async def _charge_now(
        self, repo: RatingRepository, outcome: cmd.EventOutcome, applied: Applied
    ) -> cmd.EventOutcome:
        debits = [r for r in applied.charge_rows if r["amount"] > 0]
        if not debits:
            done = all(r["status"] == "ACKNOWLEDGED" for r in applied.charge_rows)
            status = cmd.EventStatus.CHARGED if done else cmd.EventStatus.ACCEPTED
            return cmd.EventOutcome(outcome.event_id, status, charges=outcome.charges)
        meters = {t["meter_id"] for t in debits}
        found = await repo.meters_by_ids(meters)
        await repo.conn.commit()  # end the read so the outcome gets a transaction of its own
        items = [
            debit_item(
                r["ledger_request_id"],
                r["wallet_id"],
                r["amount"],
                r["occurred_time"],
                found[r["meter_id"]].key,
                found[r["meter_id"]].description,
                r["event_id"],
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
            # The charge stays PENDING: the forwarder delivers it after sync_hold.
            log.warning("sync_charge_deferred", event_id=outcome.event_id, error=exc.message)
            return outcome
        denied = [
            (row, res)
            for row, res in zip(debits, results, strict=True)
            if isinstance(res, Refused) and res.denied
        ]
        booked = [
            (row, res) for row, res in zip(debits, results, strict=True) if isinstance(res, Booked)
        ]
        async with repo.conn.begin():
            # The forwarder may have taken the charge over (only after sync_hold); then its
            # outcome stands and nothing is undone.
            current = await repo.charges_by_ids([r["id"] for r in debits], lock=True)
            untouched = all(c.status == "PENDING" for c in current)
            if denied and not booked and untouched:
                await self._undo(repo, outcome.event_id, applied)
                refusal = denied[0][1]
                return cmd.EventOutcome(
                    outcome.event_id,
                    cmd.EventStatus.DENIED,
                    InsufficientCredits(refusal.message or "the wallet cannot cover the charge"),
                )
            await repo.acknowledge(
                [
                    {"id": row["id"], "entry_id": res.entry_id, **split_of(res, kinds)}
                    for row, res in booked
                ]
            )
            await repo.deny({row["id"]: f"{res.reason}: {res.message}" for row, res in denied})
        rows = {c.ledger_request_id: c for c in await repo.charges_of_event(outcome.event_id)}
        await repo.conn.commit()
        views = tuple(
            cmd.ChargeView(
                c.meter_id,
                c.price_id,
                c.price_version,
                c.amount,
                c.quantity_before,
                c.quantity_after,
                c.period_start,
                c.period_end,
                cmd.ChargeStatus(c.status),
                c.ledger_entry_id,
            )
            for c in sorted(rows.values(), key=lambda c: c.id)
        )
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
        return cmd.EventOutcome(outcome.event_id, status, error, views, available)

    async def _undo(self, repo: RatingRepository, event_id: str, applied: Applied) -> None:
        """Put back what accepting the event changed. Safe because the session advisory locks on
        its aggregates are still held."""
        await repo.save_aggregates(applied.before)
        await repo.delete_unique_values(applied.uniques)
        await repo.delete_event(event_id)


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
        description=describe(meter_description or meter_key, event_id),
    )
