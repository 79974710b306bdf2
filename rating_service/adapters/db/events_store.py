"""Events and what they count in: aggregates (under advisory locks) and UNIQUE_COUNT values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, literal_column, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from rating_service.adapters.db.rows import (
    NEW_EVENT,
    USAGE_EVENT,
    Store,
    chunks,
    lock_key,
)
from rating_service.adapters.db.tables import (
    aggregates,
    charges,
    events,
    unique_values,
)
from rating_service.app.records import NewEvent, UsageEvent
from rating_service.domain.aggregation import AggregateState
from rating_service.domain.batch import AggKey, UniqueKey
from rating_service.domain.status import EventState


class EventStore(Store):
    def __init__(self, conn: AsyncConnection) -> None:
        super().__init__(conn)
        # Aggregate keys locked at session level through this repository (synchronous ingest).
        self.session_keys: set[int] = set()

    async def insert_events(self, new: Sequence[NewEvent]) -> set[str]:
        """Insert events; return the ids that were new. A concurrent insert of the same id waits
        for the other transaction, so exactly one of them sees the id as new."""
        inserted: set[str] = set()
        if new:
            # executemany: SQLAlchemy sends "insertmanyvalues" batches with one cached compiled
            # statement, instead of compiling a 1,000-row VALUES list on every call.
            stmt = (
                pg_insert(events)
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(events.c.id)
            )
            rows = [NEW_EVENT.dump(e) for e in new]
            inserted = set((await self.conn.execute(stmt, rows)).scalars())
        return inserted

    async def event_statuses(
        self, ids: Iterable[str], *, lock: bool = False
    ) -> dict[str, EventState]:
        """ACCEPTED, HELD (a synchronous caller is waiting for the ledger) or DENIED; `lock`
        takes the rows FOR UPDATE."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        q = select(events.c.id, events.c.status).where(events.c.id.in_(wanted))
        rows = await self.conn.execute(q.with_for_update() if lock else q)
        return {r.id: EventState(r.status) for r in rows}

    async def set_event_status(self, event_ids: Iterable[str], status: EventState) -> None:
        """Move events out of HELD (to ACCEPTED or DENIED); other statuses are final."""
        wanted = list(set(event_ids))
        if wanted:
            await self.conn.execute(
                update(events)
                .where(events.c.id.in_(wanted), events.c.status == EventState.HELD)
                .values(status=status)
            )

    async def lock_aggregates(self, keys: Iterable[AggKey], *, session: bool = False) -> None:
        """Advisory locks on aggregate keys, in sorted order (so never a cycle). Transaction
        scope by default; `session` keeps them past commit (synchronous ingest) until
        `unlock_aggregates` (or `unlock_all`)."""
        ordered = sorted({lock_key(*k) for k in keys})
        if not ordered:
            return
        fn = "pg_advisory_lock" if session else "pg_advisory_xact_lock"
        if session:
            self.session_keys.update(ordered)
        await self.conn.execute(
            text(f"SELECT {fn}(k) FROM (SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) s"),
            {"keys": ordered},
        )

    async def try_lock_aggregates(self, keys: Iterable[AggKey]) -> bool:
        """Session advisory locks on all of these aggregate keys, without waiting: False (and
        none kept) if any is held by another session. A synchronous ingest holds its event's
        keys from transaction A until the event is decided, so all of them free while the event
        is still HELD means its holder is gone."""
        ordered = sorted({lock_key(*k) for k in keys})
        if not ordered:
            return False
        rows = await self.conn.execute(
            text(
                "SELECT k, pg_try_advisory_lock(k) AS got "
                "FROM (SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) s"
            ),
            {"keys": ordered},
        )
        got = {r.k for r in rows if r.got}
        if len(got) == len(ordered):
            self.session_keys.update(got)
            return True
        await self._unlock(sorted(got))
        return False

    async def unlock_aggregates(self) -> None:
        """Give back the session locks `lock_aggregates(session=True)` and `try_lock_aggregates`
        took through this repository (only those: a synchronous request's own lock stays)."""
        keys, self.session_keys = sorted(self.session_keys), set()
        await self._unlock(keys)

    async def _unlock(self, keys: Sequence[int]) -> None:
        if keys:
            await self.conn.execute(
                text("SELECT pg_advisory_unlock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"),
                {"keys": list(keys)},
            )

    async def unlock_all(self) -> None:
        self.session_keys = set()
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

    async def rated_since(self, column: str, value: str, since: datetime) -> bool:
        """Whether an event that occurred at or after `since` was already rated: a charge by this
        price (column "price_id"), or any accepted event of this customer ("customer_id")."""
        table = events if column == "customer_id" else charges
        q: Select[tuple[Any]] = select(literal_column("1")).select_from(table)
        q = q.where(table.c[column] == value, table.c.occurred_time >= since)
        if table is events:
            q = q.where(events.c.status != EventState.DENIED)
        return (await self.conn.execute(q.limit(1))).first() is not None

    async def forget_events(self, event_ids: Sequence[str]) -> None:
        """Take back events inserted earlier in this transaction and then rejected."""
        if event_ids:
            await self.conn.execute(events.delete().where(events.c.id.in_(list(event_ids))))

    async def deny_event(self, event_id: str) -> None:
        """A synchronous refusal undid the event: its charges go (they never reached the ledger,
        or were refunded), the event stays as DENIED so its id is never accepted again."""
        await self.conn.execute(charges.delete().where(charges.c.event_id == event_id))
        await self.set_event_status([event_id], EventState.DENIED)

    async def events_in(
        self, customer_id: str, event_type: str, start: datetime, end: datetime, limit: int
    ) -> list[UsageEvent]:
        rows = await self.conn.execute(
            select(events.c.id, events.c.occurred_time, events.c.properties)
            .where(
                events.c.customer_id == customer_id,
                events.c.type == event_type,
                events.c.occurred_time >= start,
                events.c.occurred_time < end,
                events.c.status != EventState.DENIED,
            )
            .order_by(events.c.occurred_time, events.c.id)
            .limit(limit)
        )
        return [USAGE_EVENT.load(r) for r in rows]
