"""Webhooks over real gRPC on real PostgreSQL, delivered to a real local HTTP server.

The receiver is a minimal HTTP/1.1 server on 127.0.0.1:<free port> in the test's event loop; it
can answer with any status or be shut down (connection refused) and started again on the same
port. The fake clock drives the backoff: `deliver()` sends only what is due on it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb

from ledger_service import main as ledger_main
from ledger_service.config import LedgerSettings
from ledger_service.domain.webhooks import verify
from tests.support.channels import admin_key_file
from tests.support.events import watch_events
from tests.support.ledger import debit_request, make_grant, make_wallet, rid
from tests.support.tls import server_settings
from tests.support.webhooks import deliveries, endpoint, when

E = pb.WalletEventType
S = pb.WebhookDeliveryState


async def run_webhooks(ledger_server) -> int:  # type: ignore[no-untyped-def]
    webhooks = ledger_server.ledger.webhooks
    await webhooks.dispatch()
    return await webhooks.deliver()  # type: ignore[no-any-return]


async def test_alerts_are_each_delivered_once_and_signed(ledger_server, receiver) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    endpoint_id, secret = await endpoint(
        stub, receiver.url, wallet.wallet_id, [E.WALLET_EVENT_TYPE_ALERT_FIRED]
    )
    assert secret.startswith("whsec_") and len(secret) == 6 + 64
    await make_grant(stub, wallet.wallet_id, "1000")
    for _ in range(10):  # 1000 -> 0: crosses 50%, 25%, 10% and depleted once each
        await stub.Debit(debit_request(wallet.wallet_id, "100"))
        await run_webhooks(ledger_server)
    fired = await watch_events(
        stub, wallet.wallet_id, types=[E.WALLET_EVENT_TYPE_ALERT_FIRED], count=4
    )
    assert [json.loads(e.data_json)["name"] for e in fired] == [
        "50% left",
        "25% left",
        "10% left",
        "depleted",
    ]
    assert len(receiver.received) == 4
    for got, event in zip(receiver.received, fired, strict=True):
        assert verify(secret, got.headers["billing-signature"], got.body)
        assert not verify("whsec_other", got.headers["billing-signature"], got.body)
        assert not verify(secret, got.headers["billing-signature"], got.body + b" ")
        timestamp_s = int(got.headers["billing-signature"].split(",")[0].removeprefix("t="))
        assert timestamp_s == int(ledger_server.clock.now().timestamp())
        assert got.headers["billing-event-id"] == event.event_id
        assert got.headers["content-type"] == "application/json"
        assert got.json == {
            "event_id": event.event_id,
            "cursor": event.cursor,
            "wallet_id": wallet.wallet_id,
            "type": "ALERT_FIRED",
            "occurred_time": "2026-01-01T00:00:00Z",
            "data": json.loads(event.data_json),
        }
    # Running again sends nothing more: each alert exactly once.
    assert await run_webhooks(ledger_server) == 0
    assert len(receiver.received) == 4
    log = await deliveries(stub, endpoint_id)
    assert [d.cursor for d in log] == [e.cursor for e in reversed(fired)]  # newest first
    assert {(d.state, d.attempts, d.last_status_code, d.last_error) for d in log} == {
        (S.WEBHOOK_DELIVERY_STATE_DELIVERED, 1, 200, "")
    }
    assert all(not d.HasField("next_attempt_time") and d.HasField("end_time") for d in log)
    assert [len(d.attempt_log) for d in log] == [1, 1, 1, 1]


async def test_global_and_wallet_endpoints_get_their_events(ledger_server, receiver) -> None:
    stub = ledger_server.stub
    one, two = await make_wallet(stub), await make_wallet(stub)
    everything, _ = await endpoint(stub, receiver.url)
    only_two, _ = await endpoint(stub, receiver.url, two.wallet_id)
    await make_grant(stub, one.wallet_id, "10")
    await make_grant(stub, two.wallet_id, "10")
    await run_webhooks(ledger_server)
    assert {d.wallet_id for d in await deliveries(stub, everything)} == {
        one.wallet_id,
        two.wallet_id,
    }
    assert {d.wallet_id for d in await deliveries(stub, only_two)} == {two.wallet_id}
    listed = await stub.ListWebhookEndpoints(pb.ListWebhookEndpointsRequest())
    assert [e.endpoint_id for e in listed.endpoints] == [everything, only_two]
    of_two = await stub.ListWebhookEndpoints(
        pb.ListWebhookEndpointsRequest(wallet_id=two.wallet_id)
    )
    assert [e.endpoint_id for e in of_two.endpoints] == [only_two]
    assert all(not e.HasField("delete_time") for e in listed.endpoints)


async def test_events_before_the_endpoint_existed_are_not_sent(ledger_server, receiver) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "10")
    await endpoint(stub, receiver.url, wallet.wallet_id)
    await make_grant(stub, wallet.wallet_id, "20")
    await run_webhooks(ledger_server)
    assert [r.json["data"]["amount"] for r in receiver.received] == ["20"]


async def test_receiver_down_for_a_while_then_every_event_arrives_once(
    ledger_server, receiver
) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = await make_wallet(stub)
    endpoint_id, secret = await endpoint(stub, receiver.url, wallet.wallet_id)
    receiver.status = 500
    await make_grant(stub, wallet.wallet_id, "1000")
    await stub.Debit(debit_request(wallet.wallet_id, "600"))  # 50% fires
    assert await run_webhooks(ledger_server) == 2
    log = await deliveries(stub, endpoint_id)
    assert {(d.state, d.attempts, d.last_status_code, d.last_error) for d in log} == {
        (S.WEBHOOK_DELIVERY_STATE_PENDING, 1, 500, "HTTP 500")
    }
    first_retry = clock.now() + timedelta(seconds=10)
    assert {when(d.next_attempt_time) for d in log} == {first_retry}
    # Not due yet: nothing is sent.
    assert await ledger_server.ledger.webhooks.deliver() == 0

    # The port closes; the first retry is refused; the second waits twice as long.
    await receiver.stop()
    clock.advance(timedelta(seconds=10))
    await stub.Debit(debit_request(wallet.wallet_id, "200"))  # 25% fires, while down
    assert await run_webhooks(ledger_server) == 3
    log = await deliveries(stub, endpoint_id)
    by_attempts = sorted((d.attempts, d.last_status_code) for d in log)
    assert by_attempts == [(1, 0), (2, 0), (2, 0)]
    retried = [d for d in log if d.attempts == 2]
    for d in retried:
        assert d.state == S.WEBHOOK_DELIVERY_STATE_PENDING
        assert "ConnectError" in d.last_error
        assert when(d.next_attempt_time) == clock.now() + timedelta(seconds=20)
    clock.advance(timedelta(seconds=5))
    assert await ledger_server.ledger.webhooks.deliver() == 0

    # Back up, answering 200: after the backoff everything arrives, once.
    receiver.status = 200
    await receiver.start()
    clock.advance(timedelta(seconds=15))
    for _ in range(3):
        await run_webhooks(ledger_server)
        clock.advance(timedelta(minutes=1))
    everything = await watch_events(stub, wallet.wallet_id, count=3)  # the grant, 50%, 25%
    assert sorted(r.headers["billing-event-id"] for r in receiver.received) == sorted(
        e.event_id for e in everything
    )
    assert len(receiver.received) == len(everything) == 3
    assert all(verify(secret, r.headers["billing-signature"], r.body) for r in receiver.received)
    log = await deliveries(stub, endpoint_id)
    assert {d.state for d in log} == {S.WEBHOOK_DELIVERY_STATE_DELIVERED}
    logged = {d.event_id: [(a.status_code, a.error[:12]) for a in d.attempt_log] for d in log}
    assert sorted(logged.values()) == [
        [(0, "ConnectError"), (200, "")],
        [(500, "HTTP 500"), (0, "ConnectError"), (200, "")],
        [(500, "HTTP 500"), (0, "ConnectError"), (200, "")],
    ]


async def test_backoff_is_bounded_then_the_delivery_fails(ledger_server, receiver) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = await make_wallet(stub)
    endpoint_id, _ = await endpoint(stub, receiver.url, wallet.wallet_id)
    receiver.status = 503
    await make_grant(stub, wallet.wallet_id, "5")
    waits = []
    for _ in range(15):
        await run_webhooks(ledger_server)
        (d,) = await deliveries(stub, endpoint_id)
        if d.state != S.WEBHOOK_DELIVERY_STATE_PENDING:
            break
        wait = when(d.next_attempt_time) - clock.now()
        waits.append(int(wait.total_seconds()))
        clock.advance(wait)
    assert waits == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
    assert (d.state, d.attempts, len(d.attempt_log)) == (S.WEBHOOK_DELIVERY_STATE_FAILED, 12, 12)
    assert not d.HasField("next_attempt_time")
    assert [a.number for a in d.attempt_log] == list(range(1, 13))
    clock.advance(timedelta(days=1))
    assert await run_webhooks(ledger_server) == 0


async def test_deleted_endpoint_gets_nothing_more(ledger_server, receiver) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    endpoint_id, _ = await endpoint(stub, receiver.url, wallet.wallet_id)
    await make_grant(stub, wallet.wallet_id, "5")
    await ledger_server.ledger.webhooks.dispatch()  # a delivery is pending, not sent yet
    deleted = await stub.DeleteWebhookEndpoint(
        pb.DeleteWebhookEndpointRequest(request_id=rid(), endpoint_id=endpoint_id)
    )
    assert deleted.endpoint.HasField("delete_time")
    await make_grant(stub, wallet.wallet_id, "6")
    assert await run_webhooks(ledger_server) == 0
    assert receiver.received == []
    (d,) = await deliveries(stub, endpoint_id)  # the log stays readable
    assert (d.state, d.attempts) == (S.WEBHOOK_DELIVERY_STATE_CANCELLED, 0)
    listed = await stub.ListWebhookEndpoints(
        pb.ListWebhookEndpointsRequest(wallet_id=wallet.wallet_id)
    )
    assert list(listed.endpoints) == []


async def test_create_is_idempotent_and_returns_the_same_secret(ledger_server, receiver) -> None:
    stub = ledger_server.stub
    request = pb.CreateWebhookEndpointRequest(request_id=rid(), url=receiver.url)
    first, again = (
        await stub.CreateWebhookEndpoint(request),
        await stub.CreateWebhookEndpoint(request),
    )
    assert first == again
    other = await stub.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(request_id=rid(), url=receiver.url)
    )
    assert other.secret != first.secret


async def test_two_ledger_processes_never_send_a_delivery_twice(
    ledger_server, ledger_db, clock, receiver
) -> None:
    """A second ledger on the same database (another process, or this one after a restart)
    shares the work: with both dispatching and delivering at once, each event arrives once."""
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await endpoint(stub, receiver.url, wallet.wallet_id)
    await endpoint(stub, receiver.url)
    for _ in range(60):  # 60 GRANT_CREATED events, for 2 endpoints: 120 deliveries
        await make_grant(stub, wallet.wallet_id, "10")
    settings = LedgerSettings(
        admin_key_file=admin_key_file(),
        database_url=ledger_db,
        listen="127.0.0.1:0",
        migrate=False,
        **server_settings(),
    )
    other = await ledger_main.build(settings, clock)
    try:
        apps = [ledger_server.ledger.webhooks, other.webhooks]
        await asyncio.gather(*(a.dispatch() for a in apps), *(a.dispatch() for a in apps))
        await asyncio.gather(*(a.deliver() for a in apps), *(a.deliver() for a in apps))
    finally:
        await other.close()
    expected = 2 * len(await watch_events(stub, wallet.wallet_id, count=60))
    ids = [(r.headers["billing-event-id"], r.body) for r in receiver.received]
    assert len(ids) == expected == 120
    per_endpoint = {}
    for r in receiver.received:
        key = (r.headers["billing-event-id"], r.headers["billing-delivery-id"])
        per_endpoint[key] = per_endpoint.get(key, 0) + 1
    assert set(per_endpoint.values()) == {1}


async def test_a_delivery_claimed_by_a_process_that_stopped_is_sent_after_its_lease(
    ledger_server, receiver
) -> None:
    """The process claims a delivery and stops before storing the outcome (a crash, or SIGKILL
    during the request): the delivery is not lost, it is sent again once the lease runs out."""
    stub, clock = ledger_server.stub, ledger_server.clock
    webhooks = ledger_server.ledger.webhooks
    wallet = await make_wallet(stub)
    endpoint_id, _ = await endpoint(stub, receiver.url, wallet.wallet_id)
    await make_grant(stub, wallet.wallet_id, "5")
    await webhooks.dispatch()
    (claimed,) = await webhooks._claim()  # ... and the process stops here
    assert await webhooks.deliver() == 0  # leased: nobody else sends it meanwhile
    clock.advance(webhooks.lease)
    assert await webhooks.deliver() == 1
    assert [r.headers["billing-event-id"] for r in receiver.received] == [claimed.event_id]
    (d,) = await deliveries(stub, endpoint_id)
    assert d.state == S.WEBHOOK_DELIVERY_STATE_DELIVERED
    assert [(a.number, a.status_code, a.error) for a in d.attempt_log] == [
        (1, 0, "in flight (no outcome stored yet)"),
        (2, 200, ""),
    ]


async def test_endpoints_per_wallet_are_capped(ledger_server, receiver) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    for _ in range(20):
        await endpoint(stub, receiver.url, wallet.wallet_id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await endpoint(stub, receiver.url, wallet.wallet_id)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "TOO_MANY_WEBHOOK_ENDPOINTS" in str(refused.value.trailing_metadata())
    await endpoint(stub, receiver.url)  # the global scope is counted apart
    listed = await stub.ListWebhookEndpoints(
        pb.ListWebhookEndpointsRequest(wallet_id=wallet.wallet_id, page_size=15)
    )
    rest = await stub.ListWebhookEndpoints(
        pb.ListWebhookEndpointsRequest(
            wallet_id=wallet.wallet_id, page_size=15, page_token=listed.next_page_token
        )
    )
    assert len(listed.endpoints) + len(rest.endpoints) == 20 and not rest.next_page_token
    gone = listed.endpoints[0].endpoint_id
    await stub.DeleteWebhookEndpoint(
        pb.DeleteWebhookEndpointRequest(request_id=rid(), endpoint_id=gone)
    )
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await stub.DeleteWebhookEndpoint(
            pb.DeleteWebhookEndpointRequest(request_id=rid(), endpoint_id=gone)
        )
    assert again.value.code() == grpc.StatusCode.NOT_FOUND
    await endpoint(stub, receiver.url, wallet.wallet_id)  # room again
