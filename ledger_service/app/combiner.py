"""Group commit for unary debits: concurrent Debit calls to the same wallet share transactions.

Every debit of a wallet locks the wallet's row, so concurrent debits to one hot wallet run one
transaction after another. Instead, while a transaction for a wallet is running, the debits that
arrive for it wait in its queue, and the next transaction takes all of them at once (at most
BATCH_MAX) through `LedgerApp.debit_batch`, which books them in arrival order and keeps each one's
own result: idempotency by request_id, refusals and errors stay per debit. A hot wallet then costs
one transaction per wave of callers rather than one per call.

Each wallet's queue is bounded (`limits.COMBINER_QUEUE_MAX` by default): a debit that finds it
full is refused at once with RESOURCE_EXHAUSTED / WALLET_QUEUE_FULL (nothing written; retry with
the same request_id), so a flood of callers cannot grow memory without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from billing_common.errors import BillingError, ResourceExhausted
from ledger_service import limits

if TYPE_CHECKING:
    from ledger_service.adapters.db.repository import StoredEntry
    from ledger_service.app import commands as cmd
    from ledger_service.app.service import LedgerApp

BATCH_MAX = limits.DEBIT_BATCH_MAX
log = structlog.get_logger(__name__)

Result = bytes | BillingError
Waiter = tuple["cmd.Debit", "asyncio.Future[Result]"]


class DebitCombiner:
    def __init__(
        self,
        app: LedgerApp,
        encode: Callable[[StoredEntry], bytes],
        queue_max: int = limits.COMBINER_QUEUE_MAX,
    ) -> None:
        self.app = app
        self.encode = encode
        self.queue_max = queue_max
        self._queues: dict[str, list[Waiter]] = {}
        self._drains: set[asyncio.Task[None]] = set()

    async def debit(self, command: cmd.Debit) -> Result:
        """Book one debit, in a transaction shared with other debits of its wallet that arrive
        meanwhile. Returns the encoded DebitResponse or the debit's own error."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(command.wallet_id)
        if queue is not None:  # a transaction for this wallet is running: join the next one
            if len(queue) >= self.queue_max:
                log.warning("combiner_queue_full", wallet_id=command.wallet_id, waiting=len(queue))
                raise ResourceExhausted(
                    f"more than {self.queue_max} debits of wallet {command.wallet_id!r} are "
                    "waiting; retry shortly with the same request_id",
                    reason="WALLET_QUEUE_FULL",
                )
            queue.append((command, future))
            return await asyncio.shield(future)
        self._queues[command.wallet_id] = [(command, future)]
        task = asyncio.create_task(self._drain(command.wallet_id))
        self._drains.add(task)  # keep a reference until it finishes
        task.add_done_callback(self._drains.discard)
        return await asyncio.shield(future)

    async def _drain(self, wallet_id: str) -> None:
        queue = self._queues[wallet_id]
        try:
            while queue:
                batch = queue[:BATCH_MAX]
                del queue[:BATCH_MAX]
                try:
                    results = await self.app.debit_batch([c for c, _ in batch], self.encode)
                except Exception as exc:  # the whole transaction failed: each caller hears it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            del self._queues[wallet_id]
