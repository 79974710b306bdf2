"""Synchronous ingest's sessions on PostgreSQL (the `SyncSessions` port, app/stores.py): one
pooled connection per request, its stages committed on it, and what it gives back on every path:
the aggregate locks of an event, the session locks of the request, its claim. A connection that
may still hold session locks is thrown away rather than pooled."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing_common.transactions import RETRIES_MAX, retryable
from rating_service.adapters.db.leadership import discard
from rating_service.adapters.db.repository import RatingRepository

T = TypeVar("T")


class SqlSyncSessions:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def open(self) -> AsyncIterator[SqlSyncSession]:
        async with self.engine.connect() as conn:
            try:
                yield SqlSyncSession(conn)
            finally:
                await end_session(conn)


class SqlSyncSession:
    """A synchronous request's connection, with the repository that tracks its aggregate locks."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.repo = RatingRepository(conn)

    @asynccontextmanager
    async def stage(self) -> AsyncIterator[RatingRepository]:
        async with self.conn.begin():
            yield self.repo

    async def write(self, work: Callable[[RatingRepository], Awaitable[T]]) -> T:
        for attempt in range(RETRIES_MAX):
            try:
                async with self.conn.begin():
                    return await work(self.repo)
            except DBAPIError as exc:
                if not retryable(exc) or attempt == RETRIES_MAX - 1:
                    raise
                await self.repo.unlock_aggregates()
                await self.conn.commit()
        raise AssertionError("unreachable")

    async def end_event(self) -> None:
        await end_event(self.repo)

    async def release_claim(self, request_id: str) -> None:
        await release_claim(self.repo, request_id)


async def end_event(repo: RatingRepository) -> None:
    """Give back the aggregate locks a synchronous event took, on every path (its request's own
    lock stays). Whatever is still open is rolled back first: after an error the transaction may
    be invalid (a connection the database dropped, by a restart or a terminated backend, answers
    every later statement with PendingRollbackError, which is no answer to give a caller). A
    dropped session has nothing to unlock: session advisory locks die with it, and the request
    ends with the error that dropped it (UNAVAILABLE)."""
    conn = repo.conn
    try:
        await conn.rollback()
        if conn.invalidated:
            return
        await repo.unlock_aggregates()
        await conn.commit()
    except BaseException:
        await discard(conn)
        raise


async def end_session(conn: AsyncConnection) -> None:
    """Give back every session lock of a synchronous request (`end_event` first). If that
    fails, the connection is invalidated (closed, not pooled), so a session still holding locks
    never serves anyone else."""
    try:
        await conn.rollback()
        if conn.invalidated:
            return
        await RatingRepository(conn).unlock_all()
        await conn.commit()
    except BaseException:
        await discard(conn)
        raise


async def release_claim(repo: RatingRepository, request_id: str) -> None:
    """Give up a synchronous request's claim on its own connection, only while that session
    (and so its request lock) is alive: a claim whose holder died is taken over by a retry
    anyway, and one released by a stale holder could be a retry's."""
    conn = repo.conn
    await conn.rollback()
    if conn.invalidated:
        return
    async with conn.begin():
        await repo.release_claim(request_id)
