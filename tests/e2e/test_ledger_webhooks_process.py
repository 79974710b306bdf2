"""Webhooks from the ledger as a real process, with its background job and the system clock:
killed (SIGKILL) while the receiver is down, restarted after it is back, nothing is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc

from billing_common.process import ServiceProcess, start_service
from ledger_service.domain.webhooks import verify
from tests.support.channels import admin_key_file, open_channel
from tests.support.events import watch_events
from tests.support.ledger import debit_request, make_grant, make_wallet, rid
from tests.support.webhooks import Receiver, deliveries

ROOT = Path(__file__).resolve().parents[2]
S = pb.WebhookDeliveryState
# Generous: the first retry is due 10 s after the first failure (the backoff is not configurable).
WAIT_S = 60.0


async def _start(database_url: str) -> ServiceProcess:
    env = {
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_ADMIN_KEY_FILE": str(admin_key_file()),
        "LEDGER_LISTEN": "127.0.0.1:0",
        "LEDGER_MIGRATE": "false",
        "LEDGER_SWEEP_INTERVAL_S": "0",
        "LEDGER_WEBHOOK_INTERVAL_S": "0.2",
    }
    return await start_service("ledger_service", env, cwd=ROOT)


async def _until(check, what: str) -> list[pb.WebhookDelivery]:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        found = await check()
        if found is not None:
            return found  # type: ignore[no-any-return]
        assert asyncio.get_running_loop().time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_killed_while_the_receiver_is_down_then_everything_arrives_once(
    ledger_db: str,
) -> None:
    receiver = Receiver(status=500)
    await receiver.start()
    try:
        await _run(ledger_db, receiver)
    finally:
        if receiver.server is not None:
            await receiver.stop()


async def _run(ledger_db: str, receiver: Receiver) -> None:
    service = await _start(ledger_db)
    channel = open_channel(service.target)
    try:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        wallet = await make_wallet(stub)
        created = await stub.CreateWebhookEndpoint(
            pb.CreateWebhookEndpointRequest(
                request_id=rid(), wallet_id=wallet.wallet_id, url=receiver.url
            )
        )
        endpoint_id, secret = created.endpoint.endpoint_id, created.secret
        await make_grant(stub, wallet.wallet_id, "1000")
        await stub.Debit(debit_request(wallet.wallet_id, "800"))  # 50% and 25% fire

        async def all_failed_once() -> list[pb.WebhookDelivery] | None:
            log = await deliveries(stub, endpoint_id)
            done = len(log) == 3 and all(d.last_status_code == 500 for d in log)
            return log if done else None

        await _until(all_failed_once, "the first (failed) attempts")
        # The grant and the two alerts, each delivery failed once (above).
        expected = sorted(e.event_id for e in await watch_events(stub, wallet.wallet_id, count=3))
    finally:
        await channel.close()
        await service.kill()  # SIGKILL: no chance to tidy up

    receiver.status = 200
    again = await _start(ledger_db)
    channel = open_channel(again.target)
    try:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)

        async def all_delivered() -> list[pb.WebhookDelivery] | None:
            log = await deliveries(stub, endpoint_id)
            done = all(d.state == S.WEBHOOK_DELIVERY_STATE_DELIVERED for d in log)
            return log if done else None

        log = await _until(all_delivered, "the deliveries after the restart")
    finally:
        await channel.close()
        assert await again.stop() == 0
    assert sorted(r.headers["billing-event-id"] for r in receiver.received) == expected
    assert all(verify(secret, r.headers["billing-signature"], r.body) for r in receiver.received)
    assert all(d.attempt_log[0].status_code == 500 for d in log)
    assert all(d.attempt_log[-1].status_code == 200 for d in log)
