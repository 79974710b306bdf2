"""The ledger's reads: wallets, grants, holds, entries, events, automation, a wallet at a past
time, and what the sweeper and verify need. `LedgerRepository` (repository.py) adds the writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import asyncpg
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from billing_common.money import exact
from ledger_service.adapters.db import claims, hot, mappers, reports
from ledger_service.adapters.db.tables import (
    alert_rules,
    allocations,
    allotment_schedules,
    entries,
    grants,
    hold_allocations,
    holds,
    topups,
    wallet_events,
    wallets,
)
from ledger_service.app.ports import StoredEntry, StoredEvent
from ledger_service.domain.model import (
    ZERO,
    AlertRule,
    Allocation,
    AllotmentSchedule,
    Entry,
    EntryType,
    EventType,
    Grant,
    GrantState,
    Hold,
    HoldState,
    TopUp,
    Wallet,
    WalletEvent,
    WalletState,
)
from ledger_service.domain.reports import Bucket, Movement, ReportWallet

# A grant still in play: credits left, or overage it paid not all returned.
LIVE_GRANTS = or_(grants.c.remaining > 0, grants.c.overage_paid > grants.c.overage_returned)


class LedgerQueries:
    """Reads on one connection, in its transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._apg: asyncpg.Connection | None = None

    async def _pg(self) -> asyncpg.Connection:
        """The asyncpg connection under this unit of work, inside its transaction (the hot path's
        statements run on it directly: `hot.py`)."""
        if self._apg is None:
            raw = await self.conn.get_raw_connection()
            adapted = raw.dbapi_connection
            if self.conn.in_transaction() and getattr(adapted, "_transaction", True) is None:
                # SQLAlchemy begins the asyncpg transaction at its first statement: begin it now,
                # so statements sent straight to asyncpg are inside it.
                # (A private method of SQLAlchemy's asyncpg adapter; its connection type is
                # the DB-API protocol, which does not have it.)
                await adapted._start_transaction()  # type: ignore[union-attr]
            # SQLAlchemy types the driver's connection as Any; with the asyncpg dialect it is
            # asyncpg's.
            self._apg = cast("asyncpg.Connection", raw.driver_connection)
        return self._apg

    async def begin(self) -> None:
        """Send the transaction's BEGIN now, as its own first round trip (a connection found dead
        there has sent nothing else: the unit of work runs the transaction on another)."""
        await self._pg()

    async def get_wallet(self, wallet_id: str) -> tuple[Wallet, Decimal] | None:
        row = (await self.conn.execute(select(wallets).where(wallets.c.id == wallet_id))).first()
        return None if row is None else (mappers.to_wallet(row), row.overage)

    async def wallet_owners(self, wallet_ids: Iterable[str]) -> dict[str, str]:
        """The customer of each wallet that exists."""
        wanted = sorted(set(wallet_ids))
        if not wanted:
            return {}
        rows = await (await self._pg()).fetch(hot.WALLET_OWNERS, wanted)
        return {r["id"]: r["customer_id"] for r in rows}

    async def list_wallets(
        self, customer_id: str, after_seq: int, limit: int, customers: frozenset[str] | None
    ) -> list[tuple[int, Wallet]]:
        query = select(wallets).where(wallets.c.seq > after_seq)
        if customer_id:
            query = query.where(wallets.c.customer_id == customer_id)
        if customers is not None:
            query = query.where(wallets.c.customer_id.in_(sorted(customers)))
        rows = await self.conn.execute(query.order_by(wallets.c.seq).limit(limit))
        return [(row.seq, mappers.to_wallet(row)) for row in rows]

    # -- reports (adapters/db/reports.py) ---------------------------------------------------

    async def report_wallets(
        self,
        wallet_id: str,
        customer_id: str,
        after_seq: int,
        limit: int,
        customers: frozenset[str] | None,
    ) -> list[ReportWallet]:
        return await reports.report_wallets(
            await self._pg(), wallet_id, customer_id, after_seq, limit, customers
        )

    async def consumption_movements(
        self, wallet_ids: Sequence[str], start: datetime, end: datetime, bucket: Bucket
    ) -> list[Movement]:
        return await reports.consumption_movements(await self._pg(), wallet_ids, start, end, bucket)

    async def revenue_customers(
        self, after_seq: int, limit: int, customers: frozenset[str] | None
    ) -> list[tuple[int, str]]:
        return await reports.revenue_customers(await self._pg(), after_seq, limit, customers)

    async def revenue_movements(
        self,
        page: Sequence[str],
        customers: frozenset[str] | None,
        start: datetime,
        end: datetime,
        bucket: Bucket,
        *,
        total: bool,
    ) -> list[tuple[str | None, Movement, str, bool]]:
        return await reports.revenue_movements(
            await self._pg(), page, customers, start, end, bucket, total=total
        )

    async def _holds(self, where: Any, *, active_only: bool) -> list[Hold]:
        query = select(holds).where(where)
        if active_only:
            query = query.where(holds.c.state == HoldState.ACTIVE.value)
        rows = list(await self.conn.execute(query))
        found: dict[str, list[Allocation]] = {row.id: [] for row in rows}
        if rows:
            alloc_rows = await self.conn.execute(
                select(hold_allocations)
                .where(hold_allocations.c.hold_id.in_(list(found)))
                .order_by(hold_allocations.c.hold_id, hold_allocations.c.position)
            )
            for a in alloc_rows:
                found[a.hold_id].append(Allocation(a.grant_id, a.amount))
        return [mappers.to_hold(row, found[row.id]) for row in rows]

    async def get_hold(self, hold_id: str) -> Hold | None:
        row = await (await self._pg()).fetchrow(hot.HOLD, hold_id)
        return None if row is None else mappers.to_hold_with_allocations(row)

    async def alert_rules_of(self, wallet_id: str) -> list[AlertRule]:
        rows = await self.conn.execute(
            select(alert_rules)
            .where(alert_rules.c.wallet_id == wallet_id)
            .order_by(alert_rules.c.position)
        )
        return [mappers.to_alert_rule(row) for row in rows]

    async def schedules_of(self, wallet_id: str) -> list[AllotmentSchedule]:
        rows = await self.conn.execute(
            select(allotment_schedules)
            .where(allotment_schedules.c.wallet_id == wallet_id)
            .order_by(allotment_schedules.c.seq)
        )
        return [mappers.to_schedule(row) for row in rows]

    async def get_schedule(self, schedule_id: str) -> AllotmentSchedule | None:
        row = (
            await self.conn.execute(
                select(allotment_schedules).where(allotment_schedules.c.id == schedule_id)
            )
        ).first()
        return None if row is None else mappers.to_schedule(row)

    async def get_topup(self, topup_id: str) -> TopUp | None:
        row = (await self.conn.execute(select(topups).where(topups.c.id == topup_id))).first()
        return None if row is None else mappers.to_topup(row)

    async def list_topups(
        self, wallet_id: str, before_seq: int | None, limit: int
    ) -> list[tuple[int, TopUp]]:
        query = select(topups).where(topups.c.wallet_id == wallet_id)
        if before_seq is not None:
            query = query.where(topups.c.seq < before_seq)
        rows = await self.conn.execute(query.order_by(topups.c.seq.desc()).limit(limit))
        return [(row.seq, mappers.to_topup(row)) for row in rows]

    async def events_after(
        self, wallet_id: str, after_seq: int, types: Sequence[str], limit: int, upto: int
    ) -> list[StoredEvent]:
        query = select(wallet_events).where(
            wallet_events.c.seq > after_seq, wallet_events.c.seq <= upto
        )
        if wallet_id:
            query = query.where(wallet_events.c.wallet_id == wallet_id)
        if types:
            query = query.where(wallet_events.c.type.in_(list(types)))
        rows = await self.conn.execute(query.order_by(wallet_events.c.seq).limit(limit))
        return [
            StoredEvent(
                row.seq,
                row.id,
                row.wallet_id,
                row.book_time,
                WalletEvent(EventType(row.type), row.occurred_time, dict(row.data)),
            )
            for row in rows
        ]

    # -- grants -----------------------------------------------------------------------------

    async def get_grant(self, grant_id: str) -> Grant | None:
        row = (await self.conn.execute(select(grants).where(grants.c.id == grant_id))).first()
        return None if row is None else mappers.to_grant(row)

    async def list_grants(
        self, wallet_id: str, state: GrantState | None, at: datetime, after_seq: int, limit: int
    ) -> list[tuple[int, Grant]]:
        query = select(grants).where(grants.c.wallet_id == wallet_id, grants.c.seq > after_seq)
        if state is not None:
            query = query.where(mappers.state_filter(state, at))
        rows = await self.conn.execute(query.order_by(grants.c.seq).limit(limit))
        return [(row.seq, mappers.to_grant(row)) for row in rows]

    # -- entries ----------------------------------------------------------------------------

    async def _allocations_of(self, entry_ids: Sequence[str]) -> dict[str, list[Allocation]]:
        found: dict[str, list[Allocation]] = {e: [] for e in entry_ids}
        if entry_ids:
            rows = await self.conn.execute(
                select(allocations)
                .where(allocations.c.entry_id.in_(list(entry_ids)))
                .order_by(allocations.c.entry_id, allocations.c.position)
            )
            for row in rows:
                found[row.entry_id].append(Allocation(row.grant_id, row.amount))
        return found

    def _stored(self, row: Any, allocs: list[Allocation]) -> StoredEntry:
        return StoredEntry(
            id=row.id,
            wallet_id=row.wallet_id,
            book_time=row.book_time,
            request_id=row.request_id,
            actor=row.actor,
            entry=Entry(
                type=EntryType(row.type),
                amount=row.amount,
                occurred_time=row.occurred_time,
                allocations=tuple(allocs),
                available_after=row.available_after,
                overage_after=row.overage_after,
                description=row.description,
                feature=row.feature,
                source_event_id=row.source_event_id,
                related_id=row.related_id,
                metadata=dict(row.metadata),
                member_id=row.member_id,
                over_budget=row.over_budget,
            ),
        )

    async def get_entry(self, entry_id: str) -> StoredEntry | None:
        row = (await self.conn.execute(select(entries).where(entries.c.id == entry_id))).first()
        if row is None:
            return None
        return self._stored(row, (await self._allocations_of([entry_id]))[entry_id])

    async def refunds_of(self, entry_id: str) -> list[list[Allocation]]:
        """The allocations of every REFUND entry booked against a debit, oldest first."""
        rows = await self.conn.execute(
            select(entries.c.id, allocations.c.grant_id, allocations.c.amount)
            .join(allocations, allocations.c.entry_id == entries.c.id)
            .where(entries.c.related_id == entry_id, entries.c.type == EntryType.REFUND.value)
            .order_by(entries.c.seq, allocations.c.position)
        )
        grouped: dict[str, list[Allocation]] = {}
        for row in rows:
            grouped.setdefault(row.id, []).append(Allocation(row.grant_id, row.amount))
        return list(grouped.values())

    async def list_entries(
        self,
        wallet_id: str,
        types: Sequence[EntryType],
        start: datetime | None,
        end: datetime | None,
        before_seq: int | None,
        limit: int,
        member_id: str = "",
    ) -> list[tuple[int, StoredEntry]]:
        query = select(entries).where(entries.c.wallet_id == wallet_id)
        if member_id:
            query = query.where(entries.c.member_id == member_id)
        if types:
            query = query.where(entries.c.type.in_([t.value for t in types]))
        if start is not None:
            query = query.where(entries.c.book_time >= start)
        if end is not None:
            query = query.where(entries.c.book_time < end)
        if before_seq is not None:
            query = query.where(entries.c.seq < before_seq)
        rows = list(await self.conn.execute(query.order_by(entries.c.seq.desc()).limit(limit)))
        allocs = await self._allocations_of([r.id for r in rows])
        return [(r.seq, self._stored(r, allocs[r.id])) for r in rows]

    # -- balances ---------------------------------------------------------------------------

    @exact
    async def state_now_of(self, customer_id: str, unit: str) -> WalletState | None:
        """A customer's wallet in `unit` now, as `state_at(wallet_id, None)` (one statement)."""
        found = await (await self._pg()).fetchrow(hot.STATE_NOW_OF_CUSTOMER, customer_id, unit)
        return None if found is None else mappers.to_state_now(found)

    async def state_to_authorize(
        self, wallet_id: str, customer_id: str, unit: str, now: datetime
    ) -> WalletState | None:
        """The wallet now, by id or by customer and unit, with what deciding a top-up needs (one
        statement: `hot.AUTHORIZE_STATE_NOW`)."""
        day_start, month_start = hot.cap_periods(now)
        pg = await self._pg()
        if wallet_id:
            found = await pg.fetchrow(hot.AUTHORIZE_STATE_NOW, wallet_id, day_start, month_start)
        else:
            found = await pg.fetchrow(
                hot.AUTHORIZE_STATE_NOW_OF_CUSTOMER, customer_id, day_start, month_start, unit
            )
        return None if found is None else mappers.to_authorize_state(found)

    async def state_at(self, wallet_id: str, at: datetime | None) -> WalletState | None:
        """The wallet's grants and overage as the journal stood at `at` (None: now), unlocked.

        Now: the materialised live grants, active holds and the allotment schedules, in one
        statement whose cost does not depend on the length of the journal. The past: the live
        grants minus every allocation booked after `at` (cost grows with entries since `at`).
        """
        if at is None:
            found = await (await self._pg()).fetchrow(hot.STATE_NOW, wallet_id)
            return None if found is None else mappers.to_state_now(found)
        row = (await self.conn.execute(select(wallets).where(wallets.c.id == wallet_id))).first()
        if row is None:
            return None
        wallet, overage, book_time = mappers.to_wallet(row), row.overage, row.last_book_time
        rows = await self.conn.execute(
            select(grants).where(grants.c.wallet_id == wallet_id, LIVE_GRANTS)
        )
        loaded = {row.id: mappers.to_grant(row) for row in rows}
        deltas = await self.conn.execute(
            select(allocations.c.grant_id, func.sum(allocations.c.amount))
            .join(entries, entries.c.id == allocations.c.entry_id)
            .where(entries.c.wallet_id == wallet_id, entries.c.book_time > at)
            .group_by(allocations.c.grant_id)
        )
        later = {row[0]: row[1] for row in deltas}
        missing = [g for g in later if g is not None and g not in loaded]
        if missing:
            for row in await self.conn.execute(select(grants).where(grants.c.id.in_(missing))):
                loaded[row.id] = mappers.to_grant(row)
        past: dict[str, Grant] = {}
        for grant_id, g in loaded.items():
            if g.create_time > at:
                continue
            past[grant_id] = replace(
                g,
                remaining=g.remaining - later.get(grant_id, ZERO),
                void_time=g.void_time if g.void_time is not None and g.void_time <= at else None,
            )
        # Holds alive at `at`: created by then and not ended by then (Hold.active_at decides).
        alive = await self._holds(
            and_(
                holds.c.wallet_id == wallet_id,
                holds.c.create_time <= at,
                or_(holds.c.end_time.is_(None), holds.c.end_time > at),
            ),
            active_only=False,
        )
        past_holds = {h.id: replace(h, state=HoldState.ACTIVE, end_time=None) for h in alive}
        return WalletState(
            wallet, past, overage + later.get(None, ZERO), past_holds, book_time=book_time
        )

    # -- expiry and verification ------------------------------------------------------------

    async def wallets_due(self, now: datetime, wallet_id: str, limit: int) -> list[str]:
        """Wallets with a write-off due, or overage that a now-available grant would settle;
        for the sweep of all wallets, each claimed for this transaction (adapters/db/claims.py),
        passing over the wallets another process's sweep has claimed."""
        expiry_due = (
            select(grants.c.wallet_id)
            .join(wallets, wallets.c.id == grants.c.wallet_id)
            .where(
                grants.c.remaining > 0,
                grants.c.expire_time.is_not(None),
                grants.c.void_time.is_(None),
                grants.c.expire_time + wallets.c.late_event_grace <= now,
            )
        )
        settle_due = (
            select(grants.c.wallet_id)
            .join(wallets, wallets.c.id == grants.c.wallet_id)
            .where(
                wallets.c.overage > 0,
                grants.c.remaining > 0,
                grants.c.void_time.is_(None),
                grants.c.effective_time <= now,
                or_(grants.c.expire_time.is_(None), grants.c.expire_time > now),
            )
        )
        holds_due = select(holds.c.wallet_id).where(
            holds.c.state == HoldState.ACTIVE.value, holds.c.expire_time <= now
        )
        allotments_due = select(allotment_schedules.c.wallet_id).where(
            or_(
                and_(
                    allotment_schedules.c.next_time <= now,
                    or_(
                        allotment_schedules.c.end_time.is_(None),
                        allotment_schedules.c.next_time < allotment_schedules.c.end_time,
                    ),
                ),
                and_(
                    allotment_schedules.c.end_time <= now, allotment_schedules.c.closed.is_(False)
                ),
            )
        )
        if wallet_id:
            expiry_due = expiry_due.where(grants.c.wallet_id == wallet_id)
            settle_due = settle_due.where(grants.c.wallet_id == wallet_id)
            holds_due = holds_due.where(holds.c.wallet_id == wallet_id)
            allotments_due = allotments_due.where(allotment_schedules.c.wallet_id == wallet_id)
        union = expiry_due.union(settle_due, holds_due, allotments_due)
        if wallet_id:  # one wallet asked for (RunExpiry): its lock decides, no claim
            found = union.subquery()
            rows = await self.conn.execute(select(found.c.wallet_id).limit(limit))
            return list(rows.scalars())
        # Ordered first, then claimed one by one as LIMIT pulls them (the subquery's ORDER BY
        # keeps the claim out of it): wallets another process's sweep holds are passed over.
        ordered = union.order_by("wallet_id").subquery()
        rows = await self.conn.execute(
            select(ordered.c.wallet_id)
            .where(claims.claimed(claims.SWEEP, ordered.c.wallet_id))
            .limit(limit)
        )
        return list(rows.scalars())

    async def journal_totals(self, wallet_id: str) -> dict[str, Any]:
        """Everything VerifyWallet compares, recomputed from entries and allocations."""
        per_grant = await self.conn.execute(
            select(allocations.c.grant_id, func.sum(allocations.c.amount))
            .join(entries, entries.c.id == allocations.c.entry_id)
            .where(entries.c.wallet_id == wallet_id)
            .group_by(allocations.c.grant_id)
        )
        by_type = await self.conn.execute(
            select(entries.c.type, func.sum(entries.c.amount))
            .where(entries.c.wallet_id == wallet_id)
            .group_by(entries.c.type)
        )
        # Grouped over this wallet's entries only: its cost follows the wallet's journal, not
        # the whole allocations table.
        total = func.coalesce(func.sum(allocations.c.amount), 0)
        unbalanced = await self.conn.execute(
            select(entries.c.id, entries.c.amount, total)
            .outerjoin(allocations, allocations.c.entry_id == entries.c.id)
            .where(entries.c.wallet_id == wallet_id)
            .group_by(entries.c.id, entries.c.amount)
            .having(entries.c.amount != total)
        )
        stored = await self.conn.execute(
            select(grants.c.id, grants.c.remaining).where(grants.c.wallet_id == wallet_id)
        )
        return {
            "per_grant": {row[0]: row[1] for row in per_grant},
            "by_type": {row[0]: row[1] for row in by_type},
            "unbalanced": [(row[0], row[1], row[2]) for row in unbalanced],
            "stored_grants": {row[0]: row[1] for row in stored},
        }
