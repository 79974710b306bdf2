"""Use cases of consumption insight: the depletion forecast, the signal policy, and the
evaluation of signals by the sweeper (rules in domain/burn.py).

Signals are time-based (a day without usage is a slowdown), so the sweeper evaluates them, not
the writes. Each round locks a bounded set of wallets (those booked on within the baseline's
window, or with an open episode, not evaluated within `SIGNAL_EVERY`), decides under their
locks from the open episodes it reads there, and writes each new episode with its wallet event
in one transaction: a crash or a second ledger process can never emit an episode twice (the
wallet's lock serialises evaluations; a partial unique index on the open episodes is the
backstop). Episodes are kept when they close, one per event: the simulator checks that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import structlog

from billing_common.money import format_amount
from ledger_service import limits
from ledger_service.app import booked as booked_metrics
from ledger_service.app import commands as cmd
from ledger_service.app.core import LedgerCore
from ledger_service.app.ports import LedgerStore, new_id
from ledger_service.domain import allotments, burn, tenancy
from ledger_service.domain.burn import Signal, SignalPolicy
from ledger_service.domain.errors import (
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
    WalletNotFound,
)
from ledger_service.domain.ledger import available, settle_overage
from ledger_service.domain.model import OveragePolicy, WalletEvent, WalletState

# What these use cases can raise (tests/unit/test_use_case_errors.py checks it against the code).
# (_locked catches up due allotments, which may void a schedule's grants.)
RAISES = (WalletNotFound, GrantAlreadyEnded, GrantAlreadyVoided, GrantHeld)

log = structlog.get_logger(__name__)

# Bounds per round and per tick: ledger_service/limits.py.
SIGNAL_WALLETS_PER_ROUND = limits.SIGNAL_WALLETS_PER_ROUND
SIGNAL_ROUNDS_PER_TICK = limits.SIGNAL_ROUNDS_PER_TICK
# How often one wallet is evaluated at most.
SIGNAL_EVERY = timedelta(hours=1)
# A wallet booked on within this many days may have a burn (the baseline's 28 days and the
# last day); older ones are evaluated only while an episode is open (to close it).
ACTIVE_DAYS = burn.WINDOW_DAYS + 1


def _data(signal: Signal, policy: SignalPolicy, reading: burn.Reading) -> dict[str, str]:
    data = {
        "signal": signal.value,
        "recent_daily_burn": format_amount(reading.recent),
        "baseline_daily_burn": format_amount(reading.baseline),
    }
    if signal is Signal.BURN_SPIKE:
        data["spike_multiple"] = format_amount(policy.spike_multiple)
    elif signal is Signal.SLOWDOWN:
        data["slowdown_fraction"] = format_amount(policy.slowdown_fraction)
    else:
        assert reading.depletion is not None, "the condition needs a depletion"
        data["depletion_time"] = reading.depletion.isoformat()
        data["depletion_days"] = str(policy.depletion_days)
    return data


def _reading(
    state: WalletState, now: datetime, by_day: dict[int, Decimal], policy: SignalPolicy
) -> burn.Reading:
    """What the wallet's signals look at now (its due allotments caught up first)."""
    state = allotments.catch_up(state, now, new_id).state
    age = burn.age_days(state.wallet.create_time, now)
    central = burn.burn(by_day, known_days=age).daily
    return burn.Reading(
        now=now,
        wallet_create_time=state.wallet.create_time,
        recent=burn.series(by_day, 1)[0],
        baseline=burn.burn(by_day, skip=1, known_days=age).daily,
        depletion=burn.walk(state, now, central, policy.depletion_days).depletion
        if central > 0
        else None,
        out_of_credits=state.wallet.overage_policy is OveragePolicy.DENY
        and available(settle_overage(state, now).state, now) <= 0,
    )


class Signals(LedgerCore):
    async def depletion_forecast(
        self, wallet_id: str, horizon_days: int, customers: tenancy.Customers
    ) -> burn.Forecast:
        """The forecast now (a read: nothing is locked or written)."""

        async def work(repo: LedgerStore) -> burn.Forecast:
            await self._visible_wallet(repo, wallet_id, customers)
            now = self.clock.now()
            state = await repo.signals.state_now(wallet_id, now)
            if state is None:  # deleted meanwhile: wallets are never deleted, but say so
                raise WalletNotFound(f"wallet {wallet_id!r} does not exist")
            used = await repo.signals.consumption([wallet_id], now, burn.WINDOW_DAYS)
            caught_up = allotments.catch_up(state, now, new_id).state
            return burn.forecast(caught_up, now, used[wallet_id], horizon_days)

        return await self.read(work)

    async def set_signal_policy(
        self,
        idem: cmd.Idem,
        policy: SignalPolicy,
        encode: Callable[[SignalPolicy], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        """Replace the wallet's policy; the next evaluation applies it (a disabled policy closes
        the open episodes)."""

        async def work(repo: LedgerStore) -> bytes:
            await self._locked(repo, policy.wallet_id, caller.customers)
            await repo.signals.set_policy(policy, caller.actor)
            return encode(policy)

        return await self.once(
            idem, work, lambda repo: self._visible_wallet(repo, policy.wallet_id, caller.customers)
        )

    async def signal_policy(
        self, wallet_id: str, customers: tenancy.Customers
    ) -> tuple[SignalPolicy, frozenset[Signal]]:
        async def work(repo: LedgerStore) -> tuple[SignalPolicy, frozenset[Signal]]:
            await self._visible_wallet(repo, wallet_id, customers)
            policy = (await repo.signals.policies([wallet_id]))[wallet_id]
            return policy, (await repo.signals.open_signals([wallet_id]))[wallet_id]

        return await self.read(work)

    async def run_signals(
        self, wallet_ids: Sequence[str] | None = None
    ) -> list[tuple[str, WalletEvent]]:
        """Evaluate the due wallets' signals (of `wallet_ids` only, when given),
        `SIGNAL_WALLETS_PER_ROUND` per transaction and at most `SIGNAL_ROUNDS_PER_TICK` rounds
        (the rest waits for the next tick): the events emitted, with their wallets."""
        emitted: list[tuple[str, WalletEvent]] = []
        for _ in range(SIGNAL_ROUNDS_PER_TICK):
            evaluated, events = await self._signal_round(wallet_ids)
            emitted += events
            if evaluated < SIGNAL_WALLETS_PER_ROUND:
                break
        if emitted:
            log.info("signals_emitted", count=len(emitted))
        return emitted

    async def _signal_round(
        self, wallet_ids: Sequence[str] | None
    ) -> tuple[int, list[tuple[str, WalletEvent]]]:
        """One transaction (see the module's docstring): how many wallets it evaluated, and
        the events it emitted."""

        async def work(repo: LedgerStore) -> tuple[int, list[tuple[str, WalletEvent]]]:
            store = repo.signals
            due = await store.due(
                self.clock.now(), ACTIVE_DAYS, SIGNAL_EVERY, SIGNAL_WALLETS_PER_ROUND, wallet_ids
            )
            states, now = await repo.lock_states(due, self._time_under_lock)
            ids = sorted(states)
            if not ids:
                return 0, []
            policies = await store.policies(ids)
            open_now = await store.open_signals(ids)
            used = await store.consumption(ids, now, burn.WINDOW_DAYS + 1)
            events: list[tuple[str, str, WalletEvent]] = []
            opened: list[tuple[str, Signal, str]] = []
            closed: list[tuple[str, Signal]] = []
            for wid in ids:
                policy = policies[wid]
                try:  # pure rules: a failure is this wallet's, never the round's
                    reading = _reading(states[wid], now, used[wid], policy)
                except Exception:
                    # Logged and passed over (marked evaluated: retried an hour later), so one
                    # wallet can never stop the sweep of the others.
                    log.exception("signal_evaluation_failed", wallet_id=wid)
                    continue
                decision = burn.evaluate(policy, reading, open_now[wid])
                for signal in decision.open:
                    event_id = new_id()
                    event = WalletEvent(signal.event_type, now, _data(signal, policy, reading))
                    events.append((event_id, wid, event))
                    opened.append((wid, signal, event_id))
                closed += [(wid, s) for s in decision.close]
            await store.close_episodes(closed, now)
            await store.open_episodes(opened, now)
            await store.mark_evaluated(ids, now)
            if events:
                booked_metrics.observe([], [e for _, _, e in events])
                await repo.save(states, states, [], now, events)
            return len(ids), [(wid, e) for _, wid, e in events]

        return await self.write(work)
