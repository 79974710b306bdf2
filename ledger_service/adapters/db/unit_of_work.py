"""The ledger's unit of work on PostgreSQL: transactions and reads over a bounded pool, handing
the use cases a `LedgerRepository` (the `LedgerStore` port).

The pool does not ping a connection before handing it out (that cost three round trips a
transaction). A connection whose server process went away while it sat idle in the pool (a
restart, an idle timeout, `pg_terminate_backend`) is found dead at its first round trip instead,
and the work runs once more on a fresh connection:

- a write, when the connection fails at `BEGIN`, its first round trip: nothing of the
  transaction reached the server. (Even a failure at a later statement before `COMMIT` would
  commit nothing, the idempotency claims being written in the same transaction; but a connection
  lost mid-transaction means the server is going away, and the caller's retry covers it.)
- a read, when the connection fails at any statement: a read writes nothing.

A failure at `COMMIT` is never run again here: whether it committed is unknown. The answer stays
UNAVAILABLE, and the caller's retry with the same request_id is safe (a committed write replays
its stored response, an uncommitted one is booked then).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import asyncpg
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing_common import database, transactions
from billing_common.errors import BillingError, Unavailable
from ledger_service.adapters.db.event_horizon import Horizon
from ledger_service.adapters.db.repository import LedgerRepository
from ledger_service.adapters.db.webhooks import WebhookRepository
from ledger_service.app.ports import LedgerStore

log = structlog.get_logger(__name__)

T = TypeVar("T")

# What a connection that died while idle raises at its next round trip (through SQLAlchemy's
# adapter, as the cause of its own error class).
_DEAD = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,  # "connection is closed"
    asyncpg.exceptions.InternalClientError,  # left mid-protocol
    OSError,  # the socket reset or gone
)


def _found_dead(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps) says the connection itself is gone."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        error = todo.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, _DEAD):
            return True
        todo += [c for c in (error.__cause__, error.__context__) if c is not None]
    return False


class _DeadOnArrival(Exception):
    """The connection taken from the pool was dead at its first round trip (already dropped):
    nothing of the work reached the server; run it again on another."""


@contextlib.asynccontextmanager
async def _transient_unavailable(conn: AsyncConnection | None = None) -> AsyncIterator[None]:
    """The hot path's statements go to asyncpg directly, past SQLAlchemy's error hook: the same
    rule for them (the database unreachable now is UNAVAILABLE, retried by the caller with the
    same request_id), and the connection is dropped from the pool, as SQLAlchemy drops one that
    failed under it."""
    try:
        yield
    except _DeadOnArrival:
        raise  # run again on a fresh connection (the dead one is dropped already)
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


@contextlib.asynccontextmanager
async def _dead_on_arrival(conn: AsyncConnection, fresh_if_dead: bool) -> AsyncIterator[None]:
    """Inside: round trips that, if the connection is found dead there, may run again on another
    (`_DeadOnArrival`, the connection dropped); with `fresh_if_dead` False the error stays."""
    try:
        yield
    except Exception as exc:
        if not (fresh_if_dead and _found_dead(exc)):
            raise
        await _drop(conn)
        raise _DeadOnArrival from exc


async def _drop(conn: AsyncConnection | None) -> None:
    if conn is not None and not conn.invalidated:
        await conn.invalidate()


class SqlUnitOfWork:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._horizon = Horizon()

    async def write(self, work: Callable[[LedgerStore], Awaitable[T]]) -> T:
        async def attempt(fresh_if_dead: bool) -> T:
            async with self.engine.begin() as conn, _transient_unavailable(conn):
                repo = LedgerRepository(conn)
                async with _dead_on_arrival(conn, fresh_if_dead):
                    await repo.begin()  # BEGIN: the first round trip, nothing else sent yet
                return await work(repo)

        return await transactions.retrying(lambda: _once_more_if_dead(attempt))

    async def read(self, work: Callable[[LedgerStore], Awaitable[T]]) -> T:
        async def attempt(fresh_if_dead: bool) -> T:
            async with (
                self.engine.connect() as conn,
                _transient_unavailable(conn),
                _dead_on_arrival(conn, fresh_if_dead),  # a read writes nothing: any statement
            ):
                return await work(LedgerRepository(conn))

        return await _once_more_if_dead(attempt)

    async def settled_event_seq(self) -> int | None:
        """One poll of the settled horizon, from PostgreSQL's snapshots, taking no lock
        (`event_horizon.py`); the pending snapshots it waits on are this adapter's state."""

        async def attempt(fresh_if_dead: bool) -> Horizon:
            async with (
                self.engine.connect() as conn,
                _transient_unavailable(conn),
                _dead_on_arrival(conn, fresh_if_dead),
            ):
                return await WebhookRepository(conn).settled_event_seq(self._horizon)

        self._horizon = await _once_more_if_dead(attempt)
        return self._horizon.settled


async def _once_more_if_dead(attempt: Callable[[bool], Awaitable[T]]) -> T:
    """`attempt(True)`; if its connection was found dead on arrival, `attempt(False)` on another
    (a second dead one is UNAVAILABLE: the database is likely down)."""
    try:
        return await attempt(True)
    except _DeadOnArrival:
        log.info("pooled_connection_found_dead")
        return await attempt(False)
