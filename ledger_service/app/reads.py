"""Reads: the event feed and its settled horizon, balances now and at a past time, the
journal."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from billing_common.errors import InvalidArgument
from ledger_service.app import commands as cmd
from ledger_service.app.core import HORIZON_INTERVAL_S, LedgerCore
from ledger_service.app.operations import wallet_missing
from ledger_service.app.ports import (
    LedgerStore,
    StoredEntry,
    StoredEvent,
    new_id,
)
from ledger_service.domain import allotments, ledger, pool, tenancy
from ledger_service.domain import authorize as authorize_rules
from ledger_service.domain.authorize import Decision
from ledger_service.domain.balance import BalanceView, project
from ledger_service.domain.errors import (
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
    MemberNotFound,
    ScheduleNotFound,
    WalletNotFound,
)
from ledger_service.domain.model import (
    Wallet,
    WalletState,
)

# What these use cases can raise (tests/unit/test_use_case_errors.py checks it against the code).
RAISES = (
    InvalidArgument,
    WalletNotFound,
    MemberNotFound,
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
    # Authorize decides a top-up as a debit would; a stored rule names a schedule the state has.
    ScheduleNotFound,
)


class LedgerReads(LedgerCore):
    # -- events -----------------------------------------------------------------------------

    async def events_after(
        self, wallet_id: str, after_seq: int, types: Sequence[str], limit: int
    ) -> list[StoredEvent]:
        """Events after a cursor, up to the settled horizon (see `event_horizon`)."""
        upto = await self.event_horizon()
        return await self.read(
            lambda repo: repo.events_after(wallet_id, after_seq, types, limit, upto)
        )

    async def visible_events_after(
        self,
        wallet_id: str,
        after_seq: int,
        types: Sequence[str],
        limit: int,
        customers: tenancy.Customers,
    ) -> tuple[list[StoredEvent], int, bool]:
        """`events_after` for a caller: the events of wallets it may see, the cursor read up to
        (past events it may not see, so a reader moves on) and whether the page was full."""
        read = await self.events_after(wallet_id, after_seq, types, limit)
        cursor = read[-1].seq if read else after_seq
        events = read
        if customers is not None and read:
            owners = await self.read(lambda repo: repo.wallet_owners(e.wallet_id for e in read))
            events = [e for e in read if tenancy.may_see(customers, owners[e.wallet_id])]
        return events, cursor, len(read) >= limit

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

    async def balance(
        self, wallet_id: str, as_of: datetime | None, customers: tenancy.Customers
    ) -> tuple[Wallet, BalanceView]:
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
        missing = WalletNotFound(f"wallet {wallet_id!r} does not exist")
        if state is None:
            raise missing
        tenancy.check(customers, state.wallet.customer_id, missing)
        return state.wallet, project(state, at)

    async def authorize_check(
        self,
        ref: cmd.WalletRef,
        amount: Decimal,
        customers: tenancy.Customers,
        feature: str = "",
        member_id: str = "",
    ) -> tuple[Wallet, Decision, datetime]:
        """Authorize without a hold: read like GetBalance now (one statement), decided by the
        same rule as a hold (domain/authorize.py); nothing is written."""
        missing = wallet_missing(ref)
        if ref.customer_id and not tenancy.may_see(customers, ref.customer_id):
            raise missing
        now = self.clock.now()

        async def work(repo: LedgerStore) -> WalletState | None:
            found = await repo.state_to_authorize(ref.wallet_id, ref.customer_id, ref.unit, now)
            if found is None or not member_id:
                return found
            # A member's budget: one more statement, only when the check names one.
            tenancy.check(customers, found.wallet.customer_id, missing)
            usage = (await repo.member_usages(found.wallet.id, [member_id], now)).get(member_id)
            if usage is None:
                raise MemberNotFound(f"wallet {found.wallet.id!r} has no member {member_id!r}")
            return pool.with_usage(found, usage, ledger.available(found, now))

        state = await self.read(work)
        if state is None:
            raise missing
        tenancy.check(customers, state.wallet.customer_id, missing)
        # Period grants due but not booked yet count, as in `balance`.
        if state.automation.schedules:
            state = allotments.catch_up(state, now, new_id).state
        decision = authorize_rules.decide(state, amount, now, feature=feature, member_id=member_id)
        return state.wallet, decision, now

    async def list_entries(
        self, q: cmd.EntryQuery, customers: tenancy.Customers
    ) -> list[tuple[int, StoredEntry]]:
        async def work(repo: LedgerStore) -> list[tuple[int, StoredEntry]]:
            await self._visible_wallet(repo, q.wallet_id, customers)
            return await repo.list_entries(
                q.wallet_id, q.types, q.start, q.end, q.before_seq, q.limit, q.member_id
            )

        return await self.read(work)
