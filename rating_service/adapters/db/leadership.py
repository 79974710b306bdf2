"""Leadership: work only one process may do at a time (the forwarder)."""

from __future__ import annotations

import contextlib

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger(__name__)


class Leadership:
    """A session-level advisory lock held on a connection of its own, for work only one process
    may do at a time (the forwarder). It lives as long as the session: a crash or a lost
    connection ends it at once, and another process takes it over."""

    def __init__(self, engine: AsyncEngine, key: int) -> None:
        self.engine = engine
        self.key = key
        self.conn: AsyncConnection | None = None

    async def held(self) -> bool:
        """Whether we hold the lock now: checked with a round trip on our connection (alive,
        the lock is still ours), else asked for again. False while another process holds it."""
        if self.conn is not None:
            try:
                await self.conn.execute(select(1))
                await self.conn.commit()
                return True
            except Exception:
                log.warning("leadership_lost", key=self.key)
                await self.release()
        conn = await self.engine.connect()
        try:
            got = (await conn.execute(select(func.pg_try_advisory_lock(self.key)))).scalar()
            await conn.commit()
        except BaseException:
            await discard(conn)
            raise
        if not got:
            await conn.close()
            return False
        log.info("leadership_taken", key=self.key)
        self.conn = conn
        return True

    async def release(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            await discard(conn)


async def discard(conn: AsyncConnection) -> None:
    """Close a connection without returning it to the pool: its session ends, and with it any
    session-level advisory lock it held."""
    with contextlib.suppress(Exception):
        await conn.invalidate()
    with contextlib.suppress(Exception):
        await conn.close()
