"""The forwarder: delivers PENDING charges to the ledger until each is acknowledged or denied.

- Positive charges go in batches through DebitBatch, each with the request id derived from its
  event id, so a retry after a crash or timeout is answered with the original entry. Up to
  `concurrency` DebitBatch calls are in flight at once, each for its own wallets: a wallet's
  charges always travel in one call sequence, in their order.
- Refunds of negative charges and undo refunds follow, one at a time (`app/refunds.py`).
- What a refusal does to the charge is the domain's rule (`domain/status.py: after_refusal`):
  DENIED (a DENY wallet: the usage stays recorded and the invoice shows it as denied), FAILED
  (about the request itself, or the ledger failed on it `internal_answers_max` times), or
  retried with exponential backoff (base doubling per attempt, capped), the last error kept on
  the charge. Every FAILED is logged and counted (`app/failures.py`).
- A whole DebitBatch refused for a reason that is not transient (`BatchRefused`) is split in
  halves and sent again until each answer is about one debit, so one bad charge never holds back
  the others (at most 2n - 1 calls for n charges).
- Several DebitBatch calls at once: a round takes up to `batch_size_max * concurrency` due
  charges and splits the debits into `concurrency` partitions by wallet (a stable hash of the
  wallet id), keeping charge order inside each; the partitions are sent concurrently, each one
  batch after another. So the charges of one wallet always go through one partition, in order.
- One forwarder at a time per database: `run` forwards only while it leads (`FORWARDER_LOCK`:
  on PostgreSQL a session-level advisory lock on a connection of its own). With several rating
  processes, the others wait and take over when the leader's session ends (a crash ends it at
  once), so no two processes claim the same PENDING charges and per-wallet order holds across
  processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from datetime import datetime
from decimal import Decimal

import structlog

from billing_common import metrics
from rating_service.app.context import Context
from rating_service.app.debits import debit_item
from rating_service.app.delivery import ForwarderPolicy, GrantKinds, next_step, retry_at
from rating_service.app.failures import report_failed
from rating_service.app.fixed_charges import FixedCharges
from rating_service.app.ports import (
    BatchRefused,
    Booked,
    DebitItem,
    LedgerUnavailable,
    Refused,
)
from rating_service.app.records import Acknowledged, ChargeRow
from rating_service.app.refunds import Refunds
from rating_service.app.stores import RatingStore
from rating_service.domain.refunds import credit_split
from rating_service.domain.status import (
    EventState,
    Verdict,
)

log = structlog.get_logger(__name__)

__all__ = ["FORWARDER_LOCK", "Forwarder", "ForwarderPolicy", "partition_of", "partitioned"]

ZERO = Decimal(0)


DEFAULT_POLICY = ForwarderPolicy()
# The leadership the forwarding process holds (one per database).
FORWARDER_LOCK = "forwarder"


def partition_of(wallet_id: str, partitions: int) -> int:
    """The partition of a wallet's charges: stable across processes and restarts (not `hash`)."""
    return zlib.crc32(wallet_id.encode()) % partitions


def partitioned(debits: list[ChargeRow], partitions: int) -> list[list[ChargeRow]]:
    """Debits split by wallet, charge order kept inside each partition; empty ones left out."""
    parts: list[list[ChargeRow]] = [[] for _ in range(partitions)]
    for c in sorted(debits, key=lambda c: c.id):
        parts[partition_of(c.wallet_id, partitions)].append(c)
    return [p for p in parts if p]


class Forwarder:
    def __init__(self, context: Context, policy: ForwarderPolicy = DEFAULT_POLICY) -> None:
        self.context = context
        self.policy = policy
        self.kinds = GrantKinds(context)
        self.refunds = Refunds(context, policy, self.kinds)
        self.fixed = FixedCharges(context, policy)

    async def run_once(self) -> int:
        """Deliver one batch of due charges; return how many were handled."""
        now = self.context.clock.now()
        backlog = await self.context.read(lambda repo: repo.pending_charges())
        metrics.FORWARDER_BACKLOG.set(backlog)
        limit = self.policy.batch_size_max * self.policy.concurrency
        due = await self.context.read(lambda repo: repo.due_charges(now, limit))
        debits = [c for c in due if c.amount > 0]
        refunds = [c for c in due if c.amount < 0]
        await self._debit_partitions(debits)
        for charge in refunds:
            await self.refunds.refund(charge)
        undos = await self.context.read(
            lambda repo: repo.due_undos(now, self.policy.batch_size_max)
        )
        for undo in undos:
            await self.refunds.undo(undo)
        # Plans that debit their fixed charge: the periods started since the last round.
        fixed = await self.fixed.run_once()
        return len(due) + len(undos) + fixed

    async def _debit_partitions(self, debits: list[ChargeRow]) -> None:
        """Each partition sends its batches one after another; partitions run concurrently.
        Every partition finishes its work before the first failure (if any) is raised."""
        size = self.policy.batch_size_max

        async def send(part: list[ChargeRow]) -> None:
            for start in range(0, len(part), size):
                await self._debit(part[start : start + size])

        done = await asyncio.gather(
            *(send(p) for p in partitioned(debits, self.policy.concurrency)),
            return_exceptions=True,
        )
        failure = next((d for d in done if isinstance(d, BaseException)), None)
        if failure is not None:
            raise failure

    async def _debit(self, debits: list[ChargeRow]) -> None:
        items = [
            debit_item(
                c.ledger_request_id,
                c.wallet_id,
                c.amount,
                c.occurred_time,
                c.meter_key,
                c.meter_description,
                c.event_id,
                c.customer_id,
                c.member_id,
            )
            for c in debits
        ]
        now = self.context.clock.now()
        try:
            results = await self._send(items)
            kinds = await self.kinds.of(results)
        except LedgerUnavailable as exc:
            error = exc.message
            log.warning("forward_failed", charges=len(debits), error=error)
            await self.context.write(
                lambda repo: repo.back_off(
                    {c.id: (now + retry_at(self.policy, c), error) for c in debits}
                )
            )
            return
        acks: list[Acknowledged] = []
        denied: dict[int, str] = {}
        failed: dict[int, tuple[str, str, str]] = {}
        failed_internal: dict[int, tuple[str, str, str]] = {}
        retry: dict[int, tuple[datetime, str]] = {}
        retry_internal: dict[int, tuple[datetime, str]] = {}
        for c, r in zip(debits, results, strict=True):
            if isinstance(r, Booked):
                acks.append(Acknowledged(c.id, r.entry_id, credit_split(r.allocations, kinds)))
                continue
            step = next_step(self.policy, r, c, deniable=True)
            if step.verdict == Verdict.DENY:
                denied[c.id] = r.error
            elif step.verdict == Verdict.FAIL:
                (failed_internal if step.internal else failed)[c.id] = (
                    c.event_id,
                    r.reason,
                    r.error,
                )
            else:
                retry_after = (now + retry_at(self.policy, c), r.error)
                (retry_internal if step.internal else retry)[c.id] = retry_after

        async def save(repo: RatingStore) -> set[int]:
            await repo.acknowledge(acks)
            await repo.deny(denied)
            moved = await repo.fail({i: f[2] for i, f in failed.items()})
            moved |= await repo.fail({i: f[2] for i, f in failed_internal.items()}, internal=True)
            await repo.back_off(retry)
            await repo.back_off(retry_internal, internal=True)
            # A synchronous caller that crashed left its events HELD: we took them over.
            await repo.set_event_status({c.event_id for c in debits}, EventState.ACCEPTED)
            return moved

        moved = await self.context.write(save)
        report_failed("debit", failed | failed_internal, moved)
        log.info(
            "forwarded",
            acknowledged=len(acks),
            denied=len(denied),
            failed=len(failed) + len(failed_internal),
            retried=len(retry) + len(retry_internal),
        )

    async def _send(self, items: list[DebitItem]) -> list[Booked | Refused]:
        """DebitBatch, split in halves while the whole call is refused for a reason that is not
        transient (it cannot say which debit caused it). Bounded: at most 2n - 1 calls."""
        try:
            return await self.context.ledger.debit_batch(items)
        except BatchRefused as exc:
            log.warning("forward_batch_split", charges=len(items), error=exc.message)
            half = len(items) // 2
            return await self._send(items[:half]) + await self._send(items[half:])

    async def run(self, stopping: asyncio.Event) -> None:
        """Forward until told to stop, while this process leads (`FORWARDER_LOCK`). Errors are
        logged and retried: nothing is lost, the charges stay PENDING in the database."""
        leadership = self.context.uow.leader(FORWARDER_LOCK)
        try:
            while not stopping.is_set():
                handled = 0
                try:
                    if await leadership.held():
                        handled = await self.run_once()
                except Exception:  # the loop must survive database or ledger outages
                    log.exception("forwarder_iteration_failed")
                if handled < self.policy.batch_size_max:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), timeout=self.policy.idle_s)
        finally:
            await leadership.release()
