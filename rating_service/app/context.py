"""What every rating use case works with: storage (`uow`, the port of app/stores.py: one
transaction per call, retried on deadlock or serialization failure), the clock and the ledger.
The use cases share one Context, built in main.py; none of them holds another.

Responses of mutating calls are encoded by a caller-supplied function inside the transaction and
stored with the request_id, so a replay returns the original bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from billing_common.clock import Clock
from billing_common.errors import RequestIdConflict
from rating_service.app import commands as cmd
from rating_service.app.ports import LedgerPort
from rating_service.app.records import Claim
from rating_service.app.stores import RatingStore, UnitOfWork
from rating_service.domain.errors import RequestInProgress

# What claiming a request id can raise (tests/unit/test_use_case_errors.py checks every RAISES).
RAISES = (RequestIdConflict, RequestInProgress)

T = TypeVar("T")


def check_replay(claim: Claim, idem: cmd.Idem) -> bytes:
    """The stored answer for a request_id claimed before, or why there is none."""
    if claim.method != idem.method or claim.fingerprint != idem.fingerprint:
        raise RequestIdConflict(
            f"request_id {idem.request_id!r} was used before with a different request"
        )
    if claim.response is None:
        # Only a synchronous ingest commits its claim before its work (see Ingest.ingest_sync).
        raise RequestInProgress(
            f"request_id {idem.request_id!r} is still being processed; retry with the same "
            "request_id shortly"
        )
    return claim.response


class Context:
    def __init__(self, uow: UnitOfWork, clock: Clock, ledger: LedgerPort) -> None:
        self.uow = uow
        self.clock = clock
        # Shared by every use case: replacing it (a test's recording ledger) reaches them all.
        self.ledger = ledger

    async def write(self, work: Callable[[RatingStore], Awaitable[T]]) -> T:
        """One transaction, retried on deadlock or serialization failure."""
        return await self.uow.write(work)

    async def read(self, work: Callable[[RatingStore], Awaitable[T]]) -> T:
        return await self.uow.read(work)

    async def idempotent(
        self, idem: cmd.Idem, work: Callable[[RatingStore], Awaitable[bytes]]
    ) -> bytes:
        """Claim the request id, do the work and store its response, all in one transaction.
        A BillingError rolls everything back, the claim included."""

        async def run(repo: RatingStore) -> bytes:
            claim = await repo.claim(
                idem.request_id, idem.method, idem.fingerprint, self.clock.now()
            )
            if not claim.claimed:
                return check_replay(claim, idem)
            response = await work(repo)
            await repo.store_response(idem.request_id, response)
            return response

        return await self.write(run)
