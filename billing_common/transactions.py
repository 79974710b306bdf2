"""Transactions that retry on deadlocks and serialization failures, so callers never see them:
when the retries run out the answer is Unavailable (retry later), never an internal error."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import structlog
from sqlalchemy.exc import DBAPIError

from billing_common.errors import Unavailable

log = structlog.get_logger(__name__)

T = TypeVar("T")

# SQLSTATEs worth retrying: deadlock_detected, serialization_failure.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})
RETRIES_MAX = 8


# Errors of a statement: through SQLAlchemy, or straight from asyncpg (the ledger's hot path).
StatementError = (DBAPIError, asyncpg.PostgresError)


def sqlstate(exc: BaseException) -> str | None:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def retryable(exc: BaseException) -> bool:
    return isinstance(exc, StatementError) and sqlstate(exc) in RETRY_SQLSTATES


async def retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run one transaction attempt, again (with jittered, growing backoff) when it fails with a
    deadlock or serialization failure, at most RETRIES_MAX times."""
    for n in range(RETRIES_MAX):
        try:
            return await attempt()
        except StatementError as exc:
            if not retryable(exc):
                raise
            if n == RETRIES_MAX - 1:
                log.warning("transaction_retries_exhausted", sqlstate=sqlstate(exc))
                raise Unavailable(
                    "the database is busy (contention); retry with the same request_id"
                ) from exc
            log.info("transaction_retry", attempt=n, sqlstate=sqlstate(exc))
            await asyncio.sleep(random.uniform(0, 0.005 * 2**n))
    raise AssertionError("unreachable")
