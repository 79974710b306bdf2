"""Webhooks over real TLS: the deliverer connects to the address it checked, and still verifies
the receiver's certificate against the URL's name (sent as the TLS server name and in the Host
header); a certificate for another name, or from an authority the ledger does not trust, is a
"TLS error" in the delivery log and nothing is delivered."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledger_service.adapters.http.webhook_sender import HttpxSender
from tests.support.ledger import make_grant, make_wallet
from tests.support.webhooks import NameTable, Receiver, deliveries, endpoint

S = pb.WebhookDeliveryState


@dataclass
class Pki:
    ca_pem: bytes
    cert_file: Path
    key_file: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pki]:
    """A test authority and a certificate it signed for hooks.test only."""
    folder = tmp_path_factory.mktemp("webhook-tls")
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("webhook test CA"))
        .issuer_name(_name("webhook test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("hooks.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    yield Pki(ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file)


@pytest.fixture
async def tls_receiver(pki: Pki) -> AsyncIterator[Receiver]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    receiver = Receiver(tls=context)
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


async def send_one(ledger_server, url: str) -> pb.WebhookDelivery:  # type: ignore[no-untyped-def]
    stub, webhooks = ledger_server.stub, ledger_server.ledger.webhooks
    wallet = await make_wallet(stub)
    endpoint_id, _ = await endpoint(stub, url, wallet.wallet_id)
    await make_grant(stub, wallet.wallet_id, "10")
    await webhooks.dispatch()
    assert await webhooks.deliver() == 1
    (d,) = await deliveries(stub, endpoint_id)
    return d


@pytest.mark.parametrize("trusted", [True, False], ids=["test-ca-trusted", "system-cas"])
async def test_the_certificate_is_verified_against_the_urls_name(
    ledger_server, tls_receiver, pki, trusted
) -> None:
    webhooks = ledger_server.ledger.webhooks
    # Both names lead to the receiver (127.0.0.1 is allowed for the tests' receivers).
    webhooks.resolver = NameTable({"hooks.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    if trusted:
        webhooks.sender = HttpxSender(
            5.0, 2.0, verify=ssl.create_default_context(cadata=pki.ca_pem.decode())
        )
    port = tls_receiver.port
    right = await send_one(ledger_server, f"https://hooks.test:{port}/hooks")
    wrong = await send_one(ledger_server, f"https://other.test:{port}/hooks")
    assert (wrong.state, wrong.last_status_code, wrong.last_error) == (
        S.WEBHOOK_DELIVERY_STATE_PENDING,
        0,
        "TLS error",
    )
    if trusted:
        assert (right.state, right.last_status_code) == (S.WEBHOOK_DELIVERY_STATE_DELIVERED, 200)
        (got,) = tls_receiver.received
        assert got.headers["host"] == f"hooks.test:{port}"
    else:
        assert (right.last_status_code, right.last_error) == (0, "TLS error")
        assert tls_receiver.received == []
