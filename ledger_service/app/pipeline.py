"""One write pipeline per process: concurrent writes of every caller and wallet share transactions.

A write (unary Debit, CreateHold, CaptureHold, ReleaseHold, RefundDebit, CreateGrant, VoidGrant)
joins one queue. While fewer than `in_flight` transactions run, a transaction starts at once with
everything waiting (at most `batch_max` operations), so an idle ledger never waits on a timer, and
a busy one books a wave of callers per transaction instead of one transaction each: group commit
across wallets. Each transaction (`LedgerApp.apply_group`) claims the request ids, locks the
wallets in id order, takes its time under the locks and applies the operations in arrival order;
each operation keeps its own result, idempotency and error.

Bounds: at most `queue_max` operations wait; one more is refused at once with RESOURCE_EXHAUSTED /
WRITE_QUEUE_FULL (nothing written; retry with the same request_id). Two operations with the same
`conflict_key` never share a transaction (the later one waits for the next). When a transaction
fails as a whole (the database unreachable, contention retries exhausted), each of its callers
gets that error and may retry with the same request_id.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import structlog

from billing_common.errors import BillingError, ResourceExhausted
from ledger_service import limits
from ledger_service.app.operations import Operation

# What waiting in the pipeline can raise (tests/unit/test_use_case_errors.py checks it).
RAISES = (ResourceExhausted,)

log = structlog.get_logger(__name__)

Result = bytes | BillingError
Waiter = tuple[Operation, "asyncio.Future[Result]"]


class WritePipeline:
    def __init__(
        self,
        run: Callable[[Sequence[Operation]], Awaitable[list[Result]]],
        queue_max: int = limits.WRITE_QUEUE_MAX,
        batch_max: int = limits.WRITE_BATCH_MAX,
        in_flight: int = limits.WRITE_TRANSACTIONS_IN_FLIGHT,
    ) -> None:
        self.run = run
        self.queue_max = queue_max
        self.batch_max = batch_max
        self.in_flight = in_flight
        self._queue: deque[Waiter] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        # Draining tasks, counted synchronously: a drain that found the queue empty has stopped
        # taking work before any caller can see it still counted.
        self._draining = 0
        self.transactions = 0  # committed or failed, for tests and metrics

    @property
    def waiting(self) -> int:
        return len(self._queue)

    async def submit(self, op: Operation) -> Result:
        """Book one operation in a transaction shared with the others waiting. Returns its encoded
        response or its own error."""
        if len(self._queue) >= self.queue_max:
            log.warning("write_queue_full", waiting=len(self._queue))
            raise ResourceExhausted(
                f"more than {self.queue_max} writes are waiting; retry shortly with the same "
                "request_id",
                reason="WRITE_QUEUE_FULL",
            )
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((op, future))
        if self._draining < self.in_flight:
            self._draining += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)  # keep a reference until it finishes
            task.add_done_callback(self._tasks.discard)
        # Shielded: a caller that goes away does not cancel a transaction other callers share.
        return await asyncio.shield(future)

    def _next_batch(self) -> list[Waiter]:
        batch: list[Waiter] = []
        keys: set[str] = set()
        deferred: list[Waiter] = []
        while self._queue and len(batch) < self.batch_max:
            waiter = self._queue.popleft()
            key = waiter[0].conflict_key
            if key is not None and key in keys:
                deferred.append(waiter)
                continue
            if key is not None:
                keys.add(key)
            batch.append(waiter)
        self._queue.extendleft(reversed(deferred))
        return batch

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._one(self._next_batch())
        finally:
            self._draining -= 1

    async def _one(self, batch: list[Waiter]) -> None:
        try:
            results = await self.run([op for op, _ in batch])
        except Exception as exc:  # the whole transaction failed: each caller hears it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        finally:
            self.transactions += 1
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
