"""The use cases' common ground: the policy, a unit of work's write, read and idempotent write,
the write pipeline (and the group commit behind it), a locked wallet with its time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import structlog

from billing_common.clock import Clock
from billing_common.errors import BillingError, RequestIdConflict
from ledger_service import limits
from ledger_service.app import booked as booked_metrics
from ledger_service.app import commands as cmd
from ledger_service.app import operations as ops
from ledger_service.app.group import GroupCommit, check_replay
from ledger_service.app.pipeline import WritePipeline
from ledger_service.app.ports import (
    LedgerStore,
    StoredEntry,
    UnitOfWork,
    new_id,
)
from ledger_service.domain import allotments, automation, ledger, tenancy
from ledger_service.domain.errors import (
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
    ScheduleNotFound,
    WalletNotFound,
)
from ledger_service.domain.model import Wallet, WalletState

# What these use cases can raise (tests/unit/test_use_case_errors.py checks it against the code).
RAISES = (
    RequestIdConflict,
    WalletNotFound,
    ScheduleNotFound,
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")

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


class LedgerCore:
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

    async def once(
        self,
        idem: cmd.Idem,
        work: Callable[[LedgerStore], Awaitable[bytes]],
        visible: Callable[[LedgerStore], Awaitable[object]] | None = None,
    ) -> bytes:
        """A write idempotent by request_id: claim the id, do the work, store the encoded response
        with it, all in one transaction; a replay returns the stored response instead, once
        `visible` (the caller's tenant check of the write's target) has passed: a stored
        response is the wallet's data too."""

        async def once(repo: LedgerStore) -> bytes:
            if (replay := await self._claim_one(repo, idem)) is not None:
                if visible is not None:
                    await visible(repo)
                return replay
            payload = await work(repo)
            await repo.store_responses({idem.request_id: payload})
            return payload

        return await self.write(once)

    async def once_with_secret(
        self,
        idem: cmd.Idem,
        work: Callable[[LedgerStore], Awaitable[tuple[bytes, str]]],
        visible: Callable[[LedgerStore], Awaitable[object]] | None = None,
    ) -> tuple[bytes, str | None]:
        """As `once`, for a response that shows a secret once: the work returns the response to
        store (without the secret) and the secret; a replay returns the stored response and None,
        so the secret is never kept in clear in the stored response."""

        async def once(repo: LedgerStore) -> tuple[bytes, str | None]:
            if (replay := await self._claim_one(repo, idem)) is not None:
                if visible is not None:
                    await visible(repo)
                return replay, None
            payload, secret = await work(repo)
            await repo.store_responses({idem.request_id: payload})
            return payload, secret

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

    async def _locked(
        self,
        repo: LedgerStore,
        wallet_id: str,
        customers: tenancy.Customers,
        missing: BillingError | None = None,
    ) -> Locked:
        """Lock and load a wallet and take the write's time, then book the allotment grants due
        (every write first catches up, so usage right after a period boundary finds the new
        period's credits). A wallet of a customer outside `customers` raises `missing` (default:
        WALLET_NOT_FOUND), exactly as a wallet that does not exist, before anything is written."""
        states, now = await repo.lock_states([wallet_id], self._time_under_lock)
        missing = missing or WalletNotFound(f"wallet {wallet_id!r} does not exist")
        if wallet_id not in states:
            raise missing
        loaded = states[wallet_id]
        tenancy.check(customers, loaded.wallet.customer_id, missing)
        return Locked(loaded, allotments.catch_up(loaded, now, new_id), now)

    async def _commit(
        self,
        repo: LedgerStore,
        locked: Locked,
        outcome: ledger.Outcome,
        request_id: str,
        now: datetime,
        actor: str,
    ) -> list[StoredEntry]:
        """Run automation after the operation, then persist entries, state changes and events.
        The operation's own entries are `actor`'s; the allotments caught up before it and what
        automation books after it are the system's."""
        before = locked.loaded
        wallet_id = before.wallet.id
        first = len(locked.caught_up.entries)
        last = first + len(outcome.entries)
        outcome = automation.then_automate(locked.caught_up.then(outcome), now, new_id)
        book = ledger.write_time(now, [before.book_time])
        stored = [
            StoredEntry(
                new_id(),
                wallet_id,
                book,
                request_id,
                e,
                actor if first <= n < last else cmd.SYSTEM.actor,
            )
            for n, e in enumerate(outcome.entries)
        ]
        booked_metrics.observe(outcome.entries, outcome.events)
        await repo.save(
            {wallet_id: before},
            {wallet_id: outcome.state},
            [(s.id, wallet_id, request_id, s.actor, s.entry) for s in stored],
            now,
            [(new_id(), wallet_id, e) for e in outcome.events],
        )
        return stored

    async def get_wallet(
        self, wallet_id: str, customers: tenancy.Customers
    ) -> tuple[Wallet, Decimal]:
        return await self.read(lambda repo: self._visible_wallet(repo, wallet_id, customers))

    @staticmethod
    async def _visible_wallet(
        repo: LedgerStore, wallet_id: str, customers: tenancy.Customers
    ) -> tuple[Wallet, Decimal]:
        """A wallet the caller may see (WALLET_NOT_FOUND for one it may not, as for none)."""
        found = await repo.get_wallet(wallet_id)
        missing = WalletNotFound(f"wallet {wallet_id!r} does not exist")
        if found is None:
            raise missing
        tenancy.check(customers, found[0].customer_id, missing)
        return found

    async def _check_owner(
        self, repo: LedgerStore, wallet_id: str, customers: tenancy.Customers, missing: BillingError
    ) -> None:
        """Raise `missing` when the caller may not see the wallet `wallet_id` (it exists: the
        thing that names it was found)."""
        if customers is not None:
            owner = (await repo.wallet_owners([wallet_id])).get(wallet_id, "")
            tenancy.check(customers, owner, missing)

    async def apply_group(self, group: Sequence[ops.Operation]) -> list[bytes | BillingError]:
        """Apply operations of any wallets in one transaction (app/group.py); each succeeds or
        fails on its own. The write pipeline's unit of work."""
        commit = GroupCommit(group, self.clock.now, self._time_under_lock)
        return commit.results(await self.write(commit.attempt))
