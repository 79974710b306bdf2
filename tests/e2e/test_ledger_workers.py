"""The ledger with --workers 2 as a real process: both workers answer on the one port, debits
from many connections are each booked once, and SIGTERM leaves no process behind."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import psutil
import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc

from billing_common.process import ServiceProcess, start_service
from tests.support.channels import admin_key_file, open_channel
from tests.support.ledger import debit_request, make_grant, make_wallet

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = 24
DEBITS_PER_CONNECTION = 5

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreads connections on Linux"
)


async def _start(database_url: str, workers: int, **extra: str) -> ServiceProcess:
    env = {
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_ADMIN_KEY_FILE": str(admin_key_file()),
        "LEDGER_LISTEN": "127.0.0.1:0",
        "LEDGER_MIGRATE": "false",
        "LEDGER_SWEEP_INTERVAL_S": "0",
        "LEDGER_WORKERS": str(workers),
        **extra,
    }
    return await start_service("ledger_service", env, cwd=ROOT)


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    """The supervisor's worker processes (multiprocessing's resource tracker is a child too)."""
    return [p for p in parent.children() if "--multiprocessing-fork" in p.cmdline()]


def _serving_pids(port: int, pids: list[int]) -> set[int]:
    """The processes among `pids` holding an accepted connection on `port`."""
    return {
        pid
        for pid in pids
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    }


async def test_two_workers_share_the_port_and_book_each_debit_once(ledger_db: str) -> None:
    service = await _start(ledger_db, 2)
    parent = psutil.Process(service.process.pid)
    workers = _workers(parent)
    everyone = [parent, *parent.children()]
    channels = [
        # A distinct channel argument per channel: each gets its own TCP connection.
        open_channel(service.target, options=[("test.connection", i)])
        for i in range(CONNECTIONS)
    ]
    try:
        assert len(workers) == 2
        stubs = [ledger_pb2_grpc.LedgerServiceStub(c) for c in channels]
        wallet = await make_wallet(stubs[0])
        await make_grant(stubs[0], wallet.wallet_id, "100000")
        requests = [
            (stub, debit_request(wallet.wallet_id, "1"))
            for stub in stubs
            for _ in range(DEBITS_PER_CONNECTION)
        ]
        # Each request twice, from two connections: booked once, the same entry both times.
        first = await asyncio.gather(*(s.Debit(r) for s, r in requests))
        again = await asyncio.gather(
            *(stubs[(i + 1) % CONNECTIONS].Debit(r) for i, (_, r) in enumerate(requests))
        )
        assert [a.entry.entry_id for a in first] == [b.entry.entry_id for b in again]
        assert len({a.entry.entry_id for a in first}) == len(requests)

        # The kernel spread the connections over both workers (24 connections all landing on one
        # of two listeners is a 2**-23 chance).
        assert _serving_pids(service.port, [w.pid for w in workers]) == {w.pid for w in workers}

        report = await stubs[-1].VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
        assert report.consistent, report.differences
        assert report.consumed == str(len(requests))
    finally:
        for c in channels:
            await c.close()
        code = await service.stop()
        await service.kill()
    assert code == 0
    _, alive = psutil.wait_procs(everyone, timeout=10)
    assert alive == []


async def test_a_worker_that_dies_stops_the_service_with_exit_code_1(ledger_db: str) -> None:
    service = await _start(ledger_db, 2)
    parent = psutil.Process(service.process.pid)
    workers = _workers(parent)
    everyone = parent.children()
    try:
        assert len(workers) == 2
        workers[1].kill()
        code = await asyncio.wait_for(service.process.wait(), 30)
    finally:
        await service.kill()
    assert code == 1
    _, alive = psutil.wait_procs(everyone, timeout=10)
    assert alive == []


async def test_the_workers_die_with_a_killed_supervisor(ledger_db: str) -> None:
    service = await _start(ledger_db, 2)
    parent = psutil.Process(service.process.pid)
    assert len(_workers(parent)) == 2
    everyone = parent.children()
    await service.kill()  # SIGKILL: the supervisor cannot stop them itself
    _, alive = psutil.wait_procs(everyone, timeout=30)
    assert alive == []


async def test_workers_on_the_embedded_database_make_and_accept_its_key_files(
    tmp_path: Path,
) -> None:
    """With the embedded database and nothing configured, two workers decide what one process
    does: the admin key and the secrets key are made once in the data folder's parent, and
    every worker accepts the key and seals webhook secrets with that secrets key."""
    service = await start_service(
        "ledger_service",
        {
            "LEDGER_DATA_DIR": str(tmp_path / "postgres"),
            "LEDGER_LISTEN": "127.0.0.1:0",
            "LEDGER_SWEEP_INTERVAL_S": "0",
            "LEDGER_WORKERS": "2",
            "LEDGER_SECRETS_KEY": "",  # the tests' own key is not what this start may use
        },
        cwd=ROOT,
    )
    key = (tmp_path / "admin.key").read_text().strip()
    channels = [
        open_channel(service.target, options=[("test.connection", i)], key=key) for i in range(8)
    ]
    try:
        assert (tmp_path / "secrets.key").exists()
        stubs = [ledger_pb2_grpc.LedgerServiceStub(c) for c in channels]
        wallet = await make_wallet(stubs[0])
        for i, stub in enumerate(stubs):
            created = await stub.CreateWebhookEndpoint(
                pb.CreateWebhookEndpointRequest(
                    request_id=f"hook-{i}",
                    wallet_id=wallet.wallet_id,
                    url="https://example.com/hooks",
                )
            )
            assert created.secret.startswith("whsec_")
        pids = [
            service.process.pid,
            *(p.pid for p in _workers(psutil.Process(service.process.pid))),
        ]
        assert len(_serving_pids(int(service.target.rpartition(":")[2]), pids)) == 2
    finally:
        for channel in channels:
            await channel.close()
        assert await service.stop() == 0
