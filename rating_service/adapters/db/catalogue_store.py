"""The catalogue: meters, price versions, plans and plan assignments."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from rating_service.adapters.db.rows import (
    ASSIGNMENT,
    METER,
    PLAN,
    PRICE,
    PRICE_VERSION,
    STORED_PLAN,
    Store,
    lock_key,
)
from rating_service.adapters.db.tables import (
    assignments,
    invoices,
    meters,
    plans,
    price_versions,
)
from rating_service.app.records import StoredPlan, StoredPrice
from rating_service.domain.meters import Meter
from rating_service.domain.model import Assignment, Plan, PriceVersion


class CatalogueStore(Store):
    async def insert_meter(self, meter: Meter, now: datetime, created_by: str) -> bool:
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
                created_by=created_by,
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(meters.c.id)
        )
        return (await self.conn.execute(stmt)).first() is not None

    async def get_meter(self, meter_id: str) -> tuple[Meter, datetime, int] | None:
        row = (await self.conn.execute(select(meters).where(meters.c.id == meter_id))).first()
        return None if row is None else (METER.load(row), row.create_time, row.seq)

    async def list_meters(self, after_seq: int, limit: int) -> list[tuple[Meter, datetime, int]]:
        rows = await self.conn.execute(
            select(meters).where(meters.c.seq > after_seq).order_by(meters.c.seq).limit(limit)
        )
        return [(METER.load(r), r.create_time, r.seq) for r in rows]

    async def meters_by_ids(self, ids: Iterable[str]) -> dict[str, Meter]:
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = await self.conn.execute(select(meters).where(meters.c.id.in_(wanted)))
        return {r.id: METER.load(r) for r in rows}

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
            result[r.price_id].append(PRICE.load(r))
        return result

    async def insert_price_version(
        self, v: PriceVersion, unit: str, now: datetime, created_by: str
    ) -> None:
        await self.conn.execute(
            price_versions.insert().values(
                **PRICE_VERSION.dump(v), unit=unit, create_time=now, created_by=created_by
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
        return [PRICE.load(r) for r in rows]

    async def insert_plan(self, plan: Plan, unit: str, now: datetime, created_by: str) -> None:
        await self.conn.execute(
            plans.insert().values(
                **PLAN.dump(plan), unit=unit, create_time=now, created_by=created_by
            )
        )

    async def plans_by_ids(self, ids: Iterable[str]) -> dict[str, StoredPlan]:
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = await self.conn.execute(select(plans).where(plans.c.id.in_(wanted)))
        return {r.id: STORED_PLAN.load(r) for r in rows}

    async def insert_assignment(self, a: Assignment, now: datetime, created_by: str) -> None:
        await self.conn.execute(
            assignments.insert().values(
                id=a.id,
                customer_id=a.customer_id,
                plan_id=a.plan_id,
                wallet_id=a.wallet_id,
                start_time=a.start_time,
                create_time=now,
                created_by=created_by,
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
            result[r.customer_id].append(ASSIGNMENT.load(r))
        return result

    async def list_plans(self, after_seq: int, limit: int) -> list[tuple[StoredPlan, int]]:
        rows = await self.conn.execute(
            select(plans).where(plans.c.seq > after_seq).order_by(plans.c.seq).limit(limit)
        )
        return [(STORED_PLAN.load(r), r.seq) for r in rows]

    async def assignment_create_times(self, ids: Iterable[str]) -> dict[str, datetime]:
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = await self.conn.execute(
            select(assignments.c.id, assignments.c.create_time).where(assignments.c.id.in_(wanted))
        )
        return {r.id: r.create_time for r in rows}

    async def end_assignment(self, assignment_id: str, end_time: datetime, ended_by: str) -> None:
        await self.conn.execute(
            update(assignments)
            .where(assignments.c.id == assignment_id)
            .values(end_time=end_time, ended_by=ended_by)
        )

    async def shorten_invoices(self, assignment_id: str, end_time: datetime) -> None:
        await self.conn.execute(
            update(invoices)
            .where(invoices.c.assignment_id == assignment_id, invoices.c.period_end > end_time)
            .values(period_end=end_time)
        )

    async def assignments_by_ids(self, ids: Iterable[str]) -> dict[str, Assignment]:
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = await self.conn.execute(select(assignments).where(assignments.c.id.in_(wanted)))
        return {r.id: ASSIGNMENT.load(r) for r in rows}
