"""The ledger as a real process: starts, serves health and reflection, and on SIGTERM lets
in-flight calls finish and exits cleanly with nothing half-written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from billing_common.process import ServiceProcess, start_service
from tests.support.channels import admin_key_file, open_channel
from tests.support.ledger import debit_request, make_grant, make_wallet
from tests.support.waiting import until

ROOT = Path(__file__).resolve().parents[2]


async def _start(database_url: str) -> ServiceProcess:
    env = {
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_ADMIN_KEY_FILE": str(admin_key_file()),
        "LEDGER_LISTEN": "127.0.0.1:0",
        "LEDGER_MIGRATE": "false",
        "LEDGER_SWEEP_INTERVAL_S": "0",
    }
    return await start_service("ledger_service", env, cwd=ROOT)


async def a_write_is_running(database_url: str) -> bool:
    """Whether a transaction of the ledger is writing journal entries (it holds the table's
    RowExclusiveLock from its first insert to its end)."""
    conn = await asyncpg.connect(database_url)
    try:
        busy = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE relation = 'entries'::regclass"
            " AND mode = 'RowExclusiveLock' AND granted AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return bool(busy)


async def test_sigterm_finishes_in_flight_calls_and_exits_cleanly(ledger_db: str) -> None:
    service = await _start(ledger_db)
    channel = open_channel(service.target)
    try:
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="billing.ledger.v1.LedgerService")
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = reflect.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name async for reply in replies for s in reply.list_services_response.service}
        assert "billing.ledger.v1.LedgerService" in names

        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        wallet = await make_wallet(stub)
        await make_grant(stub, wallet.wallet_id, "100000")
        batches = [
            stub.DebitBatch(
                pb.DebitBatchRequest(
                    debits=[debit_request(wallet.wallet_id, "1") for _ in range(500)]
                )
            )
            for _ in range(4)
        ]
        in_flight = asyncio.gather(*batches, return_exceptions=True)
        # SIGTERM once a batch is at work in the ledger's database (or, on a fast machine, all
        # are already done).
        await until(
            lambda: in_flight.done() or a_write_is_running(ledger_db),
            "a DebitBatch is in flight in the ledger",
            poll_s=0.002,
        )
        exit_code = asyncio.create_task(service.stop())
        results = await in_flight
        assert await exit_code == 0
    finally:
        await channel.close()
        await service.kill()

    # Every batch either completed whole or was never started: nothing half-written.
    done = [r for r in results if isinstance(r, pb.DebitBatchResponse)]
    assert done, f"no batch was in flight when SIGTERM arrived: {results}"
    assert all(all(item.HasField("entry") for item in r.results) for r in done)
    again = await _start(ledger_db)
    channel = open_channel(again.target)
    try:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
        assert report.consistent, report.differences
        assert report.consumed == str(500 * len(done))
    finally:
        await channel.close()
        assert await again.stop() == 0
