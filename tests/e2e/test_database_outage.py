"""A database outage is UNAVAILABLE, never INTERNAL or UNKNOWN.

A real ledger server runs on a real PostgreSQL while clients keep calling it (writes through the
plain and the group-commit paths, reads, a streaming watch); meanwhile the database's connections
are killed (`pg_terminate_backend`), and, on an embedded server of the test's own, PostgreSQL is
restarted (fast and immediate shutdowns, so callers also meet "the database system is starting up").
Every call answers OK or UNAVAILABLE; the clients retry UNAVAILABLE with the same request_id, as
a client should, and afterwards every acknowledged write is in the journal exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc

from billing_common import database
from billing_common.clock import FakeClock
from ledger_service import main as ledger_main
from ledger_service.adapters.db.migrate import upgrade_async
from ledger_service.config import LedgerSettings
from tests.support.channels import admin_key_file, open_channel
from tests.support.ledger import debit_request, make_grant, make_wallet, rid
from tests.support.servers import START, NewDatabase
from tests.support.tls import server_settings

Code = grpc.StatusCode
WORKERS = 6
# The client's retry policy for UNAVAILABLE: a short pause, then the same request again.
RETRY_PAUSE_S = 0.02


@dataclass
class Traffic:
    """Clients calling the ledger until told to stop; every status they saw is counted."""

    stub: ledger_pb2_grpc.LedgerServiceStub
    wallet_id: str
    codes: Counter[str] = field(default_factory=Counter)
    acknowledged: list[str] = field(default_factory=list)  # request ids of acknowledged writes
    successes: int = 0
    progress: asyncio.Condition = field(default_factory=asyncio.Condition)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def call(self, make: Callable[[], Awaitable[Any]]) -> Any:
        """One logical call, retried with the same request while the answer is UNAVAILABLE."""
        while True:
            try:
                result = await make()
            except grpc.aio.AioRpcError as exc:
                self.codes[exc.code().name] += 1
                if exc.code() != Code.UNAVAILABLE:
                    raise AssertionError(f"{exc.code().name}: {exc.details()}") from exc
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            self.codes["OK"] += 1
            async with self.progress:
                self.successes += 1
                self.progress.notify_all()
            return result

    async def worker(self, n: int) -> None:
        while not self.stopping.is_set():
            kind = (n + self.successes) % 4
            if kind in (0, 1):  # unary Debit: the group-commit path
                request = debit_request(self.wallet_id, "1")
                await self.call(lambda r=request: self.stub.Debit(r, timeout=30))
                self.acknowledged.append(request.request_id)
            elif kind == 2:
                request = pb.DebitBatchRequest(
                    debits=[debit_request(self.wallet_id, "1") for _ in range(3)]
                )
                response = await self.call(lambda r=request: self.stub.DebitBatch(r, timeout=30))
                assert all(r.HasField("entry") for r in response.results)
                self.acknowledged.extend(d.request_id for d in request.debits)
            else:
                await self.call(
                    lambda: self.stub.GetBalance(
                        pb.GetBalanceRequest(wallet_id=self.wallet_id), timeout=30
                    )
                )

    async def wait_for_successes(self, more: int) -> None:
        """Until `more` further calls have succeeded (the service recovered)."""
        async with self.progress:
            target = self.successes + more
            await asyncio.wait_for(
                self.progress.wait_for(lambda: self.successes >= target), timeout=60
            )


@contextlib.asynccontextmanager
async def ledger_on(database_url: str) -> AsyncIterator[tuple[ledger_main.Ledger, str]]:
    settings = LedgerSettings(
        admin_key_file=admin_key_file(),
        database_url=database_url,
        listen="127.0.0.1:0",
        migrate=False,
        sweep_interval_s=0,
        **server_settings(),
    )
    ledger = await ledger_main.build(settings, FakeClock(START))
    target = f"127.0.0.1:{await ledger.server.start()}"
    try:
        yield ledger, target
    finally:
        await ledger.close()


async def run_traffic_during(
    target: str, disturb: Callable[[Traffic], Awaitable[None]], database_url: str
) -> Traffic:
    channel = open_channel(target)
    stub = ledger_pb2_grpc.LedgerServiceStub(channel)
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "1000000")
    traffic = Traffic(stub, wallet.wallet_id)
    watch_codes: list[Code] = []

    async def watch() -> None:
        # A streaming reader meets the outage too: it ends UNAVAILABLE, never UNKNOWN.
        while not traffic.stopping.is_set():
            stream = stub.WatchWalletEvents(pb.WatchWalletEventsRequest(wallet_id=wallet.wallet_id))
            try:
                async for _ in stream:
                    if traffic.stopping.is_set():
                        stream.cancel()
            except grpc.aio.AioRpcError as exc:
                watch_codes.append(exc.code())
                await asyncio.sleep(RETRY_PAUSE_S)
            except asyncio.CancelledError:
                return

    workers = [asyncio.create_task(traffic.worker(n)) for n in range(WORKERS)]
    watcher = asyncio.create_task(watch())
    try:
        await traffic.wait_for_successes(20)
        await disturb(traffic)
        await traffic.wait_for_successes(20)
    finally:
        traffic.stopping.set()
        watcher.cancel()
        results = await asyncio.gather(*workers, return_exceptions=True)
        await asyncio.gather(watcher, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{errors[0]!r}; codes seen: {dict(traffic.codes)}"
    assert set(watch_codes) <= {Code.UNAVAILABLE, Code.CANCELLED}, watch_codes

    # Every acknowledged write exactly once, and nothing else booked.
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT request_id, count(*) AS n FROM entries WHERE wallet_id = $1 "
            "AND type = 'DEBIT' GROUP BY request_id",
            wallet.wallet_id,
        )
    finally:
        await conn.close()
    booked = {r["request_id"]: r["n"] for r in rows}
    assert all(n == 1 for n in booked.values())
    assert set(booked) == set(traffic.acknowledged)
    assert len(traffic.acknowledged) == len(set(traffic.acknowledged))
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
    assert report.consistent
    assert report.consumed == str(len(traffic.acknowledged))
    await channel.close()
    return traffic


async def test_killed_database_connections_are_unavailable_never_internal(
    new_database: NewDatabase, ledger_template: str, pg_server_uri: str
) -> None:
    url = await new_database("ledger", ledger_template)
    name = urlsplit(url).path.lstrip("/")

    async def kill_connections(traffic: Traffic) -> None:
        # Connections in the middle of a statement or transaction: an idle one would just be
        # replaced by the pool's pre-ping, unnoticed by anyone.
        admin = await asyncpg.connect(database.with_database(pg_server_uri, "postgres"))
        killed = 0
        try:
            while killed < 20:
                killed += len(
                    await admin.fetch(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = $1 AND pid <> pg_backend_pid() AND state <> 'idle'",
                        name,
                    )
                )
                await traffic.wait_for_successes(1)
        finally:
            await admin.close()

    async with ledger_on(url) as (_, target):
        traffic = await run_traffic_during(target, kill_connections, url)
    assert traffic.codes["UNAVAILABLE"] > 0, "the test never hit the outage"


@pytest.fixture
async def own_postgres() -> AsyncIterator[Any]:
    """An embedded PostgreSQL of this test's own, since the test restarts it."""
    import pgserver

    server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="billing-outage-pg-")), "delete")
    try:
        yield server
    finally:
        await asyncio.to_thread(server.cleanup)


async def test_database_restart_is_unavailable_never_internal(own_postgres: Any) -> None:
    from pgserver import _commands

    server_uri = own_postgres.get_uri()
    await database.ensure_database(server_uri, "ledger")
    url = database.with_database(server_uri, "ledger")
    await upgrade_async(url)

    async def pg_ctl(*args: str) -> None:
        # As the server's own user when pgserver runs it as one (we are root). Not through
        # subprocess's `user=`: that forks instead of vfork, and a fork of a process running
        # gRPC threads can crash in the child.
        as_user = (
            ["runuser", "-u", own_postgres.system_user, "--"] if own_postgres.system_user else []
        )
        command = [*as_user, str(_commands.POSTGRES_BIN_PATH / "pg_ctl")]
        process = await asyncio.create_subprocess_exec(
            *command,
            "-D",
            str(own_postgres.pgdata),
            *args,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert await asyncio.wait_for(process.wait(), 60) == 0

    async def restart(traffic: Traffic) -> None:
        for mode in ("fast", "immediate", "fast"):
            await pg_ctl("-w", "-m", mode, "restart")
            await traffic.wait_for_successes(10)

    async with ledger_on(url) as (_, target):
        traffic = await run_traffic_during(target, restart, url)
    assert traffic.codes["UNAVAILABLE"] > 0, "the test never hit the outage"


__all__ = ["rid"]
