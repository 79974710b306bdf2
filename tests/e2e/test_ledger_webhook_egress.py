"""The webhook egress policy over real gRPC and real HTTP: URLs to loopback, private, link-local,
multicast and metadata addresses are refused at creation (INVALID_ARGUMENT,
WEBHOOK_ADDRESS_REFUSED), plain http without the allow-list too (INSECURE_WEBHOOK_URL); a name
that starts resolving to a refused address after creation is refused at delivery, and no request
reaches what now answers there; redirects are not followed; a failed attempt records a coarse
class, never the system's error text with its addresses and ports.

The ledger's resolver is swapped for a table the test controls (the names are the test's; the
HTTP path is the real one)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc

from ledger_service import main as ledger_main
from ledger_service.config import LedgerSettings
from tests.support.channels import admin_key_file, open_channel
from tests.support.errors import reason_of
from tests.support.ledger import make_grant, make_wallet, rid
from tests.support.tls import server_settings
from tests.support.webhooks import NameTable, Receiver, deliveries, endpoint

S = pb.WebhookDeliveryState
pb_stub = ledger_pb2_grpc.LedgerServiceStub


@pytest.fixture
async def strict(ledger_db: str) -> AsyncIterator[pb_stub]:
    """A ledger with the default egress policy (no allow-list at all)."""
    settings = LedgerSettings(
        database_url=ledger_db,
        listen="127.0.0.1:0",
        migrate=False,
        sweep_interval_s=0,
        admin_key_file=admin_key_file(),
        **server_settings(),
    )
    ledger = await ledger_main.build(settings)
    port = await ledger.server.start()
    channel = open_channel(f"127.0.0.1:{port}")
    try:
        yield ledger_pb2_grpc.LedgerServiceStub(channel)
    finally:
        await channel.close()
        await ledger.close()


REFUSED = "WEBHOOK_ADDRESS_REFUSED"
INSECURE = "INSECURE_WEBHOOK_URL"

# (URL, reason): every spelling resolves through the system's resolver (IP literals only).
REFUSALS = [
    ("https://127.0.0.1/hooks", REFUSED),
    ("https://127.0.0.2:8443/hooks", REFUSED),
    ("https://2130706433/hooks", REFUSED),  # 127.0.0.1 in decimal
    ("https://0x7f000001/hooks", REFUSED),  # in hex
    ("https://127.1/hooks", REFUSED),  # short form
    ("https://0.0.0.0/hooks", REFUSED),
    ("https://10.0.0.7/hooks", REFUSED),
    ("https://172.16.5.4/hooks", REFUSED),
    ("https://192.168.1.1/hooks", REFUSED),
    ("https://0xc0a80101/hooks", REFUSED),  # 192.168.1.1 in hex
    ("https://100.64.0.1/hooks", REFUSED),  # carrier-grade NAT
    ("https://169.254.10.10/hooks", REFUSED),  # link-local
    ("https://169.254.169.254/latest/meta-data/", REFUSED),  # cloud metadata
    ("https://2852039166/latest/meta-data/", REFUSED),  # the same, in decimal
    ("https://metadata.google.internal/computeMetadata/v1/", REFUSED),
    ("https://METADATA.google.internal./computeMetadata/v1/", REFUSED),
    ("https://224.0.0.1/hooks", REFUSED),  # multicast
    ("https://[::1]/hooks", REFUSED),
    ("https://[::]/hooks", REFUSED),
    ("https://[fe80::1]/hooks", REFUSED),
    ("https://[fc00::1]/hooks", REFUSED),
    ("https://[fd00:ec2::254]/latest/meta-data/", REFUSED),
    ("https://[ff02::1]/hooks", REFUSED),
    ("https://[::ffff:127.0.0.1]/hooks", REFUSED),  # IPv4-mapped loopback
    ("https://[::ffff:a9fe:a9fe]/hooks", REFUSED),  # IPv4-mapped metadata
    ("https://[::ffff:10.0.0.1]/hooks", REFUSED),
    ("https://[64:ff9b::7f00:1]/hooks", REFUSED),  # NAT64 of 127.0.0.1
    ("http://93.184.216.34/hooks", INSECURE),  # public, but plain http
    ("http://[2606:2800:220:1::1]/hooks", INSECURE),
]


@pytest.mark.parametrize(("url", "reason"), REFUSALS, ids=[u for u, _ in REFUSALS])
async def test_a_webhook_url_to_an_internal_address_or_over_http_is_refused_at_creation(
    strict: pb_stub, url: str, reason: str
) -> None:
    request = pb.CreateWebhookEndpointRequest(request_id=rid(), url=url)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await strict.CreateWebhookEndpoint(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(refused.value) == (reason, ["url"])
    listed = await strict.ListWebhookEndpoints(pb.ListWebhookEndpointsRequest())
    assert list(listed.endpoints) == []  # nothing written


async def test_a_public_https_url_is_accepted(strict: pb_stub) -> None:
    created = await strict.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(request_id=rid(), url="https://93.184.216.34/hooks")
    )
    assert created.endpoint.url == "https://93.184.216.34/hooks"


async def test_a_name_that_starts_resolving_to_a_refused_address_is_refused_at_delivery(
    ledger_server, receiver
) -> None:
    """The ledger allows 127.0.0.1 (the tests' receivers), not the rest of 127.0.0.0/8. The name
    first resolves to the allowed receiver, then to another receiver on 127.0.0.2, same port."""
    stub, webhooks = ledger_server.stub, ledger_server.ledger.webhooks
    names = NameTable({"hooks.test": ["127.0.0.1"]})
    webhooks.resolver = names
    elsewhere = Receiver(port=receiver.port, host="127.0.0.2")
    await elsewhere.start()
    try:
        wallet = await make_wallet(stub)
        endpoint_id, _ = await endpoint(
            stub, f"http://hooks.test:{receiver.port}/hooks", wallet.wallet_id
        )
        await make_grant(stub, wallet.wallet_id, "10")
        await webhooks.dispatch()
        assert await webhooks.deliver() == 1
        # Sent to the address that was checked, under the URL's name.
        (got,) = receiver.received
        assert got.headers["host"] == f"hooks.test:{receiver.port}"

        names.names["hooks.test"] = ["127.0.0.2"]
        await make_grant(stub, wallet.wallet_id, "20")
        await webhooks.dispatch()
        assert await webhooks.deliver() == 1
        assert elsewhere.requests == 0 and receiver.requests == 1
        latest = (await deliveries(stub, endpoint_id))[0]
        assert (latest.state, latest.last_status_code, latest.last_error) == (
            S.WEBHOOK_DELIVERY_STATE_PENDING,
            0,
            "refused by egress policy",
        )
    finally:
        await elsewhere.stop()


async def test_a_redirect_is_not_followed(ledger_server, receiver) -> None:
    stub, webhooks = ledger_server.stub, ledger_server.ledger.webhooks
    target = Receiver()
    await target.start()
    try:
        receiver.status = 307
        receiver.answer_headers = {"Location": target.url}
        wallet = await make_wallet(stub)
        endpoint_id, _ = await endpoint(stub, receiver.url, wallet.wallet_id)
        await make_grant(stub, wallet.wallet_id, "10")
        await webhooks.dispatch()
        assert await webhooks.deliver() == 1
        assert receiver.requests == 1 and target.requests == 0
        (d,) = await deliveries(stub, endpoint_id)
        assert (d.state, d.last_status_code, d.last_error) == (
            S.WEBHOOK_DELIVERY_STATE_PENDING,
            307,
            "HTTP 307",
        )
    finally:
        await target.stop()


async def test_the_delivery_log_records_a_coarse_class_not_the_systems_error(
    ledger_server, receiver
) -> None:
    """A closed port is "connection refused": no errno, no address, no port (the log is read by
    callers; such details would let them map what listens inside the network)."""
    stub, webhooks = ledger_server.stub, ledger_server.ledger.webhooks
    wallet = await make_wallet(stub)
    endpoint_id, _ = await endpoint(stub, receiver.url, wallet.wallet_id)
    await receiver.stop()
    await make_grant(stub, wallet.wallet_id, "10")
    await webhooks.dispatch()
    assert await webhooks.deliver() == 1
    (d,) = await deliveries(stub, endpoint_id)
    errors = [d.last_error] + [a.error for a in d.attempt_log]
    assert errors == ["connection refused", "connection refused"]
    assert not any(str(receiver.port) in e or "127.0.0.1" in e for e in errors)
