"""Database bootstrap: a configured PostgreSQL URL, or an embedded server (pgserver) by default.

The embedded server keeps its data in a folder (logged on start) and is shared by both services:
each has its own database in it. pgserver stops the server when the last process using it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = structlog.get_logger(__name__)

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def embedded_server_uri(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL in data_dir and return its libpq URI."""
    import pgserver  # imported lazily: only the embedded mode needs it

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    uri: str = server.get_uri()
    log.info("embedded_postgres_started", data_dir=str(data_dir), uri=uri)
    return uri


def with_database(uri: str, database: str) -> str:
    """The same server URI pointing at another database."""
    parts = urlsplit(uri)
    return parts._replace(path="/" + database).geturl()


def sqlalchemy_url(uri: str) -> str:
    """libpq URI to the SQLAlchemy asyncpg dialect URL."""
    scheme, rest = uri.split("://", 1)
    if scheme not in ("postgresql", "postgres", "postgresql+asyncpg"):
        raise ValueError(f"unsupported database URL scheme {scheme!r}")
    return "postgresql+asyncpg://" + rest


async def ensure_database(server_uri: str, database: str) -> None:
    """Create `database` on the server if it does not exist (embedded mode and tests)."""
    if not _NAME.fullmatch(database):
        raise ValueError(f"bad database name {database!r}")
    conn = await asyncpg.connect(with_database(server_uri, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            # Another process may create it meanwhile.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def service_database_uri(database_url: str, data_dir: Path, database_name: str) -> str:
    """A service database's libpq URI: the configured URL, or its database in the embedded
    server (started or joined, and the database created, on first use)."""
    if database_url:
        return database_url
    server = await asyncio.to_thread(embedded_server_uri, data_dir)
    await ensure_database(server, database_name)
    return with_database(server, database_name)


def create_engine(uri: str, *, pool_size: int, max_overflow: int = 0) -> AsyncEngine:
    """A bounded connection pool. Connections are pre-pinged so a restarted server is survived."""
    return create_async_engine(
        sqlalchemy_url(uri),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_timeout=30,
    )
