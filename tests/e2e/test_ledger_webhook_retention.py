"""Webhook retry settings and the retention of finished deliveries, on real PostgreSQL over real
gRPC, delivered to a real local HTTP receiver; a fake clock moves time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc

from billing_common.clock import FakeClock
from ledger_service import main as ledger_main
from ledger_service.config import LedgerSettings
from tests.support.channels import admin_key_file, open_channel
from tests.support.ledger import make_grant, make_wallet
from tests.support.tls import server_settings
from tests.support.webhooks import Receiver, deliveries, endpoint, when

S = pb.WebhookDeliveryState

SETTINGS = {
    "webhook_retry_base_s": 2.0,
    "webhook_retry_max_s": 5.0,
    "webhook_attempts_max": 4,
    "webhook_lease_s": 30.0,
    "webhook_timeout_s": 5.0,
    "webhook_connect_timeout_s": 2.0,
    "webhook_delivered_retention_s": 3600.0,
    "webhook_failed_retention_s": 86400.0,
    "webhook_purge_batch_size": 2,
}


class Ledger:
    def __init__(self, ledger: ledger_main.Ledger, stub, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
        self.ledger, self.stub, self.clock = ledger, stub, clock
        self.webhooks = ledger.webhooks


@pytest.fixture
async def tuned(ledger_db: str, clock: FakeClock) -> AsyncIterator[Ledger]:
    settings = LedgerSettings(
        admin_key_file=admin_key_file(),
        database_url=ledger_db,
        listen="127.0.0.1:0",
        migrate=False,
        sweep_interval_s=0,
        **SETTINGS,  # type: ignore[arg-type],
        **server_settings(),
    )
    ledger = await ledger_main.build(settings, clock)
    port = await ledger.server.start()
    channel = open_channel(f"127.0.0.1:{port}")
    try:
        yield Ledger(ledger, ledger_pb2_grpc.LedgerServiceStub(channel), clock)
    finally:
        await channel.close()
        await ledger.close()


async def fail_for_good(tuned: Ledger, endpoint_id: str) -> list[int]:
    """Run the job until every delivery of the endpoint has ended; the waits seen, in seconds."""
    waits: list[int] = []
    for _ in range(20):
        await tuned.webhooks.run_once()
        listed = await deliveries(tuned.stub, endpoint_id)
        pending = [d for d in listed if d.state == S.WEBHOOK_DELIVERY_STATE_PENDING]
        if not pending:
            return waits
        wait = min(when(d.next_attempt_time) for d in pending) - tuned.clock.now()
        waits.append(int(wait.total_seconds()))
        tuned.clock.advance(wait)
    raise AssertionError("deliveries still pending")


async def test_retry_settings_drive_backoff_attempts_and_lease(
    tuned: Ledger,
    receiver: Receiver,
) -> None:
    stub = tuned.stub
    wallet = await make_wallet(stub)
    endpoint_id, _ = await endpoint(stub, receiver.url, wallet.wallet_id)
    receiver.status = 503
    await make_grant(stub, wallet.wallet_id, "5")
    assert await fail_for_good(tuned, endpoint_id) == [2, 4, 5]  # base 2 s, doubling, max 5 s
    (d,) = await deliveries(stub, endpoint_id)
    assert (d.state, d.attempts) == (S.WEBHOOK_DELIVERY_STATE_FAILED, 4)
    assert tuned.webhooks.lease == timedelta(seconds=30)


async def count_rows(ledger_db: str) -> tuple[int, int]:
    conn = await asyncpg.connect(ledger_db)
    try:
        deliveries_n = await conn.fetchval("SELECT count(*) FROM webhook_deliveries")
        attempts_n = await conn.fetchval("SELECT count(*) FROM webhook_attempts")
    finally:
        await conn.close()
    return deliveries_n, attempts_n


async def test_delivered_rows_are_purged_after_their_age_and_failures_kept_longer(
    tuned: Ledger,
    receiver: Receiver,
    ledger_db: str,
) -> None:
    stub, clock, webhooks = tuned.stub, tuned.clock, tuned.webhooks
    wallet = await make_wallet(stub)
    endpoint_id, _ = await endpoint(stub, receiver.url, wallet.wallet_id)
    for amount in ("1", "2", "3", "4", "5"):
        await make_grant(stub, wallet.wallet_id, amount)
    await webhooks.run_once()
    delivered_at = clock.now()
    receiver.status = 500
    await make_grant(stub, wallet.wallet_id, "6")
    await fail_for_good(tuned, endpoint_id)
    states = [d.state for d in await deliveries(stub, endpoint_id)]
    assert states == [S.WEBHOOK_DELIVERY_STATE_FAILED] + [S.WEBHOOK_DELIVERY_STATE_DELIVERED] * 5
    assert await count_rows(ledger_db) == (6, 5 + 4)

    # One second before the delivered rows' hour is up: nothing goes.
    clock.advance(delivered_at + timedelta(hours=1) - clock.now() - timedelta(seconds=1))
    assert await webhooks.purge() == 0
    clock.advance(timedelta(seconds=1))
    # Bounded: two per round (webhook_purge_batch_size), oldest first; the job's rounds finish.
    assert await webhooks.purge() == 2
    assert await count_rows(ledger_db) == (4, 3 + 4)
    await webhooks.run_once()
    await webhooks.run_once()
    assert await webhooks.purge() == 0
    (kept,) = await deliveries(stub, endpoint_id)
    assert (kept.state, len(kept.attempt_log)) == (S.WEBHOOK_DELIVERY_STATE_FAILED, 4)
    assert await count_rows(ledger_db) == (1, 4)

    # The failure stays for its day, then goes with its attempt log.
    clock.advance(when(kept.end_time) + timedelta(days=1) - clock.now() - timedelta(seconds=1))
    assert await webhooks.purge() == 0
    clock.advance(timedelta(seconds=1))
    assert await webhooks.purge() == 1
    assert await deliveries(stub, endpoint_id) == []
    assert await count_rows(ledger_db) == (0, 0)


async def test_cancelled_deliveries_are_kept_as_long_as_failures(
    tuned: Ledger,
    receiver: Receiver,
) -> None:
    stub, clock, webhooks = tuned.stub, tuned.clock, tuned.webhooks
    wallet = await make_wallet(stub)
    endpoint_id, _ = await endpoint(stub, receiver.url, wallet.wallet_id)
    await make_grant(stub, wallet.wallet_id, "5")
    await webhooks.dispatch()
    await stub.DeleteWebhookEndpoint(
        pb.DeleteWebhookEndpointRequest(request_id="delete-1", endpoint_id=endpoint_id)
    )
    clock.advance(timedelta(days=1) - timedelta(seconds=1))
    assert await webhooks.purge() == 0
    clock.advance(timedelta(seconds=1))
    assert await webhooks.purge() == 1
    assert await deliveries(stub, endpoint_id) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"webhook_retry_base_s": 0}, "webhook_retry_base_s"),
        ({"webhook_retry_base_s": 10, "webhook_retry_max_s": 5}, "webhook_retry_max_s"),
        ({"webhook_attempts_max": 0}, "webhook_attempts_max"),
        ({"webhook_attempts_max": 1001}, "webhook_attempts_max"),
        ({"webhook_timeout_s": 0}, "webhook_timeout_s"),
        ({"webhook_connect_timeout_s": 0}, "webhook_connect_timeout_s"),
        ({"webhook_lease_s": 10, "webhook_timeout_s": 10}, "webhook_lease_s"),
        ({"webhook_delivered_retention_s": -1}, "webhook_delivered_retention_s"),
        (
            {"webhook_delivered_retention_s": 100, "webhook_failed_retention_s": 99},
            "webhook_failed_retention_s",
        ),
        ({"webhook_purge_batch_size": 0}, "webhook_purge_batch_size"),
        ({"webhook_purge_batch_size": 100_001}, "webhook_purge_batch_size"),
    ],
)
def test_bad_webhook_settings_are_refused_at_start(changes: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        LedgerSettings(**changes)


def test_an_explicit_zero_retention_is_a_value_not_the_default() -> None:
    """Zero means "purge at the next round", never "use the default"."""
    settings = LedgerSettings.from_env(
        {"LEDGER_WEBHOOK_DELIVERED_RETENTION_S": "0", "LEDGER_WEBHOOK_FAILED_RETENTION_S": "0"}
    )
    retention = settings.webhook_retention()
    assert (retention.delivered, retention.failed) == (timedelta(0), timedelta(0))
