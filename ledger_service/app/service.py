"""The ledger's use cases. Each write is one database transaction:

  claim request ids -> lock wallets (sorted) -> load live grants -> apply pure domain rules in
  memory -> persist entries, allocations and changed grants -> store the encoded responses.

Deadlocks and serialization failures are retried here, with fresh time, so callers never see
them. Responses are encoded by the caller-supplied function inside the transaction, so a replay
of a request_id returns the original bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import structlog

from billing_common.clock import Clock
from billing_common.errors import BillingError, InvalidArgument
from ledger_service import limits
from ledger_service.app import booked as booked_metrics
from ledger_service.app import commands as cmd
from ledger_service.app import operations as ops
from ledger_service.app.group import GroupCommit, check_replay
from ledger_service.app.pipeline import WritePipeline
from ledger_service.app.ports import (
    LedgerStore,
    StoredEntry,
    StoredEvent,
    UnitOfWork,
    new_id,
)
from ledger_service.domain import allotments, automation, ledger
from ledger_service.domain.balance import BalanceView, project
from ledger_service.domain.errors import (
    GrantNotFound,
    HoldNotFound,
    ScheduleNotFound,
    TopUpNotFound,
    TopUpNotPending,
    WalletAlreadyExists,
    WalletNotFound,
)
from ledger_service.domain.model import (
    ZERO,
    AlertRule,
    AllotmentSchedule,
    EntryType,
    Grant,
    Hold,
    TopUp,
    TopUpRule,
    Wallet,
    WalletEvent,
    WalletState,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")

EXPIRY_WALLETS_PER_TRANSACTION = 100
EXPIRY_ROUNDS_MAX = 1000
# Event readers share one settled horizon, recomputed at most this often (seconds).
HORIZON_INTERVAL_S = 0.2


@dataclass(frozen=True, slots=True)
class LedgerPolicy:
    """Rules that come from configuration."""

    default_late_event_grace: timedelta = timedelta(hours=1)
    # How far in the future a debit's occurred_time may lie (clock skew between callers and us).
    future_skew: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Locked:
    """A locked wallet: its state as loaded (what persisting diffs against), the outcome of
    catching up its due allotments (what operations start from), and the write's time, taken
    from the clock once the lock was held."""

    loaded: WalletState
    caught_up: ledger.Outcome
    now: datetime

    @property
    def state(self) -> WalletState:
        return self.caught_up.state

    def map(self, change: Callable[[WalletState], WalletState]) -> Locked:
        """The same change (more rows loaded) applied to both states."""
        caught = self.caught_up
        return Locked(
            change(self.loaded),
            ledger.Outcome(change(caught.state), caught.entries, caught.events),
            self.now,
        )


@dataclass(frozen=True, slots=True)
class VerifyReport:
    consistent: bool
    differences: list[tuple[str, Decimal, Decimal]]
    granted: Decimal
    consumed: Decimal
    expired: Decimal
    voided: Decimal
    remaining: Decimal
    overage: Decimal


class LedgerApp:
    def __init__(
        self,
        uow: UnitOfWork,
        clock: Clock,
        policy: LedgerPolicy,
        *,
        write_queue_max: int = limits.WRITE_QUEUE_MAX,
        write_in_flight: int = limits.WRITE_TRANSACTIONS_IN_FLIGHT,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.policy = policy
        self.pipeline = WritePipeline(
            self.apply_group, write_queue_max, limits.WRITE_BATCH_MAX, write_in_flight
        )
        self._horizon = 0
        self._horizon_time = float("-inf")
        self._horizon_lock = asyncio.Lock()

    # -- plumbing ---------------------------------------------------------------------------

    async def write(self, work: Callable[[LedgerStore], Awaitable[T]]) -> T:
        """`work` in one transaction (run again on contention)."""
        booked: list[object] = []

        async def attempt(store: LedgerStore) -> T:
            booked.clear()  # a retried attempt counts once
            token = booked_metrics.BOOKED.set(booked)
            try:
                return await work(store)
            finally:
                booked_metrics.BOOKED.reset(token)

        result = await self.uow.write(attempt)
        booked_metrics.count_committed(booked)  # only what committed
        return result

    async def once(self, idem: cmd.Idem, work: Callable[[LedgerStore], Awaitable[bytes]]) -> bytes:
        """A write idempotent by request_id: claim the id, do the work, store the encoded response
        with it, all in one transaction; a replay returns the stored response instead."""

        async def once(repo: LedgerStore) -> bytes:
            if (replay := await self._claim_one(repo, idem)) is not None:
                return replay
            payload = await work(repo)
            await repo.store_responses({idem.request_id: payload})
            return payload

        return await self.write(once)

    async def read(self, work: Callable[[LedgerStore], Awaitable[T]]) -> T:
        return await self.uow.read(work)

    async def submit(self, op: ops.Operation) -> bytes:
        """A write through the pipeline: its encoded response, or its error raised."""
        result = await self.pipeline.submit(op)
        if isinstance(result, BillingError):
            raise result
        return result

    async def _claim_one(self, repo: LedgerStore, idem: cmd.Idem) -> bytes | None:
        claim = (
            await repo.claim([(idem.request_id, idem.method, idem.fingerprint)], self.clock.now())
        )[idem.request_id]
        return None if claim.claimed else check_replay(claim, idem)

    def _time_under_lock(self) -> datetime:
        """A write's time: read from the clock only once its wallets are locked. Its book time
        (the journal's order) is never before the last write booked on a wallet
        (`ledger.write_time`, applied per wallet when it is saved)."""
        return self.clock.now()

    async def _locked(self, repo: LedgerStore, wallet_id: str) -> Locked:
        """Lock and load a wallet and take the write's time, then book the allotment grants due
        (every write first catches up, so usage right after a period boundary finds the new
        period's credits)."""
        states, now = await repo.lock_states([wallet_id], self._time_under_lock)
        if wallet_id not in states:
            raise WalletNotFound(f"wallet {wallet_id!r} does not exist")
        loaded = states[wallet_id]
        return Locked(loaded, allotments.catch_up(loaded, now, new_id), now)

    async def _commit(
        self,
        repo: LedgerStore,
        locked: Locked,
        outcome: ledger.Outcome,
        request_id: str,
        now: datetime,
    ) -> list[StoredEntry]:
        """Run automation after the operation, then persist entries, state changes and events."""
        before = locked.loaded
        wallet_id = before.wallet.id
        outcome = automation.then_automate(locked.caught_up.then(outcome), now, new_id)
        book = ledger.write_time(now, [before.book_time])
        stored = [StoredEntry(new_id(), wallet_id, book, request_id, e) for e in outcome.entries]
        booked_metrics.observe(outcome.entries, outcome.events)
        await repo.save(
            {wallet_id: before},
            {wallet_id: outcome.state},
            [(s.id, wallet_id, request_id, s.entry) for s in stored],
            now,
            [(new_id(), wallet_id, e) for e in outcome.events],
        )
        return stored

    # -- wallets ----------------------------------------------------------------------------

    async def create_wallet(self, c: cmd.CreateWallet, encode: Callable[[Wallet], bytes]) -> bytes:
        async def work(repo: LedgerStore) -> bytes:
            wallet = Wallet(
                id=new_id(),
                customer_id=c.customer_id,
                unit=c.unit,
                overage_policy=c.overage_policy,
                # Unset means the default; an explicit zero is kept (no grace at all).
                late_event_grace=(
                    self.policy.default_late_event_grace
                    if c.late_event_grace is None
                    else c.late_event_grace
                ),
                create_time=self.clock.now(),
                metadata=c.metadata,
            )
            if not await repo.insert_wallet(wallet):
                raise WalletAlreadyExists(
                    f"customer {c.customer_id!r} already has a {c.unit} wallet"
                )
            await repo.replace_alert_rules(
                wallet.id, automation.default_alert_rules(wallet.id, new_id)
            )
            return encode(wallet)

        return await self.once(c.idem, work)

    async def get_wallet(self, wallet_id: str) -> tuple[Wallet, Decimal]:
        found = await self.read(lambda repo: repo.get_wallet(wallet_id))
        if found is None:
            raise WalletNotFound(f"wallet {wallet_id!r} does not exist")
        return found

    async def list_wallets(
        self, customer_id: str, after_seq: int, limit: int
    ) -> list[tuple[int, Wallet]]:
        return await self.read(lambda repo: repo.list_wallets(customer_id, after_seq, limit))

    # -- grants -----------------------------------------------------------------------------

    async def create_grant(
        self, c: cmd.CreateGrant, encode: Callable[[Grant, list[StoredEntry], datetime], bytes]
    ) -> bytes:
        """`encode` gets the grant (its state after the write), the entries the write booked for
        it (its GRANT entry, then any overage settlement it paid) and the write's time."""
        return await self.submit(ops.CreateGrantOp(c, encode, new_id()))

    async def get_grant(self, grant_id: str) -> Grant:
        grant, _ = await self.grant_now(grant_id)
        return grant

    async def grant_now(self, grant_id: str) -> tuple[Grant, datetime]:
        """A grant and the time its state is to be evaluated at."""

        async def work(repo: LedgerStore) -> tuple[Grant | None, datetime | None]:
            found = await repo.get_grant(grant_id)
            if found is None:
                return None, None
            return found, self.clock.now()

        grant, at = await self.read(work)
        if grant is None or at is None:
            raise GrantNotFound(f"grant {grant_id!r} does not exist")
        return grant, at

    async def list_grants(self, q: cmd.GrantQuery) -> tuple[list[tuple[int, Grant]], datetime]:
        """A page of a wallet's grants and the time their states are evaluated (and filtered)
        at."""

        async def work(repo: LedgerStore) -> tuple[list[tuple[int, Grant]], datetime]:
            if await repo.get_wallet(q.wallet_id) is None:
                raise WalletNotFound(f"wallet {q.wallet_id!r} does not exist")
            at = self.clock.now()
            return await repo.list_grants(q.wallet_id, q.state, at, q.after_seq, q.limit), at

        return await self.read(work)

    async def void_grant(
        self, c: cmd.VoidGrant, encode: Callable[[Grant, StoredEntry, datetime], bytes]
    ) -> bytes:
        return await self.submit(ops.VoidGrantOp(c, encode))

    # -- usage ------------------------------------------------------------------------------

    async def debit(
        self, c: cmd.Debit, encode: Callable[[StoredEntry], bytes], customer_id: str = ""
    ) -> bytes:
        """One debit through the write pipeline. `customer_id`, when given, must own the wallet
        (checked under its lock: WALLET_CUSTOMER_MISMATCH otherwise)."""
        return await self.submit(ops.DebitOp(c, encode, customer_id))

    async def debit_batch(
        self, debits: Sequence[cmd.Debit], encode: Callable[[StoredEntry], bytes]
    ) -> list[bytes | BillingError]:
        """Book debits in one transaction of their own; each succeeds or fails on its own.
        Returns, per debit in order, the encoded DebitResponse or the error."""
        return await self.apply_group([ops.DebitOp(d, encode) for d in debits])

    async def apply_group(self, group: Sequence[ops.Operation]) -> list[bytes | BillingError]:
        """Apply operations of any wallets in one transaction (app/group.py); each succeeds or
        fails on its own. The write pipeline's unit of work."""
        commit = GroupCommit(group, self.clock.now, self._time_under_lock)
        return commit.results(await self.write(commit.attempt))

    async def refund(self, c: cmd.Refund, encode: Callable[[list[StoredEntry]], bytes]) -> bytes:
        return await self.submit(ops.RefundOp(c, encode))

    # -- holds ------------------------------------------------------------------------------

    async def create_hold(
        self, c: cmd.CreateHold, encode: Callable[[Hold, StoredEntry, datetime], bytes]
    ) -> bytes:
        """`encode` gets the hold, its entry and the write's time (to show its state at)."""
        return await self.submit(ops.CreateHoldOp(c, encode, new_id()))

    async def capture_hold(
        self, c: cmd.CaptureHold, encode: Callable[[Hold, StoredEntry, datetime], bytes]
    ) -> bytes:
        return await self.submit(
            ops.HoldChangeOp(
                c.idem,
                c.hold_id,
                lambda state, now: ledger.capture_hold(
                    state, c.hold_id, amount=c.amount, now=now, description=c.description
                ),
                EntryType.CAPTURE,
                encode,
            )
        )

    async def release_hold(
        self, c: cmd.ReleaseHold, encode: Callable[[Hold, StoredEntry, datetime], bytes]
    ) -> bytes:
        return await self.submit(
            ops.HoldChangeOp(
                c.idem,
                c.hold_id,
                lambda state, now: ledger.release_hold(state, c.hold_id, now=now, reason=c.reason),
                EntryType.RELEASE,
                encode,
            )
        )

    async def get_hold(self, hold_id: str) -> Hold:
        hold, _ = await self.hold_now(hold_id)
        return hold

    async def hold_now(self, hold_id: str) -> tuple[Hold, datetime]:
        """A hold and the time its state is to be evaluated at."""

        async def work(repo: LedgerStore) -> tuple[Hold | None, datetime | None]:
            found = await repo.get_hold(hold_id)
            if found is None:
                return None, None
            return found, self.clock.now()

        hold, at = await self.read(work)
        if hold is None or at is None:
            raise HoldNotFound(f"hold {hold_id!r} does not exist")
        return hold, at

    # -- automation -------------------------------------------------------------------------

    async def set_topup_rule(
        self, idem: cmd.Idem, rule: TopUpRule, encode: Callable[[TopUpRule], bytes]
    ) -> bytes:
        """Create or replace the rule (armed, no failures) and evaluate it at once."""

        async def work(repo: LedgerStore) -> bytes:
            locked = await self._locked(repo, rule.wallet_id)
            state = locked.state
            now = locked.now
            with_rule = automation.set_topup_rule(state, rule)
            await self._commit(repo, locked, ledger.Outcome(with_rule, []), idem.request_id, now)
            return encode(rule)

        return await self.once(idem, work)

    async def set_alert_rules(
        self,
        idem: cmd.Idem,
        wallet_id: str,
        rules: Sequence[AlertRule],
        encode: Callable[[list[AlertRule]], bytes],
    ) -> bytes:
        """Replace the rules (or restore the defaults) and evaluate them at once."""

        async def work(repo: LedgerStore) -> bytes:
            locked = await self._locked(repo, wallet_id)
            fresh = tuple(
                replace(r, id=new_id(), wallet_id=wallet_id, armed=True, last_fire_time=None)
                for r in rules
            ) or automation.default_alert_rules(wallet_id, new_id)
            await repo.replace_alert_rules(wallet_id, fresh)
            locked = locked.map(
                lambda s: replace(s, automation=replace(s.automation, alert_rules=fresh))
            )
            state = locked.state
            now = locked.now
            await self._commit(repo, locked, ledger.Outcome(state, []), idem.request_id, now)
            return encode(await repo.alert_rules_of(wallet_id))

        return await self.once(idem, work)

    async def create_schedule(
        self,
        idem: cmd.Idem,
        schedule: AllotmentSchedule,
        encode: Callable[[AllotmentSchedule], bytes],
    ) -> bytes:
        """Store a schedule and grant every period that has already started."""

        async def work(repo: LedgerStore) -> bytes:
            locked = await self._locked(repo, schedule.wallet_id)
            now = locked.now
            stored_schedule = replace(schedule, id=new_id(), next_index=0)
            auto = locked.state.automation
            with_schedule = replace(
                locked.state,
                automation=replace(auto, schedules=(*auto.schedules, stored_schedule)),
            )
            outcome = allotments.catch_up(with_schedule, now, new_id)
            await self._commit(repo, locked, outcome, idem.request_id, now)
            (created,) = [
                s for s in outcome.state.automation.schedules if s.id == stored_schedule.id
            ]
            return encode(created)

        return await self.once(idem, work)

    async def end_schedule(
        self,
        idem: cmd.Idem,
        schedule_id: str,
        end_time: datetime | None,
        encode: Callable[[AllotmentSchedule], bytes],
    ) -> bytes:
        """End a subscription: no period starts from end_time on, and once it has passed, what the
        schedule's grants still hold is voided ("subscription ended")."""

        async def work(repo: LedgerStore) -> bytes:
            found = await repo.get_schedule(schedule_id)
            if found is None:
                raise ScheduleNotFound(f"allotment schedule {schedule_id!r} does not exist")
            locked = await self._locked(repo, found.wallet_id)
            now = locked.now
            end = end_time or now
            if end < now:
                raise InvalidArgument.field("end_time", "must not be in the past", "INVALID_TIME")
            outcome = allotments.end_schedule(locked.state, schedule_id, end, now, new_id)
            await self._commit(repo, locked, outcome, idem.request_id, now)
            (ended,) = [s for s in outcome.state.automation.schedules if s.id == schedule_id]
            return encode(ended)

        return await self.once(idem, work)

    async def schedules(self, wallet_id: str) -> list[AllotmentSchedule]:
        async def work(repo: LedgerStore) -> list[AllotmentSchedule]:
            if await repo.get_wallet(wallet_id) is None:
                raise WalletNotFound(f"wallet {wallet_id!r} does not exist")
            return await repo.schedules_of(wallet_id)

        return await self.read(work)

    async def alert_rules(self, wallet_id: str) -> list[AlertRule]:
        async def work(repo: LedgerStore) -> list[AlertRule]:
            if await repo.get_wallet(wallet_id) is None:
                raise WalletNotFound(f"wallet {wallet_id!r} does not exist")
            return await repo.alert_rules_of(wallet_id)

        return await self.read(work)

    async def _settle_topup(
        self,
        idem: cmd.Idem,
        topup_id: str,
        change: Callable[[WalletState, datetime], ledger.Outcome],
        encode: Callable[[TopUp], bytes],
    ) -> bytes:
        async def work(repo: LedgerStore) -> bytes:
            found = await repo.get_topup(topup_id)
            if found is None:
                raise TopUpNotFound(f"top-up {topup_id!r} does not exist")
            locked = await self._locked(repo, found.wallet_id)
            state = locked.state
            if topup_id not in state.automation.topups:
                # Not pending under the lock. Read it again: it may have been settled while this
                # call waited for the lock, and what was read before it is stale.
                current = await repo.get_topup(topup_id)
                assert current is not None, "top-ups are never deleted"
                raise TopUpNotPending(f"top-up {topup_id} is {current.state.value.lower()}")
            now = locked.now
            outcome = change(state, now)
            await self._commit(repo, locked, outcome, idem.request_id, now)
            return encode(outcome.state.automation.topups[topup_id])

        return await self.once(idem, work)

    async def confirm_topup(
        self, idem: cmd.Idem, topup_id: str, encode: Callable[[TopUp], bytes]
    ) -> bytes:
        return await self._settle_topup(
            idem,
            topup_id,
            lambda state, now: automation.complete_topup(state, topup_id, now=now, new_id=new_id),
            encode,
        )

    async def fail_topup(
        self, idem: cmd.Idem, topup_id: str, reason: str, encode: Callable[[TopUp], bytes]
    ) -> bytes:
        return await self._settle_topup(
            idem,
            topup_id,
            lambda state, now: automation.fail_topup(state, topup_id, now=now, reason=reason),
            encode,
        )

    async def list_topups(
        self, wallet_id: str, before_seq: int | None, limit: int
    ) -> list[tuple[int, TopUp]]:
        async def work(repo: LedgerStore) -> list[tuple[int, TopUp]]:
            if await repo.get_wallet(wallet_id) is None:
                raise WalletNotFound(f"wallet {wallet_id!r} does not exist")
            return await repo.list_topups(wallet_id, before_seq, limit)

        return await self.read(work)

    async def events_after(
        self, wallet_id: str, after_seq: int, types: Sequence[str], limit: int
    ) -> list[StoredEvent]:
        """Events after a cursor, up to the settled horizon (see `event_horizon`)."""
        upto = await self.event_horizon()
        return await self.read(
            lambda repo: repo.events_after(wallet_id, after_seq, types, limit, upto)
        )

    async def event_horizon(self, *, fresh: bool = False) -> int:
        """The highest event cursor below which no event can still appear.

        Cursors are taken at insert but become visible at commit, so a reader that moved past a
        visible cursor could skip an earlier one that commits later. Readers only go up to this
        horizon, derived from PostgreSQL's snapshots without taking a lock (the unit of work's
        `settled_event_seq`: a cursor is settled once every transaction that could still hold
        one below it has ended). It is recomputed at most every HORIZON_INTERVAL_S and shared by
        every reader in the process. `fresh` recomputes it now (the webhook dispatcher, once a
        round)."""
        async with self._horizon_lock:
            loop = asyncio.get_running_loop()
            if fresh or loop.time() - self._horizon_time >= HORIZON_INTERVAL_S:
                settled = await self.uow.settled_event_seq()
                if settled is not None:  # None: not now (under load); keep the last horizon
                    self._horizon = settled
                    self._horizon_time = loop.time()
            return self._horizon

    # -- reads ------------------------------------------------------------------------------

    async def balance(self, wallet_id: str, as_of: datetime | None) -> tuple[Wallet, BalanceView]:
        now = self.clock.now()
        if as_of is not None and as_of > now:
            raise InvalidArgument.field(
                "as_of_time", "must not be in the future", "AS_OF_IN_FUTURE"
            )

        async def work(repo: LedgerStore) -> tuple[WalletState | None, datetime]:
            state = await repo.state_at(wallet_id, as_of)
            if state is None or as_of is not None:
                return state, as_of or now
            # Period grants that are due but not booked yet count, exactly as the next write or
            # sweep will book them (the state now comes with its schedules).
            if not state.automation.schedules:
                return state, now
            return allotments.catch_up(state, now, new_id).state, now

        state, at = await self.read(work)
        if state is None:
            raise WalletNotFound(f"wallet {wallet_id!r} does not exist")
        return state.wallet, project(state, at)

    async def list_entries(self, q: cmd.EntryQuery) -> list[tuple[int, StoredEntry]]:
        async def work(repo: LedgerStore) -> list[tuple[int, StoredEntry]]:
            if await repo.get_wallet(q.wallet_id) is None:
                raise WalletNotFound(f"wallet {q.wallet_id!r} does not exist")
            return await repo.list_entries(
                q.wallet_id, q.types, q.start, q.end, q.before_seq, q.limit
            )

        return await self.read(work)

    # -- expiry and verification ------------------------------------------------------------

    async def run_expiry(self, wallet_id: str = "") -> list[StoredEntry]:
        """Book due write-offs and overage settlements, a bounded number of wallets per
        transaction, until none is due."""
        if wallet_id:
            await self.get_wallet(wallet_id)
        booked: list[StoredEntry] = []
        for _ in range(EXPIRY_ROUNDS_MAX):

            async def work(repo: LedgerStore) -> list[StoredEntry]:
                # Which wallets look due is a guess made before locking; what is booked is
                # decided at the time taken under their locks.
                due = await repo.wallets_due(
                    self.clock.now(), wallet_id, EXPIRY_WALLETS_PER_TRANSACTION
                )
                states, now = await repo.lock_states(due, self._time_under_lock)
                done: list[StoredEntry] = []
                after: dict[str, WalletState] = {}
                events: list[tuple[str, str, WalletEvent]] = []
                for wid, state in states.items():
                    caught_up = allotments.catch_up(state, now, new_id)
                    swept = caught_up.then(ledger.expire_due(caught_up.state, now))
                    outcome = automation.then_automate(swept, now, new_id)
                    after[wid] = outcome.state
                    book = ledger.write_time(now, [state.book_time])
                    done += [StoredEntry(new_id(), wid, book, "", e) for e in outcome.entries]
                    events += [(new_id(), wid, e) for e in outcome.events]
                booked_metrics.observe([s.entry for s in done], [e for _, _, e in events])
                await repo.save(
                    states, after, [(s.id, s.wallet_id, "", s.entry) for s in done], now, events
                )
                return done

            round_entries = await self.write(work)
            if not round_entries:
                break
            booked += round_entries
        return booked

    async def verify_wallet(self, wallet_id: str) -> VerifyReport:
        async def work(repo: LedgerStore) -> VerifyReport:
            found = await repo.get_wallet(wallet_id)
            if found is None:
                raise WalletNotFound(f"wallet {wallet_id!r} does not exist")
            _, stored_overage = found
            t = await repo.journal_totals(wallet_id)
            diffs: list[tuple[str, Decimal, Decimal]] = []
            for grant_id, stored in sorted(t["stored_grants"].items()):
                recomputed = t["per_grant"].get(grant_id, ZERO)
                if stored != recomputed:
                    diffs.append((f"grant {grant_id} remaining", stored, recomputed))
            overage = -t["per_grant"].get(None, ZERO)
            if overage != stored_overage:
                diffs.append(("wallet overage", stored_overage, overage))
            for entry_id, amount, alloc_total in t["unbalanced"]:
                diffs.append((f"entry {entry_id} amount vs allocations", amount, alloc_total))
            # Every active hold must be capturable in full: its grants still hold what it
            # reserves (reserved vs covered).
            state = await repo.state_at(wallet_id, None)
            assert state is not None, "the wallet was found above"
            held_grants = [a.grant_id for h in state.holds.values() for a in h.allocations]
            state = await repo.add_grants(state, [g for g in held_grants if g is not None])
            diffs += ledger.uncovered_holds(state, self.clock.now())
            by_type = t["by_type"]

            def total(kind: EntryType) -> Decimal:
                return Decimal(by_type.get(kind.value, ZERO))

            granted = total(EntryType.GRANT)
            consumed = -(
                total(EntryType.DEBIT) + total(EntryType.REFUND) + total(EntryType.CAPTURE)
            )
            expired = -total(EntryType.EXPIRY)
            voided = -total(EntryType.VOID)
            remaining = sum(t["stored_grants"].values(), ZERO)
            if granted != consumed + expired + voided + remaining - stored_overage:
                diffs.append(
                    (
                        "conservation: granted vs consumed + expired + voided + remaining"
                        " - overage",
                        granted,
                        consumed + expired + voided + remaining - stored_overage,
                    )
                )
            return VerifyReport(
                consistent=not diffs,
                differences=diffs,
                granted=granted,
                consumed=consumed,
                expired=expired,
                voided=voided,
                remaining=remaining,
                overage=stored_overage,
            )

        return await self.read(work)
