"""Storage of consumption signals (the `SignalStore` port): policies, open episodes, the
sweeper's evaluation times, and the daily consumption the burn is computed from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, exists, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger_service.adapters.db import claims
from ledger_service.adapters.db.tables import (
    entries,
    wallet_signal_episodes,
    wallet_signals,
    wallets,
)
from ledger_service.domain.burn import DAY, Signal, SignalPolicy
from ledger_service.domain.model import EntryType, WalletState

# Entries that are consumption: debits and captures (negative), refunds (positive).
CONSUMPTION = (EntryType.DEBIT.value, EntryType.CAPTURE.value, EntryType.REFUND.value)
# A debit's occurred_time is at most this far after its book_time (ledger README "Time"), so
# entries that occurred after t were booked after t minus this: the book_time index narrows.
FUTURE_SKEW = timedelta(minutes=5)

# The wallets' states at a time as a write would load them, without their locks.
Loader = Callable[[Sequence[str], datetime], Awaitable[dict[str, WalletState]]]


class SignalRepository:
    def __init__(self, conn: AsyncConnection, load_states: Loader) -> None:
        self.conn = conn
        self._states = load_states

    async def policies(self, wallet_ids: Sequence[str]) -> dict[str, SignalPolicy]:
        """Each wallet's policy, the defaults where none was set."""
        rows = await self.conn.execute(
            select(wallet_signals).where(wallet_signals.c.wallet_id.in_(list(wallet_ids)))
        )
        found = {row.wallet_id: row for row in rows}
        out: dict[str, SignalPolicy] = {}
        for wid in wallet_ids:
            row = found.get(wid)
            policy = SignalPolicy(wid)
            if row is not None:
                policy = SignalPolicy(
                    wid,
                    spike_multiple=row.spike_multiple or policy.spike_multiple,
                    slowdown_fraction=row.slowdown_fraction or policy.slowdown_fraction,
                    depletion_days=row.depletion_days or policy.depletion_days,
                    disabled=row.disabled,
                    warm_up_days=(
                        policy.warm_up_days if row.warm_up_days is None else row.warm_up_days
                    ),
                )
            out[wid] = policy
        return out

    async def set_policy(self, policy: SignalPolicy, actor: str) -> None:
        values = {
            "wallet_id": policy.wallet_id,
            "spike_multiple": policy.spike_multiple,
            "slowdown_fraction": policy.slowdown_fraction,
            "depletion_days": policy.depletion_days,
            "disabled": policy.disabled,
            "warm_up_days": policy.warm_up_days,
            "updated_by": actor,
            # A changed policy is evaluated at the next sweep, not an hour after the last one.
            "evaluate_time": None,
        }
        stmt = pg_insert(wallet_signals).values(values)
        await self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[wallet_signals.c.wallet_id],
                set_={k: stmt.excluded[k] for k in values if k != "wallet_id"},
            )
        )

    async def open_signals(self, wallet_ids: Sequence[str]) -> dict[str, frozenset[Signal]]:
        rows = await self.conn.execute(
            select(wallet_signal_episodes.c.wallet_id, wallet_signal_episodes.c.signal).where(
                wallet_signal_episodes.c.wallet_id.in_(list(wallet_ids)),
                wallet_signal_episodes.c.close_time.is_(None),
            )
        )
        out: dict[str, set[Signal]] = {w: set() for w in wallet_ids}
        for wid, signal in rows:
            out[wid].add(Signal(signal))
        return {w: frozenset(s) for w, s in out.items()}

    async def open_episodes(self, opened: Sequence[tuple[str, Signal, str]], now: datetime) -> None:
        """Rows (wallet_id, signal, event_id); an episode already open violates the partial
        unique index (the caller holds the wallet's lock and read the open ones under it)."""
        if opened:
            await self.conn.execute(
                wallet_signal_episodes.insert(),
                [
                    {"wallet_id": w, "signal": s.value, "open_time": now, "event_id": e}
                    for w, s, e in opened
                ],
            )

    async def close_episodes(self, closed: Sequence[tuple[str, Signal]], now: datetime) -> None:
        if closed:
            await self.conn.execute(
                update(wallet_signal_episodes)
                .where(
                    tuple_(wallet_signal_episodes.c.wallet_id, wallet_signal_episodes.c.signal).in_(
                        [(w, s.value) for w, s in closed]
                    ),
                    wallet_signal_episodes.c.close_time.is_(None),
                )
                .values(close_time=now)
            )

    async def due(
        self,
        now: datetime,
        active_days: int,
        every: timedelta,
        limit: int,
        only: Sequence[str] | None = None,
    ) -> list[str]:
        """Wallets to evaluate (a guess made before locking): booked on within `active_days`
        or with an open episode, not evaluated within `every`; least recently evaluated first;
        among `only` when given, else each claimed for this transaction, passing over the
        wallets another process's signal sweep has claimed."""
        episode = exists().where(
            wallet_signal_episodes.c.wallet_id == wallets.c.id,
            wallet_signal_episodes.c.close_time.is_(None),
        )
        query = (
            select(wallets.c.id)
            .select_from(
                wallets.outerjoin(wallet_signals, wallet_signals.c.wallet_id == wallets.c.id)
            )
            .where(
                or_(wallets.c.last_book_time > now - active_days * DAY, episode),
                or_(
                    wallet_signals.c.evaluate_time.is_(None),
                    wallet_signals.c.evaluate_time <= now - every,
                ),
            )
            .order_by(wallet_signals.c.evaluate_time.asc().nulls_first(), wallets.c.id)
        )
        if only is not None:
            query = query.where(wallets.c.id.in_(list(only)))
            return [row.id for row in await self.conn.execute(query.limit(limit))]
        # Ordered first, then claimed one by one as LIMIT pulls them (adapters/db/claims.py):
        # wallets another process's sweep is evaluating are passed over.
        ordered = query.subquery()
        claimed = (
            select(ordered.c.id).where(claims.claimed(claims.SIGNALS, ordered.c.id)).limit(limit)
        )
        return list((await self.conn.execute(claimed)).scalars())

    async def mark_evaluated(self, wallet_ids: Sequence[str], now: datetime) -> None:
        if wallet_ids:
            stmt = pg_insert(wallet_signals).values(
                [{"wallet_id": w, "evaluate_time": now} for w in wallet_ids]
            )
            await self.conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[wallet_signals.c.wallet_id],
                    set_={"evaluate_time": stmt.excluded.evaluate_time},
                )
            )

    async def consumption(
        self, wallet_ids: Sequence[str], now: datetime, days: int
    ) -> dict[str, dict[int, Decimal]]:
        """Consumption per wallet per trailing day: day k is (now - (k+1) days, now - k days];
        debits and captures count, refunds count back. Exact (NUMERIC sums)."""
        start = now - days * DAY
        day = func.floor(func.extract("epoch", now - entries.c.occurred_time) / 86400).label("day")
        rows = await self.conn.execute(
            select(entries.c.wallet_id, day, -func.sum(entries.c.amount))
            .where(
                entries.c.wallet_id.in_(list(wallet_ids)),
                entries.c.type.in_(CONSUMPTION),
                entries.c.book_time > start - FUTURE_SKEW,
                and_(entries.c.occurred_time > start, entries.c.occurred_time <= now),
            )
            .group_by(entries.c.wallet_id, day)
        )
        out: dict[str, dict[int, Decimal]] = {w: {} for w in wallet_ids}
        for wid, k, used in rows:
            out[wid][int(k)] = Decimal(used)
        return out

    async def state_now(self, wallet_id: str, now: datetime) -> WalletState | None:
        """The wallet's state at `now` as a write would load it (automation included), without
        its lock."""
        return (await self._states([wallet_id], now)).get(wallet_id)
