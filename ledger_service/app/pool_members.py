"""Use cases of a pooled wallet's members: set (create or change), get, list, remove. The
budget checks themselves run in the writes that name a member (operations.py, domain/pool.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ledger_service import limits
from ledger_service.app import commands as cmd
from ledger_service.app.core import LedgerCore
from ledger_service.app.ports import LedgerStore
from ledger_service.domain import ledger, pool, tenancy
from ledger_service.domain.errors import MemberNotFound, TooManyPoolMembers, WalletNotFound
from ledger_service.domain.model import WalletState
from ledger_service.domain.pool import MemberUsage, PoolMember

# What these use cases can raise (tests/unit/test_use_case_errors.py checks it against the code).
RAISES = (WalletNotFound, MemberNotFound, TooManyPoolMembers)

# A member's standing: the member, its spend in the period, what its holds reserve, and the
# wallet's state it was read from (for `pool.remaining`).
Standing = tuple[MemberUsage, WalletState, datetime]


def _missing(wallet_id: str, member_id: str) -> MemberNotFound:
    return MemberNotFound(f"wallet {wallet_id!r} has no member {member_id!r}")


class PoolMembers(LedgerCore):
    async def set_pool_member(
        self,
        c: cmd.SetPoolMember,
        encode: Callable[[Standing], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        """Create or change a member, under the wallet's lock (so a debit naming the member is
        decided on the budget before or after the change, never between)."""

        async def work(repo: LedgerStore) -> bytes:
            locked = await self._locked(repo, c.wallet_id, caller.customers)
            now = locked.now
            existing = (await repo.member_usages(c.wallet_id, [c.member_id], now)).get(c.member_id)
            created = existing.member.create_time if existing is not None else now
            if existing is None and len(await repo.members_of(c.wallet_id)) >= (
                limits.POOL_MEMBERS_MAX
            ):
                raise TooManyPoolMembers(
                    f"wallet {c.wallet_id!r} has {limits.POOL_MEMBERS_MAX} members, the most a"
                    " pool may have"
                )
            await repo.upsert_member(
                PoolMember(
                    wallet_id=c.wallet_id,
                    member_id=c.member_id,
                    policy=c.policy,
                    create_time=created,
                    update_time=now,
                    budget_amount=c.budget_amount,
                    budget_share=c.budget_share,
                    budget_period=c.budget_period,
                )
            )
            return encode(await self._standing(repo, locked.state, c.member_id, now))

        return await self.once(
            c.idem, work, lambda repo: self._visible_wallet(repo, c.wallet_id, caller.customers)
        )

    async def remove_pool_member(
        self,
        idem: cmd.Idem,
        wallet_id: str,
        member_id: str,
        encode: Callable[[Standing], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        """Remove a member: debits naming it are refused from now on (MEMBER_NOT_FOUND); its
        entries keep its id. The answer is the member as it stood."""

        async def work(repo: LedgerStore) -> bytes:
            locked = await self._locked(repo, wallet_id, caller.customers)
            standing = await self._standing(repo, locked.state, member_id, locked.now)
            await repo.delete_member(wallet_id, member_id)
            return encode(standing)

        return await self.once(
            idem, work, lambda repo: self._visible_wallet(repo, wallet_id, caller.customers)
        )

    async def pool_members(
        self, wallet_id: str, member_ids: list[str] | None, customers: tenancy.Customers
    ) -> list[Standing]:
        """Members (all of the wallet's when `member_ids` is None) with their standing now."""
        now = self.clock.now()

        async def work(repo: LedgerStore) -> list[Standing]:
            state = await repo.state_at(wallet_id, None)
            missing = WalletNotFound(f"wallet {wallet_id!r} does not exist")
            if state is None:
                raise missing
            tenancy.check(customers, state.wallet.customer_id, missing)
            ids = member_ids if member_ids is not None else await repo.members_of(wallet_id)
            # All of them in one statement (at most POOL_MEMBERS_MAX).
            found = await repo.member_usages(wallet_id, ids, now)
            absent = [m for m in ids if m not in found]
            if absent:
                raise _missing(wallet_id, absent[0])
            available = ledger.available(state, now)
            standings: list[Standing] = []
            for m in ids:
                with_member = pool.with_usage(state, found[m], available)
                standings.append((with_member.members[m], with_member, now))
            return standings

        return await self.read(work)

    @staticmethod
    async def _standing(
        repo: LedgerStore, state: WalletState, member_id: str, now: datetime
    ) -> Standing:
        usage = (await repo.member_usages(state.wallet.id, [member_id], now)).get(member_id)
        if usage is None:
            raise _missing(state.wallet.id, member_id)
        with_member = pool.with_usage(state, usage, ledger.available(state, now))
        return with_member.members[member_id], with_member, now
