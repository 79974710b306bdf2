"""The ledger's unit of work on PostgreSQL: transactions and reads over a bounded pool, handing
the use cases a `LedgerRepository` (the `LedgerStore` port)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing_common import database, transactions
from billing_common.errors import BillingError, Unavailable
from ledger_service.adapters.db.event_horizon import Horizon
from ledger_service.adapters.db.repository import LedgerRepository
from ledger_service.adapters.db.webhooks import WebhookRepository
from ledger_service.app.ports import LedgerStore

T = TypeVar("T")


@contextlib.asynccontextmanager
async def _transient_unavailable(conn: AsyncConnection | None = None) -> AsyncIterator[None]:
    """The hot path's statements go to asyncpg directly, past SQLAlchemy's error hook: the same
    rule for them (the database unreachable now is UNAVAILABLE, retried by the caller with the
    same request_id), and the connection is dropped from the pool, as SQLAlchemy drops one that
    failed under it."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        if transactions.retryable(exc) or not database.is_transient(exc):
            raise  # contention is retried by `retrying`; anything else is what it is
        await _drop(conn)
        raise database.unavailable() from exc
    except (OSError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError) as exc:
        await _drop(conn)
        raise database.unavailable() from exc
    except Unavailable:
        await _drop(conn)
        raise
    except BillingError:
        raise  # an answer (a refusal), not a fault of the connection
    except Exception as exc:
        # The SQLAlchemy adapter raises its own classes for driver errors outside a statement
        # (beginning the transaction the hot path joins): the same rule through their cause.
        if not database.is_transient(exc):
            raise
        await _drop(conn)
        raise database.unavailable() from exc
    except asyncio.CancelledError:
        # A statement interrupted half-way leaves its connection mid-protocol: never reuse it.
        await _drop(conn)
        raise


async def _drop(conn: AsyncConnection | None) -> None:
    if conn is not None and not conn.invalidated:
        await conn.invalidate()


class SqlUnitOfWork:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._horizon = Horizon()

    async def write(self, work: Callable[[LedgerStore], Awaitable[T]]) -> T:
        async def attempt() -> T:
            async with self.engine.begin() as conn, _transient_unavailable(conn):
                return await work(LedgerRepository(conn))

        return await transactions.retrying(attempt)

    async def read(self, work: Callable[[LedgerStore], Awaitable[T]]) -> T:
        async with self.engine.connect() as conn, _transient_unavailable(conn):
            return await work(LedgerRepository(conn))

    async def settled_event_seq(self) -> int | None:
        """One poll of the settled horizon, from PostgreSQL's snapshots, taking no lock
        (`event_horizon.py`); the pending snapshots it waits on are this adapter's state."""
        async with self.engine.connect() as conn, _transient_unavailable(conn):
            self._horizon = await WebhookRepository(conn).settled_event_seq(self._horizon)
        return self._horizon.settled
