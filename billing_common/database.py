"""Database bootstrap: a configured PostgreSQL URL, or an embedded server (pgserver) by default.

The embedded server keeps its data in a folder (logged on start) and is shared by both services:
each has its own database in it. pgserver stops the server when the last process using it exits.

This module is also the one boundary where the database driver's errors become ours: an engine made
by `create_engine` turns every error that means "the database is not reachable right now" (a
restart, a killed connection, a server starting up or shutting down, too many connections) into
`Unavailable`, which callers retry with the same request_id. Everything else stays as it is.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import re
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import psutil
import structlog
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from billing_common.errors import Unavailable

log = structlog.get_logger(__name__)

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def embedded_server_uri(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL in data_dir and return its libpq URI.

    pgserver counts its users (process ids in the data folder) and the last one to exit stops the
    server. A user killed with SIGKILL never removes itself, so the server would outlive every
    later user: dead users are forgotten before we join (so a running server is adopted) and
    again when we leave (so the last live user does stop it)."""
    # Imported lazily: only the embedded mode needs it.
    from pgserver.postgres_server import get_server

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _forget_dead_users(data_dir)
    server = get_server(data_dir, cleanup_mode="stop")
    # atexit runs hooks last-registered first: this one before pgserver's own clean-up.
    atexit.register(_forget_dead_users, data_dir)
    uri: str = server.get_uri()
    log.info("embedded_postgres_started", data_dir=str(data_dir), uri=uri)
    return uri


def _forget_dead_users(data_dir: Path) -> None:
    """Drop the processes that no longer run from pgserver's list of the server's users."""
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import DiskList

    with PostgresServer._lock:  # the lock pgserver holds while it reads and writes the list
        users = DiskList(data_dir / ".handle_pids.json")
        pids = users.get()
        alive = [pid for pid in pids if _running(pid)]
        if alive != pids:
            users.put(alive)
            log.warning(
                "embedded_postgres_dead_users_forgotten",
                data_dir=str(data_dir),
                pids=sorted(set(pids) - set(alive)),
            )


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


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


# SQLSTATEs that mean the server cannot serve us now but may shortly: connection exceptions
# (class 08), admin/crash shutdown and "cannot connect now" (starting up, shutting down, in
# recovery), too many connections.
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08"})
TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
# Seconds a call waits for a free pooled connection before it is UNAVAILABLE.
POOL_TIMEOUT_S = 30.0


def _sqlstate(error: BaseException) -> str | None:
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return code if isinstance(code, str) else None


def is_transient(exc: BaseException) -> bool:
    """Whether an error means "the database is unreachable for now" (retry later), as opposed to
    a bug or an answer. Looks through SQLAlchemy's wrapper and the driver's error it adapts."""
    if isinstance(exc, (Unavailable, sa_exc.TimeoutError)):  # TimeoutError: no pooled connection
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or isinstance(
            exc, (sa_exc.OperationalError, sa_exc.InterfaceError)
        ):
            return True
        causes: list[BaseException] = [exc.orig] if exc.orig is not None else []
    else:
        causes = [exc]
    seen: set[int] = set()
    while causes:
        error = causes.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(
            error,
            (
                OSError,  # ConnectionError, socket gone, connection refused, reset
                TimeoutError,
                asyncpg.exceptions.PostgresConnectionError,
                asyncpg.exceptions.InterfaceError,  # "connection is closed"
                # A connection left mid-protocol ("another operation is in progress"): unusable,
                # dropped; the call is retried on another.
                asyncpg.exceptions.InternalClientError,
            ),
        ):
            return True
        code = _sqlstate(error)
        if code in TRANSIENT_SQLSTATES or (code or "")[:2] in TRANSIENT_SQLSTATE_CLASSES:
            return True
        # The SQLAlchemy adapter's exception wraps the driver's as its cause.
        causes += [c for c in (error.__cause__, error.__context__) if c is not None]
    return False


def unavailable() -> Unavailable:
    return Unavailable("the database is unavailable; retry with the same request_id")


def _map_transient(context: ExceptionContext) -> BaseException | None:
    """SQLAlchemy's handle_error hook: a transient error becomes Unavailable (chained to the
    original). A failed pre-ping is left alone: the pool then reconnects by itself."""
    if context.is_pre_ping:
        return None
    error = context.sqlalchemy_exception or context.original_exception
    if is_transient(error) or context.is_disconnect:
        return unavailable()
    return None


def create_engine(
    uri: str, *, pool_size: int, max_overflow: int = 0, pre_ping: bool = True
) -> AsyncEngine:
    """A bounded connection pool; transient failures surface as Unavailable (see the module's
    docstring). With `pre_ping` every connection is pinged as it is taken from the pool (three
    round trips), so one that died while idle (a restarted server) is replaced; without it the
    caller must replace a connection found dead at its first round trip itself (the ledger's unit
    of work does: ledger_service/adapters/db/unit_of_work.py)."""
    engine = create_async_engine(
        sqlalchemy_url(uri),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=pre_ping,
        pool_timeout=POOL_TIMEOUT_S,
    )
    event.listen(engine.sync_engine, "handle_error", _map_transient)
    return engine
