"""The ledger's storage adapter: loads wallet states, persists what the domain produced.

Every method works on many rows at once so a batch of 1,000 debits costs a fixed number of round
trips. Locks are always taken in one order: idempotency keys (sorted), then wallets (sorted by id),
so concurrent transactions never wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ledger_service.adapters.db import hot, mappers
from ledger_service.adapters.db.queries import LedgerQueries
from ledger_service.adapters.db.signals import SignalRepository
from ledger_service.adapters.db.tables import (
    alert_rules,
    allotment_schedules,
    pool_members,
    topup_rules,
    topups,
    wallets,
)
from ledger_service.adapters.db.webhooks import WebhookRepository
from ledger_service.app.ports import Claim
from ledger_service.domain import pool
from ledger_service.domain.ledger import write_time
from ledger_service.domain.model import (
    AlertRule,
    Entry,
    Hold,
    TopUpRule,
    Wallet,
    WalletEvent,
    WalletState,
)
from ledger_service.domain.pool import BudgetPeriod, MemberUsage, PoolMember


class LedgerRepository(LedgerQueries):
    @property
    def webhooks(self) -> WebhookRepository:
        """The webhook storage on this connection, in the same transaction."""
        return WebhookRepository(self.conn)

    @property
    def signals(self) -> SignalRepository:
        """The signal storage on this connection, in the same transaction."""
        return SignalRepository(self.conn, self._unlocked_states)

    async def _unlocked_states(
        self, wallet_ids: Sequence[str], now: datetime
    ) -> dict[str, WalletState]:
        """The wallets' states at `now` as `lock_states` loads them, without the locks (reads)."""
        rows = await (await self._pg()).fetch(hot.WALLETS_BY_ID, list(wallet_ids))
        return await self._load_states({r["id"]: mappers.to_locked_state(r) for r in rows}, now)

    # -- idempotency ------------------------------------------------------------------------

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

    async def claim_and_lock(
        self,
        requests: Sequence[tuple[str, str, bytes, str]],
        now: datetime,
        time_under_lock: Callable[[], datetime],
    ) -> tuple[dict[str, Claim], dict[str, WalletState], datetime]:
        """`claim` (ids distinct, inserted sorted), then `lock_states` of the wallets of the
        requests claimed, in one round trip (`hot.CLAIM_LOCK_LOAD`, a PL/pgSQL function: each of
        its statements sees what the claims and locks before it waited for).

        The state is read before `time_under_lock` can be called, at `now` (taken before the
        call): consumed grants in force after `now` come back, and those not in force at the
        write's time are dropped here; if the write's time falls on another day than `now`, the
        states are read again at it (the top-up caps' day and month)."""
        ordered = sorted(requests)
        ids, methods, prints, wallet_of = hot.columns(ordered, 4)
        day_start, month_start = hot.cap_periods(now)
        pg = await self._pg()
        rows = await pg.fetch(
            hot.CLAIM_LOCK_LOAD, ids, methods, prints, now, wallet_of, [], now, day_start,
            month_start,
        )  # fmt: skip
        at = time_under_lock()
        claims: dict[str, Claim] = {}
        loads = []
        for row in rows:
            if row["claimed"] is not None:
                claims[row["claimed"]] = Claim(row["claimed"], True)
            elif (k := row["stored"]) is not None:
                claims[k["request_id"]] = Claim(
                    k["request_id"], False, k["method"], k["fingerprint"], k["response"]
                )
            else:
                loads.append(row)
        locked = {r["wallet"]["id"]: mappers.to_locked_state(r["wallet"]) for r in loads}
        if at < now or hot.cap_periods(at)[0] != day_start:
            return claims, await self._load_states(locked, at), at
        states = {
            row["wallet"]["id"]: mappers.in_force_at(
                mappers.to_loaded_state(locked[row["wallet"]["id"]], row), at
            )
            for row in loads
        }
        return claims, states, at

    async def store_responses(self, responses: dict[str, bytes]) -> None:
        if responses:
            pg = await self._pg()
            await pg.execute(hot.STORE_RESPONSES, list(responses), list(responses.values()))

    # -- wallets ----------------------------------------------------------------------------

    async def insert_wallet(self, wallet: Wallet, created_by: str) -> bool:
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
                created_by=created_by,
            )
            .on_conflict_do_nothing(constraint="wallets_customer_unit_key")
            .returning(wallets.c.id)
        )
        return (await self.conn.execute(stmt)).first() is not None

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
        rows = await (await self._pg()).fetch(hot.LOCK_WALLETS, ids)
        now = time_under_lock()
        return await self._load_states(
            {r["id"]: mappers.to_locked_state(r) for r in rows}, now
        ), now

    async def _load_states(
        self, locked: dict[str, WalletState], now: datetime
    ) -> dict[str, WalletState]:
        """The state at `now` of locked wallets (their rows read already): `hot.LOAD_STATES`."""
        if not locked:
            return {}
        pg = await self._pg()
        day_start, month_start = hot.cap_periods(now)
        loads = await pg.fetch(hot.LOAD_STATES, list(locked), now, day_start, month_start)
        return {row["id"]: mappers.to_loaded_state(locked[row["id"]], row) for row in loads}

    async def add_grants(self, state: WalletState, grant_ids: Iterable[str]) -> WalletState:
        """Load more grants of a locked wallet into its state (ended grants a refund touches)."""
        missing = [g for g in set(grant_ids) if g not in state.grants]
        if not missing:
            return state
        loaded = dict(state.grants)
        for row in await (await self._pg()).fetch(hot.GRANTS_BY_ID, missing):
            loaded[row["id"]] = mappers.GRANT.load_record(row)
        return replace(state, grants=loaded)

    async def save(
        self,
        before: dict[str, WalletState],
        after: dict[str, WalletState],
        new_entries: Sequence[tuple[str, str, str, str, Entry]],
        now: datetime,
        events: Sequence[tuple[str, str, WalletEvent]] = (),
        responses: dict[str, bytes] | None = None,
        released: Sequence[str] = (),
    ) -> None:
        """Persist the difference between wallet states, the entries
        (entry_id, wallet_id, request_id, actor, entry), the events, the encoded responses of
        claimed request ids and the release of refused ones, in one statement (plus the rare
        automation changes)."""
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        booked: list[dict[str, Any]] = []
        new_holds: list[Hold] = []
        ended_holds: list[dict[str, Any]] = []
        written = {w for _, w, _, _, _ in new_entries} | {w for _, w, _ in events}
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
                    inserts.append(mappers.grant_row(g))
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
        await self._save_share_budgets(before, after)
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
        new_grants = [
            (*list(g.values())[:-2], hot.as_json(g["metadata"]), hot.as_json(g["features"]))
            for g in inserts
        ]
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
                h.member_id,
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
                actor,
                e.related_id,
                e.available_after,
                e.overage_after,
                hot.as_json(e.metadata),
                e.member_id,
                e.over_budget,
            )
            for entry_id, wallet_id, request_id, actor, e in new_entries
        ]
        entry_allocations = [
            (entry_id, i, a.grant_id, a.amount)
            for entry_id, _, _, _, e in new_entries
            for i, a in enumerate(e.allocations)
        ]
        await (await self._pg()).execute(
            hot.SAVE,
            *hot.columns(new_events, 6),
            *hot.columns(new_grants, 19),
            *hot.columns(changed_grants, 7),
            *hot.columns(held, 11),
            *hot.columns(held_allocations, 4),
            *hot.columns(ended, 4),
            *hot.columns(wallet_rows, 3),
            *hot.columns(entry_rows, 17),
            *hot.columns(entry_allocations, 4),
            list(responses),
            list(responses.values()),
            list(released),
        )

    async def _save_share_budgets(
        self, before: dict[str, WalletState], after: dict[str, WalletState]
    ) -> None:
        """A share budget resolved for a new period, kept on the member for the period."""
        rows = [
            {
                "b_wallet": u.member.wallet_id,
                "b_member": u.member.member_id,
                "b_start": u.member.share_period_start,
                "b_budget": u.member.share_budget,
            }
            for wallet_id, state in after.items()
            for member_id, u in state.members.items()
            if u.member.budget_share is not None
            and (old := before.get(wallet_id)) is not None
            and (prior := old.members.get(member_id)) is not None
            and prior.member != u.member
        ]
        if rows:
            await self.conn.execute(
                update(pool_members)
                .where(
                    pool_members.c.wallet_id == bindparam("b_wallet"),
                    pool_members.c.member_id == bindparam("b_member"),
                )
                .values(
                    share_period_start=bindparam("b_start"), share_budget=bindparam("b_budget")
                ),
                rows,
            )

    # -- pool members ------------------------------------------------------------------------

    async def member_usages(
        self, wallet_id: str, member_ids: Sequence[str], now: datetime
    ) -> dict[str, MemberUsage]:
        starts = [
            pool.period_start(p, now)
            for p in (BudgetPeriod.DAY, BudgetPeriod.WEEK, BudgetPeriod.MONTH)
        ]
        rows = await (await self._pg()).fetch(
            hot.MEMBER_USAGES, wallet_id, list(member_ids), *starts
        )
        return {
            r["member_id"]: MemberUsage(
                mappers.MEMBER.load_record(r), r["period_start"], r["spent"]
            )
            for r in rows
        }

    async def upsert_member(self, member: PoolMember) -> PoolMember:
        """Create or change a member (a changed share budget resolves again at its next use);
        the member as stored (its create_time kept)."""
        row = mappers.member_row(member)
        changed = {
            k: v for k, v in row.items() if k not in ("wallet_id", "member_id", "create_time")
        }
        stored = (
            await self.conn.execute(
                pg_insert(pool_members)
                .values(row)
                .on_conflict_do_update(index_elements=["wallet_id", "member_id"], set_=changed)
                .returning(*pool_members.c)
            )
        ).one()
        return mappers.MEMBER.load(stored)

    async def delete_member(self, wallet_id: str, member_id: str) -> bool:
        result = await self.conn.execute(
            delete(pool_members).where(
                pool_members.c.wallet_id == wallet_id, pool_members.c.member_id == member_id
            )
        )
        return bool(result.rowcount)

    async def members_of(self, wallet_id: str) -> list[str]:
        rows = await self.conn.execute(
            select(pool_members.c.member_id)
            .where(pool_members.c.wallet_id == wallet_id)
            .order_by(pool_members.c.member_id)
        )
        return [r.member_id for r in rows]

    async def _save_automation(
        self, before: dict[str, WalletState], after: dict[str, WalletState]
    ) -> None:
        rows = mappers.automation_rows(before, after)
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
                        if c.name not in ("wallet_id", "updated_by")  # see record_rule_author
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

    async def record_rule_author(self, wallet_id: str, actor: str) -> None:
        await self.conn.execute(
            update(topup_rules).where(topup_rules.c.wallet_id == wallet_id).values(updated_by=actor)
        )

    async def topup_rule_of(self, wallet_id: str) -> TopUpRule | None:
        row = (
            await self.conn.execute(select(topup_rules).where(topup_rules.c.wallet_id == wallet_id))
        ).first()
        return None if row is None else mappers.TOPUP_RULE.load(row)

    async def delete_topup_rule(self, wallet_id: str) -> None:
        await self.conn.execute(delete(topup_rules).where(topup_rules.c.wallet_id == wallet_id))

    async def record_schedule_author(self, schedule_id: str, ended: bool, actor: str) -> None:
        column = "ended_by" if ended else "created_by"
        await self.conn.execute(
            update(allotment_schedules)
            .where(allotment_schedules.c.id == schedule_id)
            .values({column: actor})
        )

    async def replace_alert_rules(
        self, wallet_id: str, rules: Sequence[AlertRule], created_by: str
    ) -> None:
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
                        "created_by": created_by,
                        "member_id": r.member_id,
                    }
                    for i, r in enumerate(rules)
                ],
            )
