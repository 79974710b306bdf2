"""Use cases of a wallet's automation: top-up rules and top-ups, alert rules, allotment
schedules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

import structlog

from billing_common.errors import InvalidArgument, Violation
from ledger_service.app import commands as cmd
from ledger_service.app.core import LedgerCore
from ledger_service.app.ports import (
    LedgerStore,
    new_id,
)
from ledger_service.domain import allotments, automation, ledger, tenancy
from ledger_service.domain.errors import (
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
    MemberNotFound,
    ScheduleNotFound,
    TopUpNotFound,
    TopUpNotPending,
    TopUpRuleNotFound,
    WalletNotFound,
)
from ledger_service.domain.model import (
    AlertRule,
    AllotmentSchedule,
    TopUp,
    TopUpRule,
    WalletState,
)

# What these use cases can raise (tests/unit/test_use_case_errors.py checks it against the code).
RAISES = (
    InvalidArgument,
    WalletNotFound,
    ScheduleNotFound,
    TopUpNotFound,
    TopUpNotPending,
    TopUpRuleNotFound,
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
    MemberNotFound,
)

log = structlog.get_logger(__name__)


def _no_rule(wallet_id: str) -> TopUpRuleNotFound:
    return TopUpRuleNotFound(f"wallet {wallet_id!r} has no top-up rule")


class WalletAutomation(LedgerCore):
    # -- automation -------------------------------------------------------------------------

    async def set_topup_rule(
        self,
        idem: cmd.Idem,
        rule: TopUpRule,
        encode: Callable[[TopUpRule], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        """Create or replace the rule (armed, no failures) and evaluate it at once."""

        async def work(repo: LedgerStore) -> bytes:
            locked = await self._locked(repo, rule.wallet_id, caller.customers)
            state = locked.state
            now = locked.now
            with_rule = automation.set_topup_rule(state, rule)
            await self._commit(
                repo, locked, ledger.Outcome(with_rule, []), idem.request_id, now, caller.actor
            )
            await repo.record_rule_author(rule.wallet_id, caller.actor)
            return encode(rule)

        return await self.once(
            idem, work, lambda repo: self._visible_wallet(repo, rule.wallet_id, caller.customers)
        )

    async def topup_rule(self, wallet_id: str, customers: tenancy.Customers) -> TopUpRule:
        """The wallet's top-up rule as stored (TOP_UP_RULE_NOT_FOUND when it has none)."""

        async def work(repo: LedgerStore) -> TopUpRule:
            await self._visible_wallet(repo, wallet_id, customers)
            rule = await repo.topup_rule_of(wallet_id)
            if rule is None:
                raise _no_rule(wallet_id)
            return rule

        return await self.read(work)

    async def clear_topup_rule(
        self,
        idem: cmd.Idem,
        wallet_id: str,
        encode: Callable[[TopUpRule], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        """Remove the wallet's top-up rule: no top-up starts from now on; pending top-ups stay
        pending (they can still be confirmed or failed). A wallet with no rule is
        TOP_UP_RULE_NOT_FOUND, as a delete of something missing is (Google AIP-135): a script
        that wants "no rule, whatever there was" treats that NOT_FOUND as done. The rule row is
        deleted, so who cleared it is written to the log (`top_up_rule_cleared`, with the
        actor and the rule)."""

        async def work(repo: LedgerStore) -> bytes:
            locked = await self._locked(repo, wallet_id, caller.customers)
            rule = locked.state.automation.topup_rule
            if rule is None:
                raise _no_rule(wallet_id)
            without = automation.clear_topup_rule(locked.state)
            await self._commit(
                repo, locked, ledger.Outcome(without, []), idem.request_id, locked.now, caller.actor
            )
            await repo.delete_topup_rule(wallet_id)
            log.info(
                "top_up_rule_cleared",
                wallet_id=wallet_id,
                actor=caller.actor,
                request_id=idem.request_id,
                threshold=str(rule.threshold),
            )
            return encode(rule)

        return await self.once(
            idem, work, lambda repo: self._visible_wallet(repo, wallet_id, caller.customers)
        )

    async def set_alert_rules(
        self,
        idem: cmd.Idem,
        wallet_id: str,
        rules: Sequence[AlertRule],
        encode: Callable[[list[AlertRule]], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        """Replace the rules (or restore the defaults) and evaluate them at once. A rule on a
        pool member the wallet does not have is refused (it could never fire): MEMBER_NOT_FOUND,
        nothing written."""

        async def work(repo: LedgerStore) -> bytes:
            locked = await self._locked(repo, wallet_id, caller.customers)
            if any(r.member_id for r in rules):
                members = set(await repo.members_of(wallet_id))
                unknown = [
                    (i, r.member_id)
                    for i, r in enumerate(rules)
                    if r.member_id and r.member_id not in members
                ]
                if unknown:
                    i, member_id = unknown[0]
                    raise MemberNotFound(
                        f"wallet {wallet_id!r} has no member {member_id!r}",
                        violations=[Violation(f"rules[{i}].member_id", "not a member")],
                    )
            fresh = tuple(
                replace(r, id=new_id(), wallet_id=wallet_id, armed=True, last_fire_time=None)
                for r in rules
            ) or automation.default_alert_rules(wallet_id, new_id)
            await repo.replace_alert_rules(wallet_id, fresh, caller.actor)
            locked = locked.map(
                lambda s: replace(s, automation=replace(s.automation, alert_rules=fresh))
            )
            state = locked.state
            now = locked.now
            await self._commit(
                repo, locked, ledger.Outcome(state, []), idem.request_id, now, caller.actor
            )
            return encode(await repo.alert_rules_of(wallet_id))

        return await self.once(
            idem, work, lambda repo: self._visible_wallet(repo, wallet_id, caller.customers)
        )

    async def create_schedule(
        self,
        idem: cmd.Idem,
        schedule: AllotmentSchedule,
        encode: Callable[[AllotmentSchedule], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        """Store a schedule and grant every period that has already started (the periods'
        grants are the system's: they are the schedule's doing, here as at any later write)."""

        async def work(repo: LedgerStore) -> bytes:
            locked = await self._locked(repo, schedule.wallet_id, caller.customers)
            now = locked.now
            stored_schedule = replace(schedule, id=new_id(), next_index=0)
            auto = locked.state.automation
            with_schedule = replace(
                locked.state,
                automation=replace(auto, schedules=(*auto.schedules, stored_schedule)),
            )
            outcome = allotments.catch_up(with_schedule, now, new_id)
            await self._commit(repo, locked, outcome, idem.request_id, now, cmd.SYSTEM.actor)
            await repo.record_schedule_author(stored_schedule.id, False, caller.actor)
            (created,) = [
                s for s in outcome.state.automation.schedules if s.id == stored_schedule.id
            ]
            return encode(created)

        return await self.once(
            idem,
            work,
            lambda repo: self._visible_wallet(repo, schedule.wallet_id, caller.customers),
        )

    async def end_schedule(
        self,
        idem: cmd.Idem,
        schedule_id: str,
        end_time: datetime | None,
        encode: Callable[[AllotmentSchedule], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        """End a subscription: no period starts from end_time on, and once it has passed, what the
        schedule's grants still hold is voided ("subscription ended")."""

        async def work(repo: LedgerStore) -> bytes:
            missing = ScheduleNotFound(f"allotment schedule {schedule_id!r} does not exist")
            found = await repo.get_schedule(schedule_id)
            if found is None:
                raise missing
            locked = await self._locked(repo, found.wallet_id, caller.customers, missing)
            now = locked.now
            end = end_time or now
            if end < now:
                raise InvalidArgument.field("end_time", "must not be in the past", "INVALID_TIME")
            outcome = allotments.end_schedule(locked.state, schedule_id, end, now, new_id)
            await self._commit(repo, locked, outcome, idem.request_id, now, caller.actor)
            await repo.record_schedule_author(schedule_id, True, caller.actor)
            (ended,) = [s for s in outcome.state.automation.schedules if s.id == schedule_id]
            return encode(ended)

        async def visible(repo: LedgerStore) -> None:
            found = await repo.get_schedule(schedule_id)
            missing = ScheduleNotFound(f"allotment schedule {schedule_id!r} does not exist")
            await self._check_owner(
                repo, found.wallet_id if found else "", caller.customers, missing
            )

        return await self.once(idem, work, visible)

    async def schedules(
        self, wallet_id: str, customers: tenancy.Customers
    ) -> list[AllotmentSchedule]:
        async def work(repo: LedgerStore) -> list[AllotmentSchedule]:
            await self._visible_wallet(repo, wallet_id, customers)
            return await repo.schedules_of(wallet_id)

        return await self.read(work)

    async def alert_rules(self, wallet_id: str, customers: tenancy.Customers) -> list[AlertRule]:
        async def work(repo: LedgerStore) -> list[AlertRule]:
            await self._visible_wallet(repo, wallet_id, customers)
            return await repo.alert_rules_of(wallet_id)

        return await self.read(work)

    async def _settle_topup(
        self,
        idem: cmd.Idem,
        topup_id: str,
        change: Callable[[WalletState, datetime], ledger.Outcome],
        encode: Callable[[TopUp], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        async def work(repo: LedgerStore) -> bytes:
            missing = TopUpNotFound(f"top-up {topup_id!r} does not exist")
            found = await repo.get_topup(topup_id)
            if found is None:
                raise missing
            locked = await self._locked(repo, found.wallet_id, caller.customers, missing)
            state = locked.state
            if topup_id not in state.automation.topups:
                # Not pending under the lock. Read it again: it may have been settled while this
                # call waited for the lock, and what was read before it is stale.
                current = await repo.get_topup(topup_id)
                assert current is not None, "top-ups are never deleted"
                raise TopUpNotPending(f"top-up {topup_id} is {current.state.value.lower()}")
            now = locked.now
            outcome = change(state, now)
            await self._commit(repo, locked, outcome, idem.request_id, now, caller.actor)
            return encode(outcome.state.automation.topups[topup_id])

        async def visible(repo: LedgerStore) -> None:
            found = await repo.get_topup(topup_id)
            missing = TopUpNotFound(f"top-up {topup_id!r} does not exist")
            await self._check_owner(
                repo, found.wallet_id if found else "", caller.customers, missing
            )

        return await self.once(idem, work, visible)

    async def confirm_topup(
        self,
        idem: cmd.Idem,
        topup_id: str,
        encode: Callable[[TopUp], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        return await self._settle_topup(
            idem,
            topup_id,
            lambda state, now: automation.complete_topup(state, topup_id, now=now, new_id=new_id),
            encode,
            caller,
        )

    async def fail_topup(
        self,
        idem: cmd.Idem,
        topup_id: str,
        reason: str,
        encode: Callable[[TopUp], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        return await self._settle_topup(
            idem,
            topup_id,
            lambda state, now: automation.fail_topup(state, topup_id, now=now, reason=reason),
            encode,
            caller,
        )

    async def list_topups(
        self, wallet_id: str, before_seq: int | None, limit: int, customers: tenancy.Customers
    ) -> list[tuple[int, TopUp]]:
        async def work(repo: LedgerStore) -> list[tuple[int, TopUp]]:
            await self._visible_wallet(repo, wallet_id, customers)
            return await repo.list_topups(wallet_id, before_seq, limit)

        return await self.read(work)
