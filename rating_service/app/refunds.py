"""Refunds the forwarder delivers, one at a time after the debits of a round:

- A negative charge becomes RefundDebit calls against the aggregate's earlier acknowledged
  debits, newest first (`domain/refunds.py: split_refund`). The split is planned once, durably
  (refund_parts), before any call, so retries repeat the same calls with the same request ids.
  It waits until every earlier charge of the same aggregate has left PENDING.
- Undo refunds (`undo_refunds`, owed by a synchronous refusal for the debits the ledger booked on
  the event's other meters) are sent with their stored request until acknowledged.

Both follow the retry rule of charges (`after_refusal`); a refund is never DENIED.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from billing_common.money import exact
from rating_service.app.context import Context
from rating_service.app.delivery import ForwarderPolicy, GrantKinds, next_step, retry_at
from rating_service.app.failures import report_failed
from rating_service.app.ports import Booked, LedgerUnavailable, Refused
from rating_service.app.records import ChargeRow, RefundPart, UndoRow
from rating_service.app.stores import RatingStore
from rating_service.domain.charges import describe, ledger_request_id
from rating_service.domain.refunds import credit_split, split_refund
from rating_service.domain.status import ChargeStatus, EventState, Verdict

log = structlog.get_logger(__name__)


class Refunds:
    def __init__(self, context: Context, policy: ForwarderPolicy, kinds: GrantKinds) -> None:
        self.context = context
        self.policy = policy
        self.kinds = kinds

    async def undo(self, undo: UndoRow) -> None:
        """Deliver one refund a synchronous refusal owes, with its stored request."""
        now = self.context.clock.now()
        try:
            result = await self.context.ledger.refund(
                undo.ledger_request_id, undo.debit_entry_id, undo.amount, undo.description
            )
        except LedgerUnavailable as exc:
            message = exc.message
            log.warning("undo_refund_failed", undo_id=undo.id, error=message)
            await self.context.write(
                lambda repo: repo.undo_retry([undo.id], now + retry_at(self.policy, undo), message)
            )
            return
        if isinstance(result, Booked):
            await self.context.write(lambda repo: repo.undo_done(undo.id, result.entry_id))
            log.info("undo_refunded", undo_id=undo.id, event_id=undo.event_id)
            return
        error = result.error
        step = next_step(self.policy, result, undo, deniable=False)
        if step.verdict == Verdict.RETRY:
            after = now + retry_at(self.policy, undo)
            await self.context.write(
                lambda repo: repo.undo_retry([undo.id], after, error, internal=step.internal)
            )
            return
        moved = await self.context.write(
            lambda repo: repo.undo_fail(undo.id, error, internal=step.internal)
        )
        report_failed("undo", {undo.id: (undo.event_id, result.reason, error)}, moved)

    async def refund(self, charge: ChargeRow) -> None:
        parts = await self.context.write(lambda repo: self._plan(repo, charge))
        now = self.context.clock.now()
        if parts is None:
            # An earlier charge of the aggregate is still on its way; refund after it.
            await self.context.write(
                lambda repo: repo.back_off(
                    {charge.id: (now + retry_at(self.policy, charge), "waiting")}
                )
            )
            return
        try:
            for part in parts:
                if part.ledger_entry_id:
                    continue
                result = await self.context.ledger.refund(
                    part.ledger_request_id,
                    part.debit_entry_id,
                    part.amount,
                    f"refund: {describe_row(charge)}",
                )
                if isinstance(result, Refused):
                    await self._refused(charge, result, now)
                    return
                await self._part_booked(charge, part.ledger_request_id, result)
        except LedgerUnavailable as exc:
            error = exc.message
            log.warning("refund_failed", charge_id=charge.id, error=error)
            await self.context.write(
                lambda repo: repo.back_off(
                    {charge.id: (now + retry_at(self.policy, charge), error)}
                )
            )
            return
        await self.context.write(lambda repo: self._settle(repo, charge))

    @exact
    async def _plan(self, repo: RatingStore, charge: ChargeRow) -> list[RefundPart] | None:
        """The refund's parts (planned now if not yet): [] when the charge is no longer
        pending, None while an earlier charge of its aggregate is still on its way."""
        locked = await repo.charges_by_ids([charge.id], lock=True)
        if not locked or locked[0].status != ChargeStatus.PENDING:
            return []
        if await repo.earlier_pending(charge):
            return None
        parts = await repo.refund_parts_of(charge.id)
        if parts:
            return parts
        split = split_refund(-charge.amount, await repo.refundable_debits(charge))
        planned = [
            (
                debit,
                take,
                ledger_request_id("refund", charge.event_id, charge.meter_key, debit.event_id),
            )
            for debit, take in split.parts
        ]
        await repo.plan_refund(charge.id, planned, split.unrefundable)
        return await repo.refund_parts_of(charge.id)

    async def _refused(self, charge: ChargeRow, result: Refused, now: datetime) -> None:
        """The ledger refused a part: retry the refund later, or fail it for good."""
        error = result.error
        step = next_step(self.policy, result, charge, deniable=False)
        internal = step.internal
        if step.verdict == Verdict.RETRY:
            after = now + retry_at(self.policy, charge)
            log.warning("refund_failed", charge_id=charge.id, error=error)
            await self.context.write(
                lambda repo: repo.back_off({charge.id: (after, error)}, internal=internal)
            )
            return
        moved = await self.context.write(
            lambda repo: self._settle(repo, charge, fail=error, internal=internal)
        )
        report_failed("refund", {charge.id: (charge.event_id, result.reason, error)}, moved)

    async def _part_booked(self, charge: ChargeRow, request_id: str, result: Booked) -> None:
        """Record a booked part and its credit split. Two forwarders may book the same part
        (the ledger replays the second): only the one that records it counts its split."""
        split = credit_split(result.allocations, await self.kinds.of([result]))

        async def done(repo: RatingStore) -> None:
            if await repo.refund_part_done(request_id, result.entry_id):
                await repo.add_split(charge.id, **split.as_dict())

        await self.context.write(done)

    async def _settle(
        self, repo: RatingStore, charge: ChargeRow, fail: str = "", internal: bool = False
    ) -> set[int]:
        """A refund is done (or permanently refused): record it from the stored parts, not
        from the list read before the calls (another forwarder may have booked some). Returns
        the ids moved to FAILED."""
        moved: set[int] = set()
        if fail:
            moved = await repo.fail({charge.id: fail}, internal=internal)
        else:
            parts = await repo.refund_parts_of(charge.id)
            first = next((p.ledger_entry_id for p in parts if p.ledger_entry_id), "")
            await repo.mark_acknowledged(charge.id, first)
        await repo.set_event_status([charge.event_id], EventState.ACCEPTED)
        return moved


def describe_row(c: ChargeRow) -> str:
    return describe(c.meter_description or c.meter_key, c.event_id)
