"""The rating service's storage adapter.

Ingest works on whole batches so 1,000 events cost a fixed number of round trips. Lock order,
always (the same as README and app/ingest.py): idempotency key -> invoice rows (FOR SHARE, sorted)
-> event ids (by inserting them) -> aggregate keys (advisory locks, sorted). CloseBillingPeriod
takes the invoice row FOR UPDATE.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import bindparam, func, literal_column, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing_common.periods import Cadence
from rating_service.adapters.db.tables import (
    aggregates,
    assignments,
    charges,
    events,
    idempotency_keys,
    invoices,
    meters,
    plans,
    price_versions,
    refund_parts,
    undo_refunds,
    unique_values,
)
from rating_service.domain.aggregation import AggregateState, Aggregation
from rating_service.domain.batch import AggKey, UniqueKey
from rating_service.domain.charges import NEW_CHARGE_COLUMNS, NewCharge
from rating_service.domain.invoice import LineTotal
from rating_service.domain.meters import Meter
from rating_service.domain.model import Assignment, Plan, PlanPrice, PriceVersion
from rating_service.domain.pricing import Pricing, PricingModel, Tier

log = structlog.get_logger(__name__)

ZERO = Decimal(0)


# Rows per multi-row statement: keeps every statement under PostgreSQL's bind-parameter limit
# (charges have 17 columns: 1,000 rows are 17,000 parameters of the 32,767 asyncpg allows).
ROWS_PER_STATEMENT = 1000


def chunks(items: Sequence[Any], size: int = ROWS_PER_STATEMENT) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def new_id() -> str:
    return str(uuid.uuid4())


def lock_key(*parts: object) -> int:
    """A signed 64-bit advisory lock key. Collisions only serialise unrelated work."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leadership:
    """A session-level advisory lock held on a connection of its own, for work only one process
    may do at a time (the forwarder). It lives as long as the session: a crash or a lost
    connection ends it at once, and another process takes it over."""

    def __init__(self, engine: AsyncEngine, key: int) -> None:
        self.engine = engine
        self.key = key
        self.conn: AsyncConnection | None = None

    async def held(self) -> bool:
        """Whether we hold the lock now: checked with a round trip on our connection (alive,
        the lock is still ours), else asked for again. False while another process holds it."""
        if self.conn is not None:
            try:
                await self.conn.execute(select(1))
                await self.conn.commit()
                return True
            except Exception:
                log.warning("leadership_lost", key=self.key)
                await self.release()
        conn = await self.engine.connect()
        try:
            got = (await conn.execute(select(func.pg_try_advisory_lock(self.key)))).scalar()
            await conn.commit()
        except BaseException:
            await _discard(conn)
            raise
        if not got:
            await conn.close()
            return False
        log.info("leadership_taken", key=self.key)
        self.conn = conn
        return True

    async def release(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            await _discard(conn)


async def _discard(conn: AsyncConnection) -> None:
    """Close a connection without returning it to the pool: its session ends, and with it any
    session-level advisory lock it held."""
    with contextlib.suppress(Exception):
        await conn.invalidate()
    with contextlib.suppress(Exception):
        await conn.close()


@dataclass(frozen=True, slots=True)
class Claim:
    claimed: bool
    method: str = ""
    fingerprint: bytes = b""
    response: bytes | None = None


@dataclass(frozen=True, slots=True)
class StoredPrice:
    version: PriceVersion
    unit: str
    create_time: datetime
    seq: int


@dataclass(frozen=True, slots=True)
class StoredPlan:
    plan: Plan
    unit: str
    create_time: datetime


@dataclass(frozen=True, slots=True)
class ChargeRow:
    id: int
    event_id: str
    meter_id: str
    meter_key: str
    meter_description: str
    price_id: str
    price_version: int
    assignment_id: str
    customer_id: str
    wallet_id: str
    period_start: datetime
    period_end: datetime
    occurred_time: datetime
    amount: Decimal
    quantity_before: Decimal
    quantity_after: Decimal
    status: str
    ledger_request_id: str
    ledger_entry_id: str
    refunded: Decimal
    attempts: int
    internal_errors: int

    @property
    def key(self) -> AggKey:
        return (self.assignment_id, self.meter_id, self.period_start)


@dataclass(frozen=True, slots=True)
class UndoRow:
    """A refund a synchronous refusal owes: the debit the ledger booked on another meter of the
    denied event, refunded in full."""

    id: int
    event_id: str
    meter_id: str
    wallet_id: str
    debit_entry_id: str
    amount: Decimal
    description: str
    ledger_request_id: str
    status: str
    attempts: int
    internal_errors: int


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    id: str
    seq: int
    customer_id: str
    assignment_id: str
    period_start: datetime
    period_end: datetime
    status: str
    close_time: datetime | None
    snapshot: dict[str, Any] | None


def _pricing_json(p: Pricing) -> list[dict[str, str | None]]:
    return [
        {
            "up_to": None if t.up_to is None else str(t.up_to),
            "unit_price": str(t.unit_price),
            "flat_price": str(t.flat_price),
        }
        for t in p.tiers
    ]


def _price(row: Any) -> StoredPrice:
    tiers = tuple(
        Tier(
            None if t["up_to"] is None else Decimal(t["up_to"]),
            Decimal(t["unit_price"]),
            Decimal(t["flat_price"]),
        )
        for t in row.tiers
    )
    pricing = Pricing(
        PricingModel(row.model), row.unit_price, row.package_size, row.package_price, tiers
    )
    version = PriceVersion(row.price_id, row.version, row.meter_id, row.effective_time, pricing)
    return StoredPrice(version, row.unit, row.create_time, row.seq)


def _meter(row: Any) -> Meter:
    return Meter(
        id=row.id,
        key=row.key,
        event_type=row.event_type,
        aggregation=Aggregation(row.aggregation),
        value_property=row.value_property,
        filters=dict(row.filters),
        description=row.description,
    )


def _plan(row: Any) -> StoredPlan:
    plan = Plan(
        id=row.id,
        name=row.name,
        cadence=Cadence(row.cadence),
        billing_anchor=row.billing_anchor,
        fixed_charge=row.fixed_charge,
        prices=tuple(PlanPrice(p["price_id"], Decimal(p["included_quantity"])) for p in row.prices),
    )
    return StoredPlan(plan, row.unit, row.create_time)


def _assignment(row: Any) -> Assignment:
    return Assignment(row.id, row.customer_id, row.plan_id, row.wallet_id, row.start_time)


def _charge(row: Any) -> ChargeRow:
    return ChargeRow(
        **{
            f: getattr(row, f)
            for f in ChargeRow.__dataclass_fields__
            if f not in ("meter_key", "meter_description")
        },
        meter_key=getattr(row, "meter_key", ""),
        meter_description=getattr(row, "meter_description", ""),
    )


def _invoice(row: Any) -> InvoiceRow:
    return InvoiceRow(
        row.id,
        row.seq,
        row.customer_id,
        row.assignment_id,
        row.period_start,
        row.period_end,
        row.status,
        row.close_time,
        row.snapshot,
    )


class RatingRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # -- idempotency ------------------------------------------------------------------------

    async def claim(self, request_id: str, method: str, fp: bytes, now: datetime) -> Claim:
        """Claim a request id. A concurrent holder makes this wait until it commits."""
        stmt = (
            pg_insert(idempotency_keys)
            .values(request_id=request_id, method=method, fingerprint=fp, create_time=now)
            .on_conflict_do_nothing(index_elements=["request_id"])
            .returning(idempotency_keys.c.request_id)
        )
        if (await self.conn.execute(stmt)).first() is not None:
            return Claim(True)
        return await self._stored_claim(request_id)

    async def claim_with_lease(
        self, request_id: str, method: str, fp: bytes, now: datetime, lease_until: datetime
    ) -> Claim:
        """Claim a request id as in progress (response NULL) until `lease_until`, to be committed
        on its own before any work. An in-progress claim of the same request whose lease ran out
        (its holder crashed) is taken over; anything else is returned as found."""
        k = idempotency_keys
        stmt = pg_insert(k).values(
            request_id=request_id,
            method=method,
            fingerprint=fp,
            create_time=now,
            lease_until=lease_until,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["request_id"],
            set_={"lease_until": stmt.excluded.lease_until},
            where=(
                k.c.response.is_(None)
                & (k.c.lease_until < now)
                & (k.c.method == stmt.excluded.method)
                & (k.c.fingerprint == stmt.excluded.fingerprint)
            ),
        ).returning(k.c.request_id)
        if (await self.conn.execute(stmt)).first() is not None:
            return Claim(True)
        return await self._stored_claim(request_id)

    async def renew_lease(self, request_id: str, lease_until: datetime) -> None:
        await self.conn.execute(
            update(idempotency_keys)
            .where(
                idempotency_keys.c.request_id == request_id, idempotency_keys.c.response.is_(None)
            )
            .values(lease_until=lease_until)
        )

    async def release_claim(self, request_id: str) -> None:
        """Give up an in-progress claim (the work failed), so a retry can run it again."""
        await self.conn.execute(
            idempotency_keys.delete().where(
                idempotency_keys.c.request_id == request_id, idempotency_keys.c.response.is_(None)
            )
        )

    async def _stored_claim(self, request_id: str) -> Claim:
        row = (
            await self.conn.execute(
                select(idempotency_keys).where(idempotency_keys.c.request_id == request_id)
            )
        ).one()
        return Claim(False, row.method, row.fingerprint, row.response)

    async def store_response(self, request_id: str, response: bytes) -> None:
        await self.conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.request_id == request_id)
            .values(response=response, lease_until=None)
        )

    # -- meters -----------------------------------------------------------------------------

    async def insert_meter(self, meter: Meter, now: datetime) -> bool:
        stmt = (
            pg_insert(meters)
            .values(
                id=meter.id,
                key=meter.key,
                event_type=meter.event_type,
                aggregation=meter.aggregation.value,
                value_property=meter.value_property,
                filters=dict(meter.filters),
                description=meter.description,
                create_time=now,
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(meters.c.id)
        )
        return (await self.conn.execute(stmt)).first() is not None

    async def get_meter(self, meter_id: str) -> tuple[Meter, datetime, int] | None:
        row = (await self.conn.execute(select(meters).where(meters.c.id == meter_id))).first()
        return None if row is None else (_meter(row), row.create_time, row.seq)

    async def list_meters(self, after_seq: int, limit: int) -> list[tuple[Meter, datetime, int]]:
        rows = await self.conn.execute(
            select(meters).where(meters.c.seq > after_seq).order_by(meters.c.seq).limit(limit)
        )
        return [(_meter(r), r.create_time, r.seq) for r in rows]

    async def meters_by_ids(self, ids: Iterable[str]) -> dict[str, Meter]:
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = await self.conn.execute(select(meters).where(meters.c.id.in_(wanted)))
        return {r.id: _meter(r) for r in rows}

    # -- prices -----------------------------------------------------------------------------

    async def lock(self, *parts: object) -> None:
        await self.conn.execute(select(func.pg_advisory_xact_lock(lock_key(*parts))))

    async def versions_of(self, price_ids: Iterable[str]) -> dict[str, list[StoredPrice]]:
        wanted = list(set(price_ids))
        result: dict[str, list[StoredPrice]] = {p: [] for p in wanted}
        if not wanted:
            return result
        rows = await self.conn.execute(
            select(price_versions)
            .where(price_versions.c.price_id.in_(wanted))
            .order_by(price_versions.c.price_id, price_versions.c.version)
        )
        for r in rows:
            result[r.price_id].append(_price(r))
        return result

    async def insert_price_version(self, v: PriceVersion, unit: str, now: datetime) -> None:
        await self.conn.execute(
            price_versions.insert().values(
                price_id=v.price_id,
                version=v.version,
                meter_id=v.meter_id,
                unit=unit,
                model=v.pricing.model.value,
                unit_price=v.pricing.unit_price,
                package_size=v.pricing.package_size,
                package_price=v.pricing.package_price,
                tiers=_pricing_json(v.pricing),
                effective_time=v.effective_time,
                create_time=now,
            )
        )

    async def list_prices(
        self, meter_id: str, price_id: str, after_seq: int, limit: int
    ) -> list[StoredPrice]:
        q = select(price_versions).where(price_versions.c.seq > after_seq)
        if meter_id:
            q = q.where(price_versions.c.meter_id == meter_id)
        if price_id:
            q = q.where(price_versions.c.price_id == price_id)
        rows = await self.conn.execute(q.order_by(price_versions.c.seq).limit(limit))
        return [_price(r) for r in rows]

    # -- plans and assignments --------------------------------------------------------------

    async def insert_plan(self, plan: Plan, unit: str, now: datetime) -> None:
        await self.conn.execute(
            plans.insert().values(
                id=plan.id,
                name=plan.name,
                cadence=plan.cadence.value,
                billing_anchor=plan.billing_anchor,
                fixed_charge=plan.fixed_charge,
                unit=unit,
                prices=[
                    {"price_id": p.price_id, "included_quantity": str(p.included_quantity)}
                    for p in plan.prices
                ],
                create_time=now,
            )
        )

    async def plans_by_ids(self, ids: Iterable[str]) -> dict[str, StoredPlan]:
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = await self.conn.execute(select(plans).where(plans.c.id.in_(wanted)))
        return {r.id: _plan(r) for r in rows}

    async def insert_assignment(self, a: Assignment, now: datetime) -> None:
        await self.conn.execute(
            assignments.insert().values(
                id=a.id,
                customer_id=a.customer_id,
                plan_id=a.plan_id,
                wallet_id=a.wallet_id,
                start_time=a.start_time,
                create_time=now,
            )
        )

    async def assignments_of(self, customer_ids: Iterable[str]) -> dict[str, list[Assignment]]:
        wanted = list(set(customer_ids))
        result: dict[str, list[Assignment]] = {c: [] for c in wanted}
        if not wanted:
            return result
        rows = await self.conn.execute(
            select(assignments)
            .where(assignments.c.customer_id.in_(wanted))
            .order_by(assignments.c.start_time)
        )
        for r in rows:
            result[r.customer_id].append(_assignment(r))
        return result

    async def assignments_by_ids(self, ids: Iterable[str]) -> dict[str, Assignment]:
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = await self.conn.execute(select(assignments).where(assignments.c.id.in_(wanted)))
        return {r.id: _assignment(r) for r in rows}

    # -- ingest -----------------------------------------------------------------------------

    async def insert_events(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Insert events; return the ids that were new. A concurrent insert of the same id waits
        for the other transaction, so exactly one of them sees the id as new."""
        inserted: set[str] = set()
        if rows:
            # executemany: SQLAlchemy sends "insertmanyvalues" batches with one cached compiled
            # statement, instead of compiling a 1,000-row VALUES list on every call.
            stmt = (
                pg_insert(events)
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(events.c.id)
            )
            inserted = set((await self.conn.execute(stmt, list(rows))).scalars())
        return inserted

    async def event_statuses(self, ids: Iterable[str]) -> dict[str, str]:
        """ACCEPTED, HELD (a synchronous caller is waiting for the ledger) or DENIED."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = await self.conn.execute(
            select(events.c.id, events.c.status).where(events.c.id.in_(wanted))
        )
        return {r.id: r.status for r in rows}

    async def set_event_status(self, event_ids: Iterable[str], status: str) -> None:
        """Move events out of HELD (to ACCEPTED or DENIED); other statuses are final."""
        wanted = list(set(event_ids))
        if wanted:
            await self.conn.execute(
                update(events)
                .where(events.c.id.in_(wanted), events.c.status == "HELD")
                .values(status=status)
            )

    async def lock_aggregates(self, keys: Iterable[AggKey], *, session: bool = False) -> None:
        """Advisory locks on aggregate keys, in sorted order (so never a cycle). Transaction
        scope by default; `session` keeps them past commit (synchronous ingest) until
        `unlock_all`."""
        ordered = sorted({lock_key(*k) for k in keys})
        if not ordered:
            return
        fn = "pg_advisory_lock" if session else "pg_advisory_xact_lock"
        await self.conn.execute(
            text(f"SELECT {fn}(k) FROM (SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) s"),
            {"keys": ordered},
        )

    async def unlock_all(self) -> None:
        await self.conn.execute(text("SELECT pg_advisory_unlock_all()"))

    async def load_aggregates(self, keys: Iterable[AggKey]) -> dict[AggKey, AggregateState]:
        rows: list[Any] = []
        for part in chunks(sorted(set(keys))):
            result = await self.conn.execute(
                select(aggregates).where(
                    tuple_(
                        aggregates.c.assignment_id, aggregates.c.meter_id, aggregates.c.period_start
                    ).in_(list(part))
                )
            )
            rows.extend(result)
        return {
            (r.assignment_id, r.meter_id, r.period_start): AggregateState(
                r.quantity, r.latest_time, r.latest_event_id
            )
            for r in rows
        }

    async def save_aggregates(
        self, states: Mapping[AggKey, tuple[AggregateState, datetime]]
    ) -> None:
        values = [
            {
                "assignment_id": k[0],
                "meter_id": k[1],
                "period_start": k[2],
                "period_end": end,
                "quantity": s.quantity,
                "latest_time": s.latest_time,
                "latest_event_id": s.latest_event_id,
            }
            for k, (s, end) in sorted(states.items())
        ]
        if not values:
            return
        stmt = pg_insert(aggregates)
        stmt = stmt.on_conflict_do_update(
            index_elements=["assignment_id", "meter_id", "period_start"],
            set_={
                "quantity": stmt.excluded.quantity,
                "latest_time": stmt.excluded.latest_time,
                "latest_event_id": stmt.excluded.latest_event_id,
            },
        )
        await self.conn.execute(stmt, values)

    async def seen_values(self, items: Iterable[UniqueKey]) -> set[UniqueKey]:
        found: set[UniqueKey] = set()
        for part in chunks(sorted(set(items))):
            rows = await self.conn.execute(
                select(
                    unique_values.c.assignment_id,
                    unique_values.c.meter_id,
                    unique_values.c.period_start,
                    unique_values.c.value,
                ).where(
                    tuple_(
                        unique_values.c.assignment_id,
                        unique_values.c.meter_id,
                        unique_values.c.period_start,
                        unique_values.c.value,
                    ).in_(list(part))
                )
            )
            found |= {(r.assignment_id, r.meter_id, r.period_start, r.value) for r in rows}
        return found

    async def insert_unique_values(self, items: Sequence[UniqueKey]) -> None:
        if items:
            await self.conn.execute(
                unique_values.insert(),
                [
                    {"assignment_id": a, "meter_id": m, "period_start": p, "value": v}
                    for a, m, p, v in items
                ],
            )

    async def delete_unique_values(self, items: Sequence[UniqueKey]) -> None:
        if items:
            await self.conn.execute(
                unique_values.delete().where(
                    tuple_(
                        unique_values.c.assignment_id,
                        unique_values.c.meter_id,
                        unique_values.c.period_start,
                        unique_values.c.value,
                    ).in_(list(items))
                )
            )

    async def insert_charges(self, new: Sequence[NewCharge]) -> list[int]:
        """Store new charges; their ids, in order."""
        if not new:
            return []
        rows = [{f: getattr(c, f) for f in NEW_CHARGE_COLUMNS} for c in new]
        result = await self.conn.execute(
            charges.insert().returning(charges.c.id, charges.c.ledger_request_id), rows
        )
        by_request = {r.ledger_request_id: r.id for r in result}
        return [by_request[c.ledger_request_id] for c in new]

    async def rated_since(self, column: str, value: str, since: datetime) -> bool:
        """Whether an event that occurred at or after `since` was already rated: a charge by this
        price (column "price_id"), or any accepted event of this customer ("customer_id")."""
        table = events if column == "customer_id" else charges
        q = select(literal_column("1")).select_from(table)
        q = q.where(table.c[column] == value, table.c.occurred_time >= since)
        if table is events:
            q = q.where(events.c.status != "DENIED")
        return (await self.conn.execute(q.limit(1))).first() is not None

    async def forget_events(self, event_ids: Sequence[str]) -> None:
        """Take back events inserted earlier in this transaction and then rejected."""
        if event_ids:
            await self.conn.execute(events.delete().where(events.c.id.in_(list(event_ids))))

    async def deny_event(self, event_id: str) -> None:
        """A synchronous refusal undid the event: its charges go (they never reached the ledger,
        or were refunded), the event stays as DENIED so its id is never accepted again."""
        await self.conn.execute(charges.delete().where(charges.c.event_id == event_id))
        await self.set_event_status([event_id], "DENIED")

    async def hold_charges(self, event_id: str, until: datetime) -> None:
        """Keep the forwarder off the event's PENDING charges until `until` (`now` releases)."""
        await self.conn.execute(
            update(charges)
            .where(charges.c.event_id == event_id, charges.c.status == "PENDING")
            .values(forward_after=until)
        )

    # -- undo refunds (synchronous refusals) ------------------------------------------------

    async def insert_undos(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        if not rows:
            return []
        result = await self.conn.execute(
            undo_refunds.insert().returning(undo_refunds.c.id, undo_refunds.c.ledger_request_id),
            list(rows),
        )
        by_request = {r.ledger_request_id: r.id for r in result}
        return [by_request[r["ledger_request_id"]] for r in rows]

    async def due_undos(self, now: datetime, limit: int) -> list[UndoRow]:
        rows = await self.conn.execute(
            select(*(undo_refunds.c[f] for f in UndoRow.__dataclass_fields__))
            .where(undo_refunds.c.status == "PENDING", undo_refunds.c.forward_after <= now)
            .order_by(undo_refunds.c.id)
            .limit(limit)
        )
        return [UndoRow(**r._mapping) for r in rows]

    async def pending_undos(self) -> int:
        query = (
            select(func.count()).select_from(undo_refunds).where(undo_refunds.c.status == "PENDING")
        )
        return int((await self.conn.execute(query)).scalar_one())

    async def undo_done(self, undo_id: int, entry_id: str) -> None:
        await self.conn.execute(
            update(undo_refunds)
            .where(undo_refunds.c.id == undo_id, undo_refunds.c.status == "PENDING")
            .values(status="DONE", ledger_entry_id=entry_id, last_error="")
        )

    async def undo_retry(
        self, undo_ids: Iterable[int], after: datetime, error: str, *, internal: bool = False
    ) -> None:
        """Try again at `after` (`internal`: an INTERNAL-like answer, counted)."""
        values: dict[str, Any] = {
            "attempts": undo_refunds.c.attempts + 1,
            "forward_after": after,
            "last_error": error,
        }
        if internal:
            values["internal_errors"] = undo_refunds.c.internal_errors + 1
        await self.conn.execute(
            update(undo_refunds)
            .where(undo_refunds.c.id.in_(list(undo_ids)), undo_refunds.c.status == "PENDING")
            .values(**values)
        )

    async def undo_fail(self, undo_id: int, error: str, *, internal: bool = False) -> set[int]:
        values: dict[str, Any] = {"status": "FAILED", "last_error": error}
        if internal:
            values["internal_errors"] = undo_refunds.c.internal_errors + 1
        result = await self.conn.execute(
            update(undo_refunds)
            .where(undo_refunds.c.id == undo_id, undo_refunds.c.status == "PENDING")
            .values(**values)
            .returning(undo_refunds.c.id)
        )
        return {r.id for r in result}

    async def has_refund_parts(self, charge_ids: Iterable[int]) -> bool:
        wanted = list(set(charge_ids))
        if not wanted:
            return False
        row = (
            await self.conn.execute(
                select(refund_parts.c.charge_id)
                .where(
                    refund_parts.c.charge_id.in_(wanted)
                    | refund_parts.c.debit_charge_id.in_(wanted)
                )
                .limit(1)
            )
        ).first()
        return row is not None

    async def ensure_invoices(
        self, periods: Mapping[tuple[str, datetime], tuple[str, datetime]], *, share: bool = True
    ) -> dict[tuple[str, datetime], InvoiceRow]:
        """Create missing invoice rows for (assignment, period_start) -> (customer, period_end);
        return them, locked FOR SHARE (or FOR UPDATE when share is False)."""
        if not periods:
            return {}
        keys = sorted(periods)
        await self.conn.execute(
            pg_insert(invoices)
            .values(
                [
                    {
                        "id": new_id(),
                        "assignment_id": a,
                        "period_start": p,
                        "customer_id": periods[(a, p)][0],
                        "period_end": periods[(a, p)][1],
                    }
                    for a, p in keys
                ]
            )
            .on_conflict_do_nothing(index_elements=["assignment_id", "period_start"])
        )
        q = (
            select(invoices)
            .where(tuple_(invoices.c.assignment_id, invoices.c.period_start).in_(keys))
            .order_by(invoices.c.assignment_id, invoices.c.period_start)
        )
        q = q.with_for_update(read=share)
        rows = await self.conn.execute(q)
        return {(r.assignment_id, r.period_start): _invoice(r) for r in rows}

    # -- forwarding -------------------------------------------------------------------------

    def _charge_select(self) -> Any:
        return select(
            charges,
            meters.c.key.label("meter_key"),
            meters.c.description.label("meter_description"),
        ).join(meters, meters.c.id == charges.c.meter_id)

    async def pending_charges(self) -> int:
        """Charges accepted but not acknowledged by the ledger yet (the forwarder's backlog)."""
        query = select(func.count()).select_from(charges).where(charges.c.status == "PENDING")
        return int((await self.conn.execute(query)).scalar_one())

    async def due_charges(self, now: datetime, limit: int) -> list[ChargeRow]:
        rows = await self.conn.execute(
            self._charge_select()
            .where(charges.c.status == "PENDING", charges.c.forward_after <= now)
            .order_by(charges.c.id)
            .limit(limit)
        )
        return [_charge(r) for r in rows]

    async def charges_of_event(self, event_id: str, *, lock: bool = False) -> list[ChargeRow]:
        q = self._charge_select().where(charges.c.event_id == event_id).order_by(charges.c.id)
        if lock:
            q = q.with_for_update(of=charges)
        return [_charge(r) for r in await self.conn.execute(q)]

    async def charges_by_ids(self, ids: Iterable[int], *, lock: bool = False) -> list[ChargeRow]:
        q = self._charge_select().where(charges.c.id.in_(list(ids))).order_by(charges.c.id)
        if lock:
            q = q.with_for_update(of=charges)
        return [_charge(r) for r in await self.conn.execute(q)]

    async def acknowledge(self, acks: Sequence[dict[str, Any]]) -> None:
        """acks: {id, entry_id, prepaid, promotional, overage}; only PENDING rows change."""
        if acks:
            await self.conn.execute(
                update(charges)
                .where(charges.c.id == bindparam("b_id"), charges.c.status == "PENDING")
                .values(
                    status="ACKNOWLEDGED",
                    ledger_entry_id=bindparam("b_entry_id"),
                    prepaid=bindparam("b_prepaid"),
                    promotional=bindparam("b_promotional"),
                    overage=bindparam("b_overage"),
                    last_error="",
                ),
                [{f"b_{k}": v for k, v in a.items()} for a in acks],
            )

    async def mark_acknowledged(self, charge_id: int, entry_id: str) -> None:
        await self.conn.execute(
            update(charges)
            .where(charges.c.id == charge_id, charges.c.status == "PENDING")
            .values(status="ACKNOWLEDGED", ledger_entry_id=entry_id, last_error="")
        )

    async def deny(self, ids_errors: Mapping[int, str]) -> None:
        if ids_errors:
            await self.conn.execute(
                update(charges)
                .where(charges.c.id == bindparam("b_id"), charges.c.status == "PENDING")
                .values(status="DENIED", last_error=bindparam("b_error")),
                [{"b_id": i, "b_error": e} for i, e in ids_errors.items()],
            )

    async def fail(self, ids_errors: Mapping[int, str], *, internal: bool = False) -> set[int]:
        """A permanent ledger refusal (not a DENY), or the last of the bounded INTERNAL answers
        (`internal`, counted): the charge stops here, FAILED, and the invoice shows it; retrying
        would be refused the same way forever. Returns the ids it moved (only PENDING ones move).
        One statement per charge: failures are rare, and each needs its own answer."""
        moved: set[int] = set()
        for charge_id, error in ids_errors.items():
            values: dict[str, Any] = {"status": "FAILED", "last_error": error}
            if internal:
                values["internal_errors"] = charges.c.internal_errors + 1
            result = await self.conn.execute(
                update(charges)
                .where(charges.c.id == charge_id, charges.c.status == "PENDING")
                .values(**values)
                .returning(charges.c.id)
            )
            moved |= {r.id for r in result}
        return moved

    async def back_off(
        self, retry: Mapping[int, tuple[datetime, str]], *, internal: bool = False
    ) -> None:
        """Try again at the given time; `internal`: the answer was INTERNAL-like (counted, as
        only so many of those are retried)."""
        if retry:
            values: dict[str, Any] = {
                "attempts": charges.c.attempts + 1,
                "forward_after": bindparam("b_after"),
                "last_error": bindparam("b_error"),
            }
            if internal:
                values["internal_errors"] = charges.c.internal_errors + 1
            await self.conn.execute(
                update(charges)
                .where(charges.c.id == bindparam("b_id"), charges.c.status == "PENDING")
                .values(**values),
                [{"b_id": i, "b_after": t, "b_error": e} for i, (t, e) in retry.items()],
            )

    async def earlier_pending(self, charge: ChargeRow) -> bool:
        """Whether an earlier charge of the same aggregate still waits for the ledger."""
        row = (
            await self.conn.execute(
                select(charges.c.id)
                .where(
                    charges.c.assignment_id == charge.assignment_id,
                    charges.c.meter_id == charge.meter_id,
                    charges.c.period_start == charge.period_start,
                    charges.c.id < charge.id,
                    charges.c.status == "PENDING",
                )
                .limit(1)
            )
        ).first()
        return row is not None

    async def refundable_debits(self, charge: ChargeRow) -> list[ChargeRow]:
        """Acknowledged positive charges of the same aggregate with something left to refund,
        newest first (refunds return the latest usage first), locked."""
        rows = await self.conn.execute(
            self._charge_select()
            .where(
                charges.c.assignment_id == charge.assignment_id,
                charges.c.meter_id == charge.meter_id,
                charges.c.period_start == charge.period_start,
                charges.c.id < charge.id,
                charges.c.status == "ACKNOWLEDGED",
                charges.c.amount > 0,
                charges.c.amount > charges.c.refunded,
            )
            .order_by(charges.c.id.desc())
            .with_for_update(of=charges)
        )
        return [_charge(r) for r in rows]

    async def refund_parts_of(self, charge_id: int) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(refund_parts)
            .where(refund_parts.c.charge_id == charge_id)
            .order_by(refund_parts.c.debit_charge_id.desc())
        )
        return [dict(r._mapping) for r in rows]

    async def plan_refund(
        self, charge_id: int, parts: Sequence[tuple[ChargeRow, Decimal, str]], unrefundable: Decimal
    ) -> None:
        for debit, amount, request_id in parts:
            await self.conn.execute(
                update(charges)
                .where(charges.c.id == debit.id)
                .values(refunded=charges.c.refunded + amount)
            )
            await self.conn.execute(
                refund_parts.insert().values(
                    charge_id=charge_id,
                    debit_charge_id=debit.id,
                    debit_entry_id=debit.ledger_entry_id,
                    amount=amount,
                    ledger_request_id=request_id,
                )
            )
        await self.conn.execute(
            update(charges).where(charges.c.id == charge_id).values(unrefundable=unrefundable)
        )

    async def refund_part_done(self, request_id: str, entry_id: str) -> bool:
        """Record a part's ledger entry; False when another forwarder recorded it first (then
        its credit split was counted already)."""
        row = (
            await self.conn.execute(
                update(refund_parts)
                .where(
                    refund_parts.c.ledger_request_id == request_id,
                    refund_parts.c.ledger_entry_id == "",
                )
                .values(ledger_entry_id=entry_id)
                .returning(refund_parts.c.charge_id)
            )
        ).first()
        return row is not None

    async def add_split(
        self, charge_id: int, prepaid: Decimal, promotional: Decimal, overage: Decimal
    ) -> None:
        await self.conn.execute(
            update(charges)
            .where(charges.c.id == charge_id)
            .values(
                prepaid=charges.c.prepaid + prepaid,
                promotional=charges.c.promotional + promotional,
                overage=charges.c.overage + overage,
            )
        )

    # -- invoices ---------------------------------------------------------------------------

    async def get_invoice(self, invoice_id: str) -> InvoiceRow | None:
        row = (await self.conn.execute(select(invoices).where(invoices.c.id == invoice_id))).first()
        return None if row is None else _invoice(row)

    async def find_invoice(self, assignment_id: str, period_start: datetime) -> InvoiceRow | None:
        row = (
            await self.conn.execute(
                select(invoices).where(
                    invoices.c.assignment_id == assignment_id,
                    invoices.c.period_start == period_start,
                )
            )
        ).first()
        return None if row is None else _invoice(row)

    async def list_invoices(
        self,
        customer_id: str,
        status: str,
        before: tuple[datetime, int] | None,
        limit: int,
    ) -> list[InvoiceRow]:
        """Newest period first (ties: newest row first), after the (period_start, seq) cursor."""
        q = select(invoices).where(invoices.c.customer_id == customer_id)
        if status:
            q = q.where(invoices.c.status == status)
        if before is not None:
            q = q.where(tuple_(invoices.c.period_start, invoices.c.seq) < tuple_(*before))
        order = (invoices.c.period_start.desc(), invoices.c.seq.desc())
        rows = await self.conn.execute(q.order_by(*order).limit(limit))
        return [_invoice(r) for r in rows]

    async def close_invoice(self, invoice_id: str, now: datetime, snapshot: dict[str, Any]) -> None:
        await self.conn.execute(
            update(invoices)
            .where(invoices.c.id == invoice_id)
            .values(status="FINAL", close_time=now, snapshot=snapshot)
        )

    async def line_totals(self, assignment_id: str, period_start: datetime) -> list[LineTotal]:
        """Per (meter, price, version): charge sums by status, quantity change and ledger split."""
        c = charges
        rows = await self.conn.execute(
            select(
                c.c.meter_id,
                c.c.price_id,
                c.c.price_version,
                func.sum(c.c.amount).label("amount"),
                func.sum(c.c.quantity_after - c.c.quantity_before).label("quantity"),
                func.sum(c.c.amount).filter(c.c.status == "DENIED").label("denied"),
                func.sum(c.c.amount).filter(c.c.status == "PENDING").label("pending"),
                func.count().filter(c.c.status == "PENDING").label("pending_count"),
                func.sum(c.c.amount).filter(c.c.status == "FAILED").label("failed"),
                func.sum(c.c.prepaid).label("prepaid"),
                func.sum(c.c.promotional).label("promotional"),
                func.sum(c.c.overage).label("overage"),
                func.min(c.c.id).label("first_id"),
            )
            .where(c.c.assignment_id == assignment_id, c.c.period_start == period_start)
            .group_by(c.c.meter_id, c.c.price_id, c.c.price_version)
            .order_by(literal_column("first_id"))
        )
        return [
            LineTotal(
                meter_id=r.meter_id,
                price_id=r.price_id,
                price_version=r.price_version,
                amount=r.amount,
                quantity=r.quantity,
                # A status with no charge sums to NULL.
                denied=r.denied or ZERO,
                pending=r.pending or ZERO,
                pending_count=r.pending_count,
                failed=r.failed or ZERO,
                prepaid=r.prepaid,
                promotional=r.promotional,
                overage=r.overage,
            )
            for r in rows
        ]

    async def aggregates_of(self, assignment_id: str, period_start: datetime) -> dict[str, Decimal]:
        rows = await self.conn.execute(
            select(aggregates.c.meter_id, aggregates.c.quantity).where(
                aggregates.c.assignment_id == assignment_id,
                aggregates.c.period_start == period_start,
            )
        )
        return {r.meter_id: r.quantity for r in rows}

    async def line_events(
        self,
        assignment_id: str,
        period_start: datetime,
        price_id: str,
        version: int,
        after_id: int,
        limit: int,
    ) -> list[tuple[Any, ChargeRow]]:
        rows = await self.conn.execute(
            select(
                charges,
                meters.c.key.label("meter_key"),
                meters.c.description.label("meter_description"),
                events.c.type.label("event_type"),
                events.c.properties.label("event_properties"),
            )
            .join(meters, meters.c.id == charges.c.meter_id)
            .join(events, events.c.id == charges.c.event_id)
            .where(
                charges.c.assignment_id == assignment_id,
                charges.c.period_start == period_start,
                charges.c.price_id == price_id,
                charges.c.price_version == version,
                charges.c.id > after_id,
            )
            .order_by(charges.c.id)
            .limit(limit)
        )
        return [(r, _charge(r)) for r in rows]

    # -- usage ------------------------------------------------------------------------------

    async def events_in(
        self, customer_id: str, event_type: str, start: datetime, end: datetime, limit: int
    ) -> list[Any]:
        rows = await self.conn.execute(
            select(events.c.id, events.c.occurred_time, events.c.properties)
            .where(
                events.c.customer_id == customer_id,
                events.c.type == event_type,
                events.c.occurred_time >= start,
                events.c.occurred_time < end,
                events.c.status != "DENIED",
            )
            .order_by(events.c.occurred_time, events.c.id)
            .limit(limit)
        )
        return list(rows)
