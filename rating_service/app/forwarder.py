"""The forwarder: delivers PENDING charges to the ledger until each is acknowledged or denied.

- Positive charges go in batches through DebitBatch, each with the request id derived from its
  event id, so a retry after a crash or timeout is answered with the original entry. Up to
  `concurrency` DebitBatch calls are in flight at once, each for its own wallets: a wallet's
  charges always travel in one call sequence, in their order.
- A negative charge becomes RefundDebit calls against the aggregate's earlier acknowledged debits,
  newest first. The split is planned once, durably (refund_parts), before any call, so retries
  repeat the same calls with the same request ids. It waits until every earlier charge of the same
  aggregate has left PENDING.
- What a refusal does to the charge is the domain's rule (`domain/status.py: after_refusal`):
  DENIED (a DENY wallet: the usage stays recorded and the invoice shows it as denied), FAILED
  (about the request itself, or the ledger failed on it `internal_answers_max` times), or
  retried with exponential backoff (base doubling per attempt, capped), the last error kept on
  the charge. Every FAILED is logged and counted (`app/failures.py`).
- Undo refunds (`undo_refunds`, owed by a synchronous refusal for the debits the ledger booked on
  the event's other meters) are sent with their stored request until acknowledged, under the
  same retry rules as charges.
- A whole DebitBatch refused for a reason that is not transient (`BatchRefused`) is split in
  halves and sent again until each answer is about one debit, so one bad charge never holds back
  the others (at most 2n - 1 calls for n charges).
- Several DebitBatch calls at once: a round takes up to `batch_size_max * concurrency` due
  charges and splits the debits into `concurrency` partitions by wallet (a stable hash of the
  wallet id), keeping charge order inside each; the partitions are sent concurrently, each one
  batch after another. So the charges of one wallet always go through one partition, in order.
- One forwarder at a time per database: `run` forwards only while it holds a session-level
  advisory lock (`FORWARDER_LOCK`) on a connection of its own. With several rating processes,
  the others wait and take over when the leader's session ends (a crash ends it at once), so no
  two processes claim the same PENDING charges and per-wallet order holds across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import structlog

from billing_common import metrics
from billing_common.money import exact
from rating_service.adapters.db.repository import (
    ChargeRow,
    Leadership,
    RatingRepository,
    UndoRow,
    lock_key,
)
from rating_service.app.context import Context
from rating_service.app.debits import debit_item
from rating_service.app.failures import report_failed
from rating_service.app.ports import (
    BatchRefused,
    Booked,
    DebitItem,
    LedgerUnavailable,
    Refused,
)
from rating_service.domain.charges import describe, ledger_request_id
from rating_service.domain.refunds import CreditSplit, credit_split, split_refund
from rating_service.domain.status import (
    ChargeStatus,
    EventState,
    Next,
    Verdict,
    after_refusal,
)

log = structlog.get_logger(__name__)

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ForwarderPolicy:
    batch_size_max: int = 500
    backoff_base_s: float = 0.5
    backoff_max_s: float = 60.0
    idle_s: float = 0.5
    # INTERNAL (UNKNOWN, DATA_LOSS) answers to one charge before it is FAILED: with the default
    # backoff, about a minute of retries, enough to ride out a passing fault of the ledger.
    internal_answers_max: int = 8
    # DebitBatch calls in flight at once (partitions by wallet).
    concurrency: int = 4


GRANT_KINDS_CACHED_MAX = 100_000
# The session-level advisory lock the forwarding process holds (one per database).
FORWARDER_LOCK = lock_key("rating", "forwarder")


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
    def __init__(self, context: Context, policy: ForwarderPolicy = ForwarderPolicy()) -> None:
        self.context = context
        self.policy = policy
        self.kinds: dict[str, str] = {}

    def _retry_at(self, charge: ChargeRow | UndoRow) -> timedelta:
        delay = min(
            self.policy.backoff_max_s, self.policy.backoff_base_s * 2 ** min(charge.attempts, 20)
        )
        return timedelta(seconds=delay * random.uniform(0.5, 1.0))

    def _next(self, refused: Refused, record: ChargeRow | UndoRow, *, deniable: bool) -> Next:
        return after_refusal(
            refused.refusal,
            record.internal_errors,
            self.policy.internal_answers_max,
            deniable=deniable,
        )

    async def _kinds(self, results: list[Booked | Refused]) -> dict[str, str]:
        wanted = sorted(
            {
                a.grant_id
                for r in results
                if isinstance(r, Booked)
                for a in r.allocations
                if a.grant_id and a.grant_id not in self.kinds
            }
        )
        if wanted:
            # Grants are immutable: their kind never changes, so the cache never goes stale.
            if len(self.kinds) + len(wanted) > GRANT_KINDS_CACHED_MAX:
                self.kinds.clear()
            self.kinds.update(await self.context.ledger.grant_kinds(wanted))
        return self.kinds

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
            await self._refund(charge)
        undos = await self.context.read(
            lambda repo: repo.due_undos(now, self.policy.batch_size_max)
        )
        for undo in undos:
            await self._undo(undo)
        return len(due) + len(undos)

    async def _undo(self, undo: UndoRow) -> None:
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
                lambda repo: repo.undo_retry([undo.id], now + self._retry_at(undo), message)
            )
            return
        if isinstance(result, Booked):
            await self.context.write(lambda repo: repo.undo_done(undo.id, result.entry_id))
            log.info("undo_refunded", undo_id=undo.id, event_id=undo.event_id)
            return
        error = result.error
        step = self._next(result, undo, deniable=False)
        if step.verdict == Verdict.RETRY:
            after = now + self._retry_at(undo)
            await self.context.write(
                lambda repo: repo.undo_retry([undo.id], after, error, internal=step.internal)
            )
            return
        moved = await self.context.write(
            lambda repo: repo.undo_fail(undo.id, error, internal=step.internal)
        )
        report_failed("undo", {undo.id: (undo.event_id, result.reason, error)}, moved)

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
            )
            for c in debits
        ]
        now = self.context.clock.now()
        try:
            results = await self._send(items)
            kinds = await self._kinds(results)
        except LedgerUnavailable as exc:
            error = exc.message
            log.warning("forward_failed", charges=len(debits), error=error)
            await self.context.write(
                lambda repo: repo.back_off({c.id: (now + self._retry_at(c), error) for c in debits})
            )
            return
        acks, denied = [], {}
        failed: dict[int, tuple[str, str, str]] = {}
        failed_internal: dict[int, tuple[str, str, str]] = {}
        retry: dict[int, tuple[datetime, str]] = {}
        retry_internal: dict[int, tuple[datetime, str]] = {}
        for c, r in zip(debits, results, strict=True):
            if isinstance(r, Booked):
                split = credit_split(r.allocations, kinds)
                acks.append({"id": c.id, "entry_id": r.entry_id, **split.as_dict()})
                continue
            step = self._next(r, c, deniable=True)
            if step.verdict == Verdict.DENY:
                denied[c.id] = r.error
            elif step.verdict == Verdict.FAIL:
                (failed_internal if step.internal else failed)[c.id] = (
                    c.event_id,
                    r.reason,
                    r.error,
                )
            else:
                retry_after = (now + self._retry_at(c), r.error)
                (retry_internal if step.internal else retry)[c.id] = retry_after

        async def save(repo: RatingRepository) -> set[int]:
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

    async def _refund(self, charge: ChargeRow) -> None:
        @exact
        async def plan(repo: RatingRepository) -> list[dict[str, object]] | None:
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

        parts = await self.context.write(plan)
        now = self.context.clock.now()
        if parts is None:
            # An earlier charge of the aggregate is still on its way; refund after it.
            await self.context.write(
                lambda repo: repo.back_off({charge.id: (now + self._retry_at(charge), "waiting")})
            )
            return
        try:
            for part in parts:
                if part["ledger_entry_id"]:
                    continue
                result = await self.context.ledger.refund(
                    str(part["ledger_request_id"]),
                    str(part["debit_entry_id"]),
                    Decimal(str(part["amount"])),
                    f"refund: {describe_row(charge)}",
                )
                if isinstance(result, Refused):
                    error = result.error
                    step = self._next(result, charge, deniable=False)
                    internal = step.internal
                    if step.verdict == Verdict.RETRY:
                        after = now + self._retry_at(charge)
                        log.warning("refund_failed", charge_id=charge.id, error=error)
                        await self.context.write(
                            lambda repo: repo.back_off(
                                {charge.id: (after, error)},  # noqa: B023
                                internal=internal,  # noqa: B023
                            )
                        )
                        return
                    moved = await self.context.write(
                        lambda repo: self._settle(
                            repo,
                            charge,
                            fail=error,  # noqa: B023
                            internal=internal,  # noqa: B023
                        )
                    )
                    report_failed(
                        "refund", {charge.id: (charge.event_id, result.reason, error)}, moved
                    )
                    return
                kinds = await self._kinds([result])
                split = credit_split(result.allocations, kinds)

                async def done(
                    repo: RatingRepository,
                    request_id: str = str(part["ledger_request_id"]),
                    entry_id: str = result.entry_id,
                    split: CreditSplit = split,
                ) -> None:
                    # Two forwarders may book the same part (the ledger replays the second):
                    # only the one that records it counts its credit split.
                    if await repo.refund_part_done(request_id, entry_id):
                        await repo.add_split(charge.id, **split.as_dict())

                await self.context.write(done)
        except LedgerUnavailable as exc:
            error = exc.message
            log.warning("refund_failed", charge_id=charge.id, error=error)
            await self.context.write(
                lambda repo: repo.back_off({charge.id: (now + self._retry_at(charge), error)})
            )
            return
        await self.context.write(lambda repo: self._settle(repo, charge))

    async def _settle(
        self, repo: RatingRepository, charge: ChargeRow, fail: str = "", internal: bool = False
    ) -> set[int]:
        """A refund is done (or permanently refused): record it from the stored parts, not
        from the list read before the calls (another forwarder may have booked some). Returns
        the ids moved to FAILED."""
        moved: set[int] = set()
        if fail:
            moved = await repo.fail({charge.id: fail}, internal=internal)
        else:
            parts = await repo.refund_parts_of(charge.id)
            first = next((str(p["ledger_entry_id"]) for p in parts if p["ledger_entry_id"]), "")
            await repo.mark_acknowledged(charge.id, first)
        await repo.set_event_status([charge.event_id], "ACCEPTED")
        return moved

    async def run(self, stopping: asyncio.Event) -> None:
        """Forward until told to stop, while this process leads (`FORWARDER_LOCK`). Errors are
        logged and retried: nothing is lost, the charges stay PENDING in the database."""
        leadership = Leadership(self.context.engine, FORWARDER_LOCK)
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


def describe_row(c: ChargeRow) -> str:
    return describe(c.meter_description or c.meter_key, c.event_id)
