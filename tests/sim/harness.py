"""The simulator's plumbing: a PostgreSQL server it may restart, one migrated database per worker,
the ledger wired as `ledger_service.main` wires it (in-process, no network), a fake clock that
moves on every read, and calls into the servicer that come back as a code and a reason, exactly as
a gRPC caller would see them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import asyncpg
import grpc
from billing.ledger.v1 import ledger_pb2
from google.protobuf import message_factory
from google.rpc import error_details_pb2, status_pb2
from sqlalchemy.exc import DBAPIError

from billing_common import database
from billing_common.clock import FakeClock
from billing_common.errors import Unavailable
from ledger_service import main as ledger_main
from ledger_service.adapters.db.migrate import upgrade_async
from ledger_service.adapters.grpc.servicer import LedgerServicer
from ledger_service.config import LedgerSettings
from rating_service import main as rating_main
from rating_service.adapters.db.migrate import upgrade_async as upgrade_rating
from rating_service.adapters.grpc.servicer import RatingServicer
from rating_service.config import RatingSettings
from tests.support.channels import admin_key, admin_key_file
from tests.support.tls import rating_settings, server_settings
from tests.support.webhooks import TEST_SECRETS_KEY

T = TypeVar("T")
ADMIN_ATTEMPTS_MAX = 5  # of a worker database step cut by another worker's restart

# Every clock read moves time on by up to this much (seeded): two reads are never equal, as in
# real time, so a time read before a lock is older than one read after it.
CLOCK_STEP_MAX = timedelta(milliseconds=20)
LEDGER_SERVICE = ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"]
POOL_SIZE = 6


class SimClock(FakeClock):
    """A fake clock that advances on every read by a small seeded amount; `jump` for big moves."""

    def __init__(self, start: datetime, rng: random.Random) -> None:
        super().__init__(start)
        self._rng = rng
        self._step_us = int(CLOCK_STEP_MAX / timedelta(microseconds=1))

    def now(self) -> datetime:
        self._now += timedelta(microseconds=self._rng.randint(1, self._step_us))
        return self._now

    def peek(self) -> datetime:
        """The current time without moving it (for the simulator's own bookkeeping)."""
        return self._now


def database_name(uri: str) -> str:
    """The database a libpq URI names (its path; the query may hold a socket directory)."""
    return urlsplit(uri).path.lstrip("/")


class RpcFailure(Exception):
    """A call that ended with a non-OK status, as a gRPC client would see it."""

    def __init__(self, code: grpc.StatusCode, reason: str, message: str) -> None:
        super().__init__(f"{code.name} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message


class _Context:
    """The part of grpc.aio.ServicerContext the servicer's unary handlers use."""

    async def abort_with_status(self, status: grpc.Status) -> None:
        reason = ""
        for key, value in status.trailing_metadata or ():
            if key == "grpc-status-details-bin":
                for detail in status_pb2.Status.FromString(value).details:
                    info = error_details_pb2.ErrorInfo()
                    if detail.Unpack(info):
                        reason = info.reason
        raise RpcFailure(status.code, reason, status.details)


class UpFlag(Protocol):
    """threading.Event, or multiprocessing's Event when worker processes share the server."""

    def is_set(self) -> bool: ...
    def set(self) -> None: ...
    def clear(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class Database:
    """A PostgreSQL server: the simulator's own embedded one (which it may restart, also from
    worker processes), or the one TEST_DATABASE_URL names (never restarted)."""

    def __init__(
        self,
        server_uri: str,
        pgdata: str = "",
        pg_user: str | None = None,
        up: UpFlag | None = None,
        restart_lock: Any = None,
    ) -> None:
        self.server_uri = server_uri
        self.pgdata = pgdata
        self.pg_user = pg_user
        # Set while the server runs; cleared by whoever restarts it (shared by worker processes).
        self.up: UpFlag = up if up is not None else threading.Event()
        if up is None:
            self.up.set()
        self.restart_lock = restart_lock if restart_lock is not None else threading.Lock()
        self._owned: Any = None

    @classmethod
    def start(cls) -> Database:
        configured = os.environ.get("TEST_DATABASE_URL")
        if configured:
            return cls(configured)
        import pgserver

        data_dir = Path(tempfile.mkdtemp(prefix="billing-sim-pg-"))
        pg = pgserver.get_server(data_dir, cleanup_mode="delete")
        db = cls(str(pg.get_uri()), str(pg.pgdata), pg.system_user)
        db._owned = (pg, data_dir)
        return db

    @property
    def can_restart(self) -> bool:
        return bool(self.pgdata)

    async def restart(self) -> None:
        """Stop the server fast (open transactions roll back, connections drop) and start it."""
        from pgserver._commands import pg_ctl

        # One restart at a time on the server, whichever worker process asks for it.
        await asyncio.to_thread(self.restart_lock.acquire)
        self.up.clear()
        try:
            await asyncio.to_thread(
                pg_ctl,
                ["-w", "-m", "fast", "restart"],
                pgdata=Path(self.pgdata),
                user=self.pg_user,
            )
        finally:
            self.up.set()
            self.restart_lock.release()

    async def ready(self) -> None:
        """Wait until no restart is under way (the restarting process sets `up` again once
        `pg_ctl -w` says the server accepts connections): a condition, not a polling sleep."""
        if not self.up.is_set() and not await asyncio.to_thread(self.up.wait, 120.0):
            raise TimeoutError("PostgreSQL did not come back within 120 s")

    async def through_restarts(self, work: Callable[[], Awaitable[T]]) -> T:
        """An administrative step of the simulator itself (a worker database created or dropped)
        that another worker's restart may cut: wait for the restart to end and do it again, a
        bounded number of times. The service's own calls never come here."""
        for attempt in range(ADMIN_ATTEMPTS_MAX):
            await self.ready()
            try:
                return await work()
            except (
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                asyncpg.InternalClientError,  # a connection a restart cut mid-protocol
                DBAPIError,
                OSError,
                Unavailable,
            ):
                if attempt == ADMIN_ATTEMPTS_MAX - 1:
                    raise
        raise AssertionError("unreachable")

    async def new_worker_database(self) -> str:
        return await self.through_restarts(self._new_worker_database)

    async def _new_worker_database(self) -> str:
        """A fresh migrated database for one worker: its seeds share it, each on fresh wallets."""
        name = f"sim_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        await database.ensure_database(self.server_uri, name)
        uri = database.with_database(self.server_uri, name)
        conn = await asyncpg.connect(uri)
        try:
            await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        finally:
            await conn.close()
        await upgrade_async(uri)
        return uri

    async def drop_database(self, uri: str) -> None:
        name = database_name(uri)

        async def drop() -> None:
            conn = await asyncpg.connect(database.with_database(self.server_uri, "postgres"))
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        await self.through_restarts(drop)

    def close(self) -> None:
        if self._owned is not None:
            pg, data_dir = self._owned
            # pgserver stops the postmaster it started; after a restart that is another process,
            # which it would leave running: stop that one here.
            from pgserver._commands import pg_ctl

            started = getattr(pg, "_postmaster_info", None)
            if started is not None and not started.process.is_running():
                with contextlib.suppress(Exception):
                    pg_ctl(
                        ["-w", "-m", "fast", "stop"], pgdata=Path(self.pgdata), user=self.pg_user
                    )
            pg.cleanup()
            shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class Service:
    """One in-process ledger on `uri`: the app and servicer as `ledger_service.main.build` wires
    them (the gRPC server it builds is never started)."""

    ledger: ledger_main.Ledger
    servicer: LedgerServicer

    @classmethod
    async def start(cls, uri: str, clock: SimClock, port: int) -> Service:
        """Wired and serving gRPC on `port` (the rating service reaches it there; a service
        rebuilt after a kill serves on the same port)."""
        admin_key()  # writes the session's admin key file, which the services read
        # The ledger's key for webhook secrets at rest (a configured database needs one; the
        # tests' conftest sets the same, but the simulator also runs outside pytest).
        os.environ.setdefault("LEDGER_SECRETS_KEY", TEST_SECRETS_KEY)
        settings = LedgerSettings(
            admin_key_file=admin_key_file(),
            database_url=uri,
            listen=f"127.0.0.1:{port}",
            migrate=False,
            pool_size=POOL_SIZE,
            sweep_interval_s=0,
            webhook_interval_s=0,
            **server_settings(),
        )
        ledger = await ledger_main.build(settings, clock)
        await ledger.server.start()
        return cls(ledger, ledger.servicer)

    async def call(self, method: str, request: Any) -> Any:
        """The response a client gets: writes answer with their encoded bytes (encoded once,
        see `billing_common.grpc_handlers.add_servicer`), decoded here as gRPC would."""
        response = await getattr(self.servicer, method)(request, _Context())
        if isinstance(response, bytes):
            output = LEDGER_SERVICE.methods_by_name[method].output_type
            return message_factory.GetMessageClass(output).FromString(response)
        return response

    async def kill(self) -> None:
        """Die as a process would: in-flight group commits are cancelled, connections closed."""
        drains = list(self.servicer.app.pipeline._tasks)
        for task in drains:
            task.cancel()
        await asyncio.gather(*drains, return_exceptions=True)
        await self.ledger.close()


async def terminate_backends(uri: str, *, only_one: random.Random | None = None) -> int:
    """pg_terminate_backend on the database's other connections (all, or one chosen by the rng
    among those busy in a transaction), from a side connection. Returns how many were ended."""
    name = database_name(uri)
    try:
        return await _terminate(uri, name, only_one)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError):
        # The server is restarting (another worker's fault): it ends them itself. A restart cut
        # mid-statement can leave asyncpg's protocol in a state it reports as its own error.
        return 0


async def _terminate(uri: str, name: str, only_one: random.Random | None) -> int:
    conn = await asyncpg.connect(uri)
    try:
        rows = await conn.fetch(
            "SELECT pid, state FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
            " AND application_name <> $2 ORDER BY pid",
            name,
            CHECKS_APP,
        )
        pids = [r["pid"] for r in rows]
        if only_one is not None:
            busy = [r["pid"] for r in rows if r["state"] in ("active", "idle in transaction")]
            pids = [only_one.choice(busy)] if busy else []
        for pid in pids:
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
        return len(pids)
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RatingService:
    """One in-process rating service on its own database, wired as `rating_service.main.build`
    wires it, reaching the worker's ledger over real gRPC with its real ledger client. Its
    forwarder is driven by the seeds (one delivery round at a time, as one forwarder loop per
    process runs)."""

    rating: rating_main.Rating
    servicer: RatingServicer
    uri: str
    forwarding: asyncio.Lock
    _side: asyncpg.Connection | None = None

    @classmethod
    async def start(cls, db: Database, clock: SwitchableClock, ledger_port: int) -> RatingService:
        uri = await db.through_restarts(lambda: _new_rating_database(db.server_uri))
        admin_key()  # the rating service's credential for the ledger must exist before it starts
        settings = RatingSettings(
            admin_key_file=admin_key_file(),
            ledger_api_key_file=admin_key_file(),
            database_url=uri,
            listen="127.0.0.1:0",
            ledger_target=f"127.0.0.1:{ledger_port}",
            migrate=False,
            forward=False,
            pool_size=POOL_SIZE,
            page_token_secret="sim-" + "s" * 40,
            **rating_settings(),
        )
        rating = await rating_main.build(settings, clock)  # type: ignore[arg-type]
        return cls(rating, rating.servicer, uri, asyncio.Lock())

    async def call(self, method: str, request: Any) -> Any:
        return await getattr(self.servicer, method)(request, _Context())

    async def forward_once(self) -> int:
        async with self.forwarding:
            return await self.rating.forwarder.run_once()

    async def side(self) -> asyncpg.Connection:
        """The checks' own connection to the rating database."""
        if self._side is None or self._side.is_closed():
            self._side = await asyncpg.connect(
                self.uri, server_settings={"application_name": CHECKS_APP}
            )
        return self._side

    def drop_side(self) -> None:
        """Forget the side connection (after a database restart ended it)."""
        if self._side is not None:
            self._side.terminate()
            self._side = None

    async def close(self, db: Database) -> None:
        if self._side is not None and not self._side.is_closed():
            await self._side.close()
        await self.rating.close()
        await db.drop_database(self.uri)


async def _new_rating_database(server_uri: str) -> str:
    name = f"simrating_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    await database.ensure_database(server_uri, name)
    uri = database.with_database(server_uri, name)
    await upgrade_rating(uri)
    return uri


class SwitchableClock:
    """The clock the worker's service reads: the running seed's SimClock."""

    def __init__(self) -> None:
        self.current: SimClock | None = None

    def now(self) -> datetime:
        assert self.current is not None, "no seed is running"
        return self.current.now()


CHECKS_APP = "billing-sim-checks"


class Worker:
    """What the seeds of one worker share: a database, the service on it (rebuilt only when a
    fault kills it) and a side connection for the checks. Each seed brings fresh wallets and its
    own clock."""

    def __init__(self, db: Database, uri: str) -> None:
        self.db = db
        self.uri = uri
        self.clock = SwitchableClock()
        self.service: Service | None = None
        self.port = free_port()  # the ledger's gRPC port, kept across service rebuilds
        self.rating: RatingService | None = None  # built by the first rating seed
        self._side: asyncpg.Connection | None = None
        self.side_lock = asyncio.Lock()  # one query at a time on the side connection
        self.db_restart_share = 0.01  # of seeds (a restart costs about a second)

    @classmethod
    async def start(cls, db: Database) -> Worker:
        return cls(db, await db.new_worker_database())

    async def rotate(self) -> None:
        """Move to a fresh database (the old one is dropped): the tables stay small however many
        seeds a worker runs, so no check or service query slows down as the run goes on."""
        await self.close()
        old, self.uri = self.uri, await self.db.new_worker_database()
        await self.db.drop_database(old)

    async def ensure_rating(self) -> RatingService:
        if self.rating is None:
            self.rating = await RatingService.start(self.db, self.clock, self.port)
        return self.rating

    async def ensure_service(self) -> Service:
        if self.service is None:
            self.service = await Service.start(self.uri, self.clock, self.port)  # type: ignore[arg-type]
        return self.service

    async def side(self) -> asyncpg.Connection:
        """The checks' own connection (faults spare it; a database restart does not)."""
        if self._side is None or self._side.is_closed():
            await self.db.ready()
            self._side = await asyncpg.connect(
                self.uri, server_settings={"application_name": CHECKS_APP}
            )
        return self._side

    async def drop_side(self) -> None:
        """Forget the side connection (after a database restart ended it)."""
        if self._side is not None:
            self._side.terminate()
            self._side = None

    async def close(self) -> None:
        if self.rating is not None:
            await self.rating.close(self.db)
            self.rating = None
        if self.service is not None:
            await self.service.kill()
            self.service = None
        if self._side is not None and not self._side.is_closed():
            await self._side.close()
        self._side = None
