"""Fixed charges debited per period (plans with FixedChargeCollection.DEBIT).

A round books every period that has started by now and is not booked yet (`domain/fixed_charges.py:
periods_started`, from the last period booked, so periods missed while the service was down are
booked too, each once), writing one PENDING row per (assignment, period start) in one
transaction (a row already there is kept), then sends the due rows to the ledger as debits with
the period's derived request id (`fixed_request_id`). A crash between the two leaves a PENDING row
the next round sends; a lost answer is sent again under the same request id and the ledger answers
with the original entry. Refusals follow the forwarder's retry rule (`domain/status.py:
after_refusal`): INSUFFICIENT_CREDITS (a DENY wallet) is DENIED, a permanent refusal FAILED (both
final: the fixed charge stays on the invoice unpaid), anything transient retried with backoff.
It runs in the forwarder's rounds, so only while this process leads.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import structlog

from rating_service.app.context import Context
from rating_service.app.delivery import ForwarderPolicy, next_step, retry_at
from rating_service.app.ports import BatchRefused, Booked, DebitItem, LedgerUnavailable, Refused
from rating_service.app.records import FixedCharge
from rating_service.app.stores import RatingStore
from rating_service.domain.fixed_charges import (
    fixed_charge_of,
    fixed_description,
    fixed_request_id,
    periods_started,
)
from rating_service.domain.status import ChargeStatus, Verdict, initial_charge_status

log = structlog.get_logger(__name__)

# What a fixed-charge debit names as its feature in the ledger.
FIXED_CHARGE_FEATURE = "fixed_charge"
# Assignments looked at per round (the least advanced first).
ASSIGNMENTS_PER_ROUND_MAX = 1_000


def debit_of(f: FixedCharge) -> DebitItem:
    """The ledger debit of a fixed charge: the same request on every attempt."""
    return DebitItem(
        request_id=f.ledger_request_id,
        wallet_id=f.wallet_id,
        amount=f.amount,
        occurred_time=f.period_start,
        feature=FIXED_CHARGE_FEATURE,
        source_event_id="",
        customer_id=f.customer_id,
        description=f.description,
    )


class FixedCharges:
    def __init__(self, context: Context, policy: ForwarderPolicy) -> None:
        self.context = context
        self.policy = policy

    async def run_once(self) -> int:
        """Book the periods due, send the due debits; how many rows were handled."""
        booked = await self.book_due(self.context.clock.now())
        return booked + await self.send_due()

    async def book_due(self, now: datetime) -> int:
        """Write a PENDING row for every started period not booked yet; how many were new."""

        async def work(repo: RatingStore) -> int:
            new: list[FixedCharge] = []
            for a, plan, since in await repo.debit_assignments(ASSIGNMENTS_PER_ROUND_MAX):
                for period in periods_started(plan, a, now, since):
                    amount = fixed_charge_of(plan, a, period)
                    new.append(
                        FixedCharge(
                            assignment_id=a.id,
                            period_start=period.start,
                            period_end=period.end,
                            customer_id=a.customer_id,
                            wallet_id=a.wallet_id,
                            amount=amount,
                            ledger_request_id=fixed_request_id(a.id, period),
                            description=fixed_description(plan.name, period),
                            # A prorated charge may round to 0: nothing to debit.
                            status=initial_charge_status(amount),
                            forward_after=now,
                            create_time=now,
                        )
                    )
            return await repo.insert_fixed_charges(new)

        return await self.context.write(work)

    async def send_due(self) -> int:
        now = self.context.clock.now()
        due = await self.context.read(
            lambda repo: repo.due_fixed_charges(now, self.policy.batch_size_max)
        )
        if not due:
            return 0
        try:
            results = await self._send([debit_of(f) for f in due])
        except LedgerUnavailable as exc:
            log.warning("fixed_charges_send_failed", charges=len(due), error=exc.message)
            outcomes = [
                replace(
                    f,
                    attempts=f.attempts + 1,
                    last_error=exc.message,
                    forward_after=now + retry_at(self.policy, f),
                )
                for f in due
            ]
        else:
            outcomes = []
            for f, r in zip(due, results, strict=True):
                if isinstance(r, Booked):
                    outcomes.append(
                        replace(f, status=ChargeStatus.ACKNOWLEDGED, ledger_entry_id=r.entry_id)
                    )
                    continue
                step = next_step(self.policy, r, f, deniable=True)
                status = {
                    Verdict.DENY: ChargeStatus.DENIED,
                    Verdict.FAIL: ChargeStatus.FAILED,
                    Verdict.RETRY: ChargeStatus.PENDING,
                }[step.verdict]
                if status == ChargeStatus.FAILED:
                    log.error("fixed_charge_failed", request_id=f.ledger_request_id, error=r.error)
                outcomes.append(
                    replace(
                        f,
                        status=status,
                        last_error=r.error,
                        attempts=f.attempts + 1,
                        internal_errors=f.internal_errors + int(step.internal),
                        forward_after=now + retry_at(self.policy, f),
                    )
                )

        async def save(repo: RatingStore) -> None:
            for f in outcomes:
                await repo.save_fixed_charge(f)

        await self.context.write(save)
        return len(due)

    async def _send(self, items: list[DebitItem]) -> list[Booked | Refused]:
        """DebitBatch, split in halves while the whole call is refused for a reason that is not
        transient, as the forwarder does (at most 2n - 1 calls)."""
        try:
            return await self.context.ledger.debit_batch(items)
        except BatchRefused as exc:
            if len(items) == 1:
                return [exc.refused]
            half = len(items) // 2
            return await self._send(items[:half]) + await self._send(items[half:])
