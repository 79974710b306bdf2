"""Transport security on a real server: TLS only (a plain-text client is refused), mutual TLS
(a client certificate from our CA is required), and the start-up refusal of a configured
deployment without certificates."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billing_common import devcerts
from billing_common.clock import FakeClock
from billing_common.tls import channel_credentials
from ledger_service import main as ledger_main
from ledger_service.config import LedgerSettings
from rating_service import main as rating_main
from rating_service.adapters.ledger_client import LedgerClient
from rating_service.app.ports import LedgerUnavailable
from rating_service.config import RatingSettings
from tests.support.servers import RunningLedger
from tests.support.tls import dev_ca, server_settings

ROOT = Path(__file__).resolve().parents[2]


async def _health(
    channel: grpc.aio.Channel,
) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
    async with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
        return response.status


async def test_a_plain_text_client_is_refused_by_a_tls_server(
    ledger_server: RunningLedger,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _health(grpc.aio.insecure_channel(ledger_server.target))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_tls_client_that_trusts_the_ca_is_served(ledger_server: RunningLedger) -> None:
    channel = grpc.aio.secure_channel(ledger_server.target, channel_credentials(dev_ca().ca))
    assert await _health(channel) == health_pb2.HealthCheckResponse.SERVING


async def test_a_client_that_does_not_trust_the_servers_ca_is_refused(
    ledger_server: RunningLedger, tmp_path: Path
) -> None:
    other = devcerts.ensure(tmp_path / "other-ca")
    channel = grpc.aio.secure_channel(ledger_server.target, channel_credentials(other.ca))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _health(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.fixture
async def mutual_tls_target(ledger_db: str, clock: FakeClock) -> AsyncIterator[str]:
    """A ledger that requires client certificates signed by the tests' CA."""
    settings = LedgerSettings(
        database_url=ledger_db,
        listen="127.0.0.1:0",
        migrate=False,
        sweep_interval_s=0,
        tls_client_ca_file=str(dev_ca().ca),
        # The development client certificate is a credential here (the rating service's scopes).
        mtls_identities="dev-client=read,write",
        **server_settings(),
    )
    ledger = await ledger_main.build(settings, clock)
    port = await ledger.server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await ledger.close()


async def test_mutual_tls_refuses_a_client_without_a_certificate(mutual_tls_target: str) -> None:
    channel = grpc.aio.secure_channel(mutual_tls_target, channel_credentials(dev_ca().ca))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _health(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_refuses_a_certificate_from_another_ca(
    mutual_tls_target: str, tmp_path: Path
) -> None:
    other = devcerts.ensure(tmp_path / "other-ca")
    credentials = channel_credentials(dev_ca().ca, other.client_cert, other.client_key)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _health(grpc.aio.secure_channel(mutual_tls_target, credentials))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_serves_a_client_with_the_development_client_certificate(
    mutual_tls_target: str,
) -> None:
    certs = dev_ca()
    credentials = channel_credentials(certs.ca, certs.client_cert, certs.client_key)
    channel = grpc.aio.secure_channel(mutual_tls_target, credentials)
    assert await _health(channel) == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("module", ["ledger_service", "rating_service"])
def test_a_configured_database_without_certificates_is_a_start_up_error(module: str) -> None:
    prefix = module.split("_")[0].upper()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "RATING_"))}
    # Never reached: the settings are refused before anything connects.
    env[f"{prefix}_DATABASE_URL"] = "postgresql://billing@127.0.0.1:1/billing"
    done = subprocess.run(
        [sys.executable, "-m", module, "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "tls_cert_file and tls_key_file" in done.stderr
    assert "plaintext=true" in done.stderr


async def test_the_rating_services_ledger_client_presents_its_certificate_for_mutual_tls(
    mutual_tls_target: str,
) -> None:
    certs = dev_ca()
    settings = RatingSettings(
        database_url="postgresql://db/rating",
        ledger_tls_ca_file=str(certs.ca),
        ledger_tls_cert_file=str(certs.client_cert),
        ledger_tls_key_file=str(certs.client_key),
    )
    with_certificate = LedgerClient(
        mutual_tls_target, 10, credentials=rating_main.ledger_credentials(settings)
    )
    without = LedgerClient(mutual_tls_target, 2, credentials=channel_credentials(certs.ca))
    try:
        # Served: a wallet that does not exist is an answer, not a refused connection.
        assert await with_certificate.wallet(str(uuid.uuid4())) is None
        with pytest.raises(LedgerUnavailable):
            await without.wallet(str(uuid.uuid4()))
    finally:
        await with_certificate.close()
        await without.close()
