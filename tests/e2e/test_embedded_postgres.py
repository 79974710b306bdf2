"""The embedded PostgreSQL outlives no service: a service killed with SIGKILL leaves its server
running, the next start adopts it, and a normal stop then stops it; nothing is left behind."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc

from billing_common.process import ServiceProcess, start_service
from tests.support.channels import admin_key_file, open_channel
from tests.support.ledger import make_wallet

ROOT = Path(__file__).resolve().parents[2]


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """The postgres server processes running on data_dir."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and str(data_dir) in cmdline:
            found.append(process)
    return found


@pytest.fixture
async def data_dir() -> AsyncIterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="billing-embedded-"))
    try:
        yield folder / "postgres"
    finally:
        for process in postgres_processes(folder / "postgres"):  # whatever a failure left
            process.kill()
        shutil.rmtree(folder, ignore_errors=True)


async def start(data_dir: Path) -> ServiceProcess:
    env = {
        "LEDGER_DATABASE_URL": "",
        "LEDGER_DATA_DIR": str(data_dir),
        "LEDGER_ADMIN_KEY_FILE": str(admin_key_file()),
        "LEDGER_LISTEN": "127.0.0.1:0",
        "LEDGER_SWEEP_INTERVAL_S": "0",
        "LEDGER_WEBHOOK_INTERVAL_S": "0",
    }
    return await start_service("ledger_service", env, cwd=ROOT)


async def test_a_killed_service_leaves_no_postgres_behind_after_the_next_stop(
    data_dir: Path,
) -> None:
    first = await start(data_dir)
    async with open_channel(first.target) as channel:
        wallet = await make_wallet(ledger_pb2_grpc.LedgerServiceStub(channel))
    assert postgres_processes(data_dir)
    await first.kill()  # SIGKILL: no clean-up of any kind runs
    assert postgres_processes(data_dir), "the server outlives a killed service (adopted next)"

    second = await start(data_dir)
    async with open_channel(second.target) as channel:
        found = await ledger_pb2_grpc.LedgerServiceStub(channel).GetWallet(
            pb.GetWalletRequest(wallet_id=wallet.wallet_id)
        )
    assert found.wallet.wallet_id == wallet.wallet_id
    assert await second.stop() == 0

    # The stop is synchronous (pg_ctl stop -w at exit): once the service has exited, its server
    # is gone; a short wait covers the postmaster's children going away after it.
    for _ in range(100):
        if not postgres_processes(data_dir):
            break
        await asyncio.sleep(0.05)
    assert postgres_processes(data_dir) == []
