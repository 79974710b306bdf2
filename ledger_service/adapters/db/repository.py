"""The ledger's storage adapter: loads wallet states, persists what the domain produced.

Every method works on many rows at once so a batch of 1,000 debits costs a fixed number of round
trips. Locks are always taken in one order: idempotency keys (sorted), then wallets (sorted by id),
so concurrent transactions never wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import asyncpg
from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from billing_common.money import exact
from billing_common.periods import Cadence
from ledger_service.adapters.db import hot
from ledger_service.adapters.db.tables import (
    alert_rules,
    allocations,
    allotment_schedules,
    entries,
    grants,
    hold_allocations,
    holds,
    topup_rules,
    topups,
    wallet_events,
    wallets,
)
from ledger_service.adapters.db.webhooks import WebhookRepository
from ledger_service.app.ports import Claim, StoredEntry, StoredEvent
from ledger_service.domain.ledger import write_time
from ledger_service.domain.model import (
    ZERO,
    AlertKind,
    AlertRule,
    Allocation,
    AllotmentExpiry,
    AllotmentSchedule,
    Automation,
    Entry,
    EntryType,
    EventType,
    Grant,
    GrantKind,
    GrantState,
    Hold,
    HoldState,
    OveragePolicy,
    TopUp,
    TopUpPayment,
    TopUpRule,
    TopUpState,
    Wallet,
    WalletEvent,
    WalletState,
)


def _wallet(row: Any) -> Wallet:
    return Wallet(
        id=row.id,
        customer_id=row.customer_id,
        unit=row.unit,
        overage_policy=OveragePolicy(row.overage_policy),
        late_event_grace=row.late_event_grace,
        create_time=row.create_time,
        metadata=dict(row.metadata),
    )


def _state(row: Any) -> WalletState:
    """A wallet row as the start of its state (grants, holds and automation loaded after)."""
    return WalletState(_wallet(row), {}, row.overage, book_time=row.last_book_time)


def _grant(row: Any) -> Grant:
    return Grant(
        id=row.id,
        wallet_id=row.wallet_id,
        kind=GrantKind(row.kind),
        amount=row.amount,
        remaining=row.remaining,
        priority=row.priority,
        effective_time=row.effective_time,
        expire_time=row.expire_time,
        create_time=row.create_time,
        void_time=row.void_time,
        expired_amount=row.expired_amount,
        voided_amount=row.voided_amount,
        overage_paid=row.overage_paid,
        overage_returned=row.overage_returned,
        cost_unit_price=row.cost_unit_price,
        cost_currency=row.cost_currency,
        external_reference=row.external_reference,
        metadata=dict(row.metadata),
    )


def _grant_row(g: Grant) -> dict[str, Any]:
    return {
        "id": g.id,
        "wallet_id": g.wallet_id,
        "kind": g.kind.value,
        "amount": g.amount,
        "remaining": g.remaining,
        "priority": g.priority,
        "effective_time": g.effective_time,
        "expire_time": g.expire_time,
        "create_time": g.create_time,
        "void_time": g.void_time,
        "expired_amount": g.expired_amount,
        "voided_amount": g.voided_amount,
        "overage_paid": g.overage_paid,
        "overage_returned": g.overage_returned,
        "cost_unit_price": g.cost_unit_price,
        "cost_currency": g.cost_currency,
        "external_reference": g.external_reference,
        "metadata": g.metadata,
    }


def _hold(row: Any, allocs: Sequence[Allocation]) -> Hold:
    return Hold(
        id=row.id,
        wallet_id=row.wallet_id,
        amount=row.amount,
        create_time=row.create_time,
        expire_time=row.expire_time,
        allocations=tuple(allocs),
        state=HoldState(row.state),
        end_time=row.end_time,
        captured_amount=row.captured_amount,
        feature=row.feature,
        description=row.description,
    )


def _hold_with_allocations(row: Any) -> Hold:
    """A hold from `hot.HOLD`: its allocations come as two arrays."""
    allocs = [
        Allocation(g, a) for g, a in zip(row["alloc_grants"], row["alloc_amounts"], strict=True)
    ]
    return _hold(hot.Row(row), allocs)


def _loaded_state(state: WalletState, row: Any) -> WalletState:
    """A locked wallet's state from its row of `hot.LOAD_STATES`."""
    allocs: dict[str, list[Allocation]] = {}
    for a in row["hold_allocations"]:
        allocs.setdefault(a["hold_id"], []).append(Allocation(a["grant_id"], a["amount"]))
    topup_rule = row["topup_rule"]
    return replace(
        state,
        grants={g["id"]: _grant(hot.Row(g)) for g in row["grants"]},
        holds={h["id"]: _hold(hot.Row(h), allocs.get(h["id"], [])) for h in row["holds"]},
        automation=Automation(
            schedules=tuple(_schedule(hot.Row(s)) for s in row["schedules"]),
            alert_rules=tuple(_alert_rule(hot.Row(r)) for r in row["alert_rules"]),
            topup_rule=None if topup_rule is None else _topup_rule(hot.Row(topup_rule)),
            topups={p["id"]: _topup(hot.Row(p)) for p in row["pending"]},
            topped_up_day=row["in_day"],
            topped_up_month=row["in_month"],
        ),
    )


def _state_now(row: Any) -> WalletState:
    """A wallet now from its row of `hot.STATE_NOW` (its automation holds only its schedules)."""
    allocs: dict[str, list[Allocation]] = {}
    for a in row["active_hold_allocations"]:
        allocs.setdefault(a["hold_id"], []).append(Allocation(a["grant_id"], a["amount"]))
    wallet = hot.Row(row)
    return WalletState(
        _wallet(wallet),
        {g["id"]: _grant(hot.Row(g)) for g in row["live_grants"]},
        wallet.overage,
        {h["id"]: _hold(hot.Row(h), allocs.get(h["id"], [])) for h in row["active_holds"]},
        book_time=wallet.last_book_time,
        automation=Automation(
            schedules=tuple(_schedule(hot.Row(s)) for s in row["wallet_schedules"])
        ),
    )


def _alert_rule(row: Any) -> AlertRule:
    return AlertRule(
        id=row.id,
        wallet_id=row.wallet_id,
        name=row.name,
        kind=AlertKind(row.kind),
        threshold=row.threshold,
        min_interval=row.min_interval,
        armed=row.armed,
        last_fire_time=row.last_fire_time,
    )


def _topup_rule(row: Any) -> TopUpRule:
    return TopUpRule(
        wallet_id=row.wallet_id,
        threshold=row.threshold,
        amount=row.amount,
        target=row.target,
        kind=GrantKind(row.kind),
        priority=row.priority,
        expire_after=row.expire_after,
        unit_price=row.unit_price,
        currency=row.currency,
        daily_cap=row.daily_cap,
        monthly_cap=row.monthly_cap,
        payment=TopUpPayment(row.payment),
        enabled=row.enabled,
        armed=row.armed,
        failures=row.failures,
        retry_after=row.retry_after,
        expire_time=row.expire_time,
        schedule_id=row.schedule_id or "",
    )


def _topup_rule_row(r: TopUpRule) -> dict[str, Any]:
    return {
        "wallet_id": r.wallet_id,
        "threshold": r.threshold,
        "amount": r.amount,
        "target": r.target,
        "kind": r.kind.value,
        "priority": r.priority,
        "expire_after": r.expire_after,
        "unit_price": r.unit_price,
        "currency": r.currency,
        "daily_cap": r.daily_cap,
        "monthly_cap": r.monthly_cap,
        "payment": r.payment.value,
        "enabled": r.enabled,
        "armed": r.armed,
        "failures": r.failures,
        "retry_after": r.retry_after,
        "expire_time": r.expire_time,
        "schedule_id": r.schedule_id or None,
    }


def _topup(row: Any) -> TopUp:
    return TopUp(
        id=row.id,
        wallet_id=row.wallet_id,
        amount=row.amount,
        unit_price=row.unit_price,
        currency=row.currency,
        state=TopUpState(row.state),
        create_time=row.create_time,
        kind=GrantKind(row.kind),
        priority=row.priority,
        expire_time=row.expire_time,
        end_time=row.end_time,
        grant_id=row.grant_id,
        failure_reason=row.failure_reason,
        schedule_id=row.schedule_id or "",
    )


def _topup_row(t: TopUp) -> dict[str, Any]:
    return {
        "id": t.id,
        "wallet_id": t.wallet_id,
        "amount": t.amount,
        "unit_price": t.unit_price,
        "currency": t.currency,
        "state": t.state.value,
        "create_time": t.create_time,
        "end_time": t.end_time,
        "grant_id": t.grant_id,
        "failure_reason": t.failure_reason,
        "kind": t.kind.value,
        "priority": t.priority,
        "expire_time": t.expire_time,
        "schedule_id": t.schedule_id or None,
    }


def _schedule(row: Any) -> AllotmentSchedule:
    return AllotmentSchedule(
        id=row.id,
        wallet_id=row.wallet_id,
        amount=row.amount,
        kind=GrantKind(row.kind),
        priority=row.priority,
        cadence=Cadence(row.cadence),
        anchor=row.anchor_time,
        expiry=AllotmentExpiry(row.expiry),
        expire_after=row.expire_after,
        rollover_cap=row.rollover_cap,
        end_time=row.end_time,
        next_index=row.next_index,
        unit_price=row.unit_price,
        currency=row.currency,
        description=row.description,
        closed=row.closed,
    )


def _schedule_row(s: AllotmentSchedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "wallet_id": s.wallet_id,
        "amount": s.amount,
        "kind": s.kind.value,
        "priority": s.priority,
        "cadence": s.cadence.value,
        "anchor_time": s.anchor,
        "expiry": s.expiry.value,
        "expire_after": s.expire_after,
        "rollover_cap": s.rollover_cap,
        "end_time": s.end_time,
        "next_index": s.next_index,
        "next_time": s.start(s.next_index),
        "unit_price": s.unit_price,
        "currency": s.currency,
        "description": s.description,
        "closed": s.closed,
    }


_LIVE = or_(grants.c.remaining > 0, grants.c.overage_paid > grants.c.overage_returned)


# SQL for "grant is in this state at :at", used by ListGrants.
def _state_filter(state: GrantState, at: datetime) -> Any:
    not_void = grants.c.void_time.is_(None)
    expired = and_(grants.c.expire_time.is_not(None), grants.c.expire_time <= at)
    had_remainder = or_(grants.c.remaining > 0, grants.c.expired_amount > 0)
    return {
        GrantState.VOIDED: grants.c.void_time.is_not(None),
        GrantState.EXPIRED: and_(not_void, expired, had_remainder),
        GrantState.CONSUMED: and_(not_void, grants.c.remaining == 0, ~and_(expired, had_remainder)),
        GrantState.PENDING: and_(not_void, grants.c.effective_time > at, grants.c.remaining > 0),
        GrantState.ACTIVE: and_(
            not_void,
            grants.c.effective_time <= at,
            grants.c.remaining > 0,
            or_(grants.c.expire_time.is_(None), grants.c.expire_time > at),
        ),
    }[state]


@dataclass(slots=True)
class _AutomationRows:
    """The automation rows a write changed, by table: what `_save_automation` writes."""

    schedules: list[dict[str, Any]] = field(default_factory=list)
    changed_alerts: list[dict[str, Any]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    new_topups: list[dict[str, Any]] = field(default_factory=list)
    changed_topups: list[dict[str, Any]] = field(default_factory=list)


def _automation_rows(
    before: dict[str, WalletState], after: dict[str, WalletState]
) -> _AutomationRows:
    rows = _AutomationRows()
    for wallet_id, new_state in after.items():
        old, new = before[wallet_id].automation, new_state.automation
        old_schedules = {s.id: s for s in old.schedules}
        rows.schedules += [_schedule_row(s) for s in new.schedules if old_schedules.get(s.id) != s]
        if old is new:
            continue
        prior_alerts = {r.id: r for r in old.alert_rules}
        rows.changed_alerts += [
            {"b_id": r.id, "b_armed": r.armed, "b_fired": r.last_fire_time}
            for r in new.alert_rules
            if prior_alerts.get(r.id) not in (None, r)
        ]
        if new.topup_rule is not None and new.topup_rule != old.topup_rule:
            rows.rules.append(_topup_rule_row(new.topup_rule))
        for topup_id, topup in new.topups.items():
            prior = old.topups.get(topup_id)
            if prior is None:
                rows.new_topups.append(_topup_row(topup))
            elif prior != topup:
                rows.changed_topups.append({"b_" + k: v for k, v in _topup_row(topup).items()})
    return rows


class LedgerRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._apg: asyncpg.Connection | None = None

    @property
    def webhooks(self) -> WebhookRepository:
        """The webhook storage on this connection, in the same transaction."""
        return WebhookRepository(self.conn)

    # -- idempotency ------------------------------------------------------------------------

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

    async def claim(
        self, requests: Sequence[tuple[str, str, bytes]], now: datetime
    ) -> dict[str, Claim]:
        """Claim (request_id, method, fingerprint) keys; ids must be distinct.

        A key another transaction holds makes this wait until it commits or rolls back, so a
        concurrent replay sees the original response rather than racing it. Keys are inserted in
        sorted order, so two transactions never wait on each other's keys in a cycle.
        """
        if not requests:
            return {}
        ordered = sorted(requests)
        pg = await self._pg()
        ids, methods, prints = hot.columns(ordered, 3)
        claimed = {r["request_id"] for r in await pg.fetch(hot.CLAIM, ids, methods, prints, now)}
        result = {r: Claim(r, True) for r in claimed}
        others = [r for r in ids if r not in claimed]
        if others:
            for row in await pg.fetch(hot.CLAIMED, others):
                result[row["request_id"]] = Claim(
                    row["request_id"], False, row["method"], row["fingerprint"], row["response"]
                )
        return result

    async def store_responses(self, responses: dict[str, bytes]) -> None:
        if responses:
            pg = await self._pg()
            await pg.execute(hot.STORE_RESPONSES, list(responses), list(responses.values()))

    # -- wallets ----------------------------------------------------------------------------

    async def insert_wallet(self, wallet: Wallet) -> bool:
        """False when the customer already has a wallet in that unit."""
        stmt = (
            pg_insert(wallets)
            .values(
                id=wallet.id,
                customer_id=wallet.customer_id,
                unit=wallet.unit,
                overage_policy=wallet.overage_policy.value,
                late_event_grace=wallet.late_event_grace,
                metadata=wallet.metadata,
                create_time=wallet.create_time,
                last_book_time=wallet.create_time,
            )
            .on_conflict_do_nothing(constraint="wallets_customer_unit_key")
            .returning(wallets.c.id)
        )
        return (await self.conn.execute(stmt)).first() is not None

    async def get_wallet(self, wallet_id: str) -> tuple[Wallet, Decimal] | None:
        row = (await self.conn.execute(select(wallets).where(wallets.c.id == wallet_id))).first()
        return None if row is None else (_wallet(row), row.overage)

    async def wallet_owners(self, wallet_ids: Iterable[str]) -> dict[str, str]:
        """The customer of each wallet that exists."""
        wanted = sorted(set(wallet_ids))
        if not wanted:
            return {}
        rows = await (await self._pg()).fetch(hot.WALLET_OWNERS, wanted)
        return {r["id"]: r["customer_id"] for r in rows}

    async def list_wallets(
        self, customer_id: str, after_seq: int, limit: int
    ) -> list[tuple[int, Wallet]]:
        query = select(wallets).where(wallets.c.seq > after_seq)
        if customer_id:
            query = query.where(wallets.c.customer_id == customer_id)
        rows = await self.conn.execute(query.order_by(wallets.c.seq).limit(limit))
        return [(row.seq, _wallet(row)) for row in rows]

    async def lock_states(
        self,
        wallet_ids: Iterable[str],
        time_under_lock: Callable[[], datetime],
    ) -> tuple[dict[str, WalletState], datetime]:
        """Lock wallets (sorted by id), then take the write's time, then load their live grants,
        active holds and automation: the state writes start from, and the time they run at.

        `time_under_lock` is called once the locks are held: whatever a write compares with its
        time was committed before it was taken. The time places the top-up caps' day and
        month."""
        ids = sorted(set(wallet_ids))
        if not ids:
            return {}, time_under_lock()
        pg = await self._pg()
        rows = await pg.fetch(hot.LOCK_WALLETS, ids)
        now = time_under_lock()
        states = {row["id"]: _state(hot.Row(row)) for row in rows}
        if states:
            day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
            month_start = day_start.replace(day=1)
            loads = await pg.fetch(hot.LOAD_STATES, list(states), now, day_start, month_start)
            states = {row["id"]: _loaded_state(states[row["id"]], row) for row in loads}
        return states, now

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
        return [_hold(row, found[row.id]) for row in rows]

    async def get_hold(self, hold_id: str) -> Hold | None:
        row = await (await self._pg()).fetchrow(hot.HOLD, hold_id)
        return None if row is None else _hold_with_allocations(row)

    async def add_grants(self, state: WalletState, grant_ids: Iterable[str]) -> WalletState:
        """Load more grants of a locked wallet into its state (ended grants a refund touches)."""
        missing = [g for g in set(grant_ids) if g not in state.grants]
        if not missing:
            return state
        loaded = dict(state.grants)
        for row in await (await self._pg()).fetch(hot.GRANTS_BY_ID, missing):
            loaded[row["id"]] = _grant(hot.Row(row))
        return replace(state, grants=loaded)

    async def save(
        self,
        before: dict[str, WalletState],
        after: dict[str, WalletState],
        new_entries: Sequence[tuple[str, str, str, Entry]],
        now: datetime,
        events: Sequence[tuple[str, str, WalletEvent]] = (),
        responses: dict[str, bytes] | None = None,
        released: Sequence[str] = (),
    ) -> None:
        """Persist the difference between wallet states, the entries
        (entry_id, wallet_id, request_id, entry), the events, the encoded responses of claimed
        request ids and the release of refused ones, in one statement (plus the rare automation
        changes)."""
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        booked: list[dict[str, Any]] = []
        new_holds: list[Hold] = []
        ended_holds: list[dict[str, Any]] = []
        written = {w for _, w, _, _ in new_entries} | {w for _, w, _ in events}
        # Each wallet's journal is booked in order: never before its last booked write, whatever
        # this process's clock says (balances at a past instant rely on it).
        book = {w: write_time(now, [s.book_time]) for w, s in before.items()}
        for wallet_id, new_state in after.items():
            old = before[wallet_id]
            if wallet_id in written or new_state != old:
                booked.append(
                    {
                        "b_id": wallet_id,
                        "b_overage": new_state.overage,
                        "b_book_time": book[wallet_id],
                    }
                )
            for hold_id, h in new_state.holds.items():
                prior_hold = old.holds.get(hold_id)
                if prior_hold is None:
                    new_holds.append(h)
                elif prior_hold != h:
                    ended_holds.append(
                        {
                            "b_id": h.id,
                            "b_state": h.state.value,
                            "b_end": h.end_time,
                            "b_captured": h.captured_amount,
                        }
                    )
            for grant_id, g in new_state.grants.items():
                prior = old.grants.get(grant_id)
                if prior is None:
                    inserts.append(_grant_row(g))
                elif prior != g:
                    updates.append(
                        {
                            "b_id": g.id,
                            "b_remaining": g.remaining,
                            "b_void_time": g.void_time,
                            "b_expired": g.expired_amount,
                            "b_voided": g.voided_amount,
                            "b_paid": g.overage_paid,
                            "b_returned": g.overage_returned,
                        }
                    )
        await self._save_automation(before, after)
        responses = responses or {}
        if not (
            events
            or inserts
            or updates
            or new_holds
            or ended_holds
            or booked
            or new_entries
            or responses
            or released
        ):
            return
        # One statement: every table's rows as arrays (`hot.SAVE`).
        new_events = [
            (
                event_id,
                wallet_id,
                e.type.value,
                e.occurred_time,
                book.get(wallet_id, now),
                hot.as_json(e.data),
            )
            for event_id, wallet_id, e in events
        ]
        new_grants = [(*list(g.values())[:-1], hot.as_json(g["metadata"])) for g in inserts]
        changed_grants = [
            (
                u["b_id"],
                u["b_remaining"],
                u["b_void_time"],
                u["b_expired"],
                u["b_voided"],
                u["b_paid"],
                u["b_returned"],
            )
            for u in updates
        ]
        held = [
            (
                h.id,
                h.wallet_id,
                h.amount,
                h.state.value,
                h.create_time,
                h.expire_time,
                h.end_time,
                h.captured_amount,
                h.feature,
                h.description,
            )
            for h in new_holds
        ]
        held_allocations = [
            (h.id, i, a.grant_id, a.amount) for h in new_holds for i, a in enumerate(h.allocations)
        ]
        ended = [(e["b_id"], e["b_state"], e["b_end"], e["b_captured"]) for e in ended_holds]
        wallet_rows = [(w["b_id"], w["b_overage"], w["b_book_time"]) for w in booked]
        entry_rows = [
            (
                entry_id,
                wallet_id,
                e.type.value,
                e.amount,
                e.occurred_time,
                book.get(wallet_id, now),
                e.description,
                e.feature,
                e.source_event_id,
                request_id,
                e.related_id,
                e.available_after,
                e.overage_after,
                hot.as_json(e.metadata),
            )
            for entry_id, wallet_id, request_id, e in new_entries
        ]
        entry_allocations = [
            (entry_id, i, a.grant_id, a.amount)
            for entry_id, _, _, e in new_entries
            for i, a in enumerate(e.allocations)
        ]
        await (await self._pg()).execute(
            hot.SAVE,
            *hot.columns(new_events, 6),
            *hot.columns(new_grants, 18),
            *hot.columns(changed_grants, 7),
            *hot.columns(held, 10),
            *hot.columns(held_allocations, 4),
            *hot.columns(ended, 4),
            *hot.columns(wallet_rows, 3),
            *hot.columns(entry_rows, 14),
            *hot.columns(entry_allocations, 4),
            list(responses),
            list(responses.values()),
            list(released),
        )

    async def _save_automation(
        self, before: dict[str, WalletState], after: dict[str, WalletState]
    ) -> None:
        rows = _automation_rows(before, after)
        schedule_rows, changed_alerts, rules = rows.schedules, rows.changed_alerts, rows.rules
        new_topups, changed_topups = rows.new_topups, rows.changed_topups
        if schedule_rows:
            stmt = pg_insert(allotment_schedules).values(schedule_rows)
            await self.conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["id"],
                    set_={
                        "next_index": stmt.excluded.next_index,
                        "next_time": stmt.excluded.next_time,
                        "end_time": stmt.excluded.end_time,
                        "closed": stmt.excluded.closed,
                    },
                )
            )
        if changed_alerts:
            await self.conn.execute(
                update(alert_rules)
                .where(alert_rules.c.id == bindparam("b_id"))
                .values(armed=bindparam("b_armed"), last_fire_time=bindparam("b_fired")),
                changed_alerts,
            )
        if rules:
            stmt = pg_insert(topup_rules).values(rules)
            await self.conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["wallet_id"],
                    set_={
                        c.name: stmt.excluded[c.name]
                        for c in topup_rules.c
                        if c.name != "wallet_id"
                    },
                )
            )
        if new_topups:
            await self.conn.execute(topups.insert(), new_topups)
        if changed_topups:
            await self.conn.execute(
                update(topups)
                .where(topups.c.id == bindparam("b_id"))
                .values(
                    state=bindparam("b_state"),
                    end_time=bindparam("b_end_time"),
                    grant_id=bindparam("b_grant_id"),
                    failure_reason=bindparam("b_failure_reason"),
                ),
                [
                    {
                        k: v
                        for k, v in row.items()
                        if k in ("b_id", "b_state", "b_end_time", "b_grant_id", "b_failure_reason")
                    }
                    for row in changed_topups
                ],
            )

    async def replace_alert_rules(self, wallet_id: str, rules: Sequence[AlertRule]) -> None:
        await self.conn.execute(alert_rules.delete().where(alert_rules.c.wallet_id == wallet_id))
        if rules:
            await self.conn.execute(
                alert_rules.insert(),
                [
                    {
                        "id": r.id,
                        "wallet_id": wallet_id,
                        "position": i,
                        "name": r.name,
                        "kind": r.kind.value,
                        "threshold": r.threshold,
                        "min_interval": r.min_interval,
                        "armed": r.armed,
                        "last_fire_time": r.last_fire_time,
                    }
                    for i, r in enumerate(rules)
                ],
            )

    async def alert_rules_of(self, wallet_id: str) -> list[AlertRule]:
        rows = await self.conn.execute(
            select(alert_rules)
            .where(alert_rules.c.wallet_id == wallet_id)
            .order_by(alert_rules.c.position)
        )
        return [_alert_rule(row) for row in rows]

    async def schedules_of(self, wallet_id: str) -> list[AllotmentSchedule]:
        rows = await self.conn.execute(
            select(allotment_schedules)
            .where(allotment_schedules.c.wallet_id == wallet_id)
            .order_by(allotment_schedules.c.seq)
        )
        return [_schedule(row) for row in rows]

    async def get_schedule(self, schedule_id: str) -> AllotmentSchedule | None:
        row = (
            await self.conn.execute(
                select(allotment_schedules).where(allotment_schedules.c.id == schedule_id)
            )
        ).first()
        return None if row is None else _schedule(row)

    async def get_topup(self, topup_id: str) -> TopUp | None:
        row = (await self.conn.execute(select(topups).where(topups.c.id == topup_id))).first()
        return None if row is None else _topup(row)

    async def list_topups(
        self, wallet_id: str, before_seq: int | None, limit: int
    ) -> list[tuple[int, TopUp]]:
        query = select(topups).where(topups.c.wallet_id == wallet_id)
        if before_seq is not None:
            query = query.where(topups.c.seq < before_seq)
        rows = await self.conn.execute(query.order_by(topups.c.seq.desc()).limit(limit))
        return [(row.seq, _topup(row)) for row in rows]

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
        return None if row is None else _grant(row)

    async def list_grants(
        self, wallet_id: str, state: GrantState | None, at: datetime, after_seq: int, limit: int
    ) -> list[tuple[int, Grant]]:
        query = select(grants).where(grants.c.wallet_id == wallet_id, grants.c.seq > after_seq)
        if state is not None:
            query = query.where(_state_filter(state, at))
        rows = await self.conn.execute(query.order_by(grants.c.seq).limit(limit))
        return [(row.seq, _grant(row)) for row in rows]

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
    ) -> list[tuple[int, StoredEntry]]:
        query = select(entries).where(entries.c.wallet_id == wallet_id)
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
    async def state_at(self, wallet_id: str, at: datetime | None) -> WalletState | None:
        """The wallet's grants and overage as the journal stood at `at` (None: now), unlocked.

        Now: the materialised live grants, active holds and the allotment schedules, in one
        statement whose cost does not depend on the length of the journal. The past: the live
        grants minus every allocation booked after `at` (cost grows with entries since `at`).
        """
        if at is None:
            found = await (await self._pg()).fetchrow(hot.STATE_NOW, wallet_id)
            return None if found is None else _state_now(found)
        row = (await self.conn.execute(select(wallets).where(wallets.c.id == wallet_id))).first()
        if row is None:
            return None
        wallet, overage, book_time = _wallet(row), row.overage, row.last_book_time
        rows = await self.conn.execute(select(grants).where(grants.c.wallet_id == wallet_id, _LIVE))
        loaded = {row.id: _grant(row) for row in rows}
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
                loaded[row.id] = _grant(row)
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
        """Wallets with a write-off due, or overage that a now-available grant would settle."""
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
        union = expiry_due.union(settle_due, holds_due, allotments_due).subquery()
        rows = await self.conn.execute(
            select(union.c.wallet_id).order_by(union.c.wallet_id).limit(limit)
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
