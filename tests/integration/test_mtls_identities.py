"""With mutual TLS, a verified client certificate is a credential: its common name is the caller
`cert:<name>` with the scopes `mtls_identities` gives it; a name not listed is refused. The
certificates are made here (a throwaway CA); the servers' own TLS settings are the transport's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address

import grpc
import pytest
from billing.auth.v1 import api_keys_pb2 as kpb
from billing.auth.v1 import api_keys_pb2_grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from billing_common import api_key_service, api_keys, auth
from billing_common.api_key_store import ApiKeyStore
from billing_common.clock import FakeClock
from billing_common.database import create_engine
from tests.support.errors import reason_of
from tests.support.servers import START

pytestmark = pytest.mark.asyncio

Pem = tuple[bytes, bytes]  # certificate, key


def _cert(
    name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key


def _pem(pair: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> Pem:
    cert, key = pair
    return cert.public_bytes(serialization.Encoding.PEM), key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
async def server(ledger_db: str) -> AsyncIterator[tuple[str, bytes, dict[str, Pem]]]:
    """An mTLS server of the key management service behind the authentication interceptor;
    yields its target, the CA and client certificates by common name."""
    ca = _cert("test ca", None)
    ca_pem = _pem(ca)[0]
    clients = {name: _pem(_cert(name, ca)) for name in ("ops", "reader", "stranger")}
    engine = create_engine(ledger_db, pool_size=2)
    clock = FakeClock(START)
    store = ApiKeyStore(engine)
    interceptor = auth.Authentication(
        store,
        clock,
        auth.method_scopes(api_key_service.SERVICE.full_name, api_key_service.SCOPES),
        "test.billing",
        api_keys.parse_identities("ops=admin;reader=read"),
    )
    grpc_server = grpc.aio.server(interceptors=[interceptor])
    api_key_service.add_to_server(
        grpc_server, api_key_service.ApiKeyServicer(store, clock, "test.billing")
    )
    server_cert, server_key = _pem(_cert("server", ca))
    credentials = grpc.ssl_server_credentials(
        [(server_key, server_cert)], root_certificates=ca_pem, require_client_auth=True
    )
    port = grpc_server.add_secure_port("127.0.0.1:0", credentials)
    await grpc_server.start()
    try:
        yield f"127.0.0.1:{port}", ca_pem, clients
    finally:
        await grpc_server.stop(0)
        await engine.dispose()


async def _list_as(target: str, ca: bytes, client: Pem) -> kpb.ListApiKeysResponse:
    credentials = grpc.ssl_channel_credentials(
        ca, private_key=client[1], certificate_chain=client[0]
    )
    async with grpc.aio.secure_channel(target, credentials) as channel:
        stub = api_keys_pb2_grpc.ApiKeyServiceStub(channel)
        response: kpb.ListApiKeysResponse = await stub.ListApiKeys(kpb.ListApiKeysRequest())
        return response


async def test_a_mapped_certificate_is_a_credential_with_its_scopes(
    server: tuple[str, bytes, dict[str, Pem]],
) -> None:
    target, ca, clients = server
    assert list((await _list_as(target, ca, clients["ops"])).api_keys) == []
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await _list_as(target, ca, clients["reader"])
    assert (denied.value.code(), reason_of(denied.value)[0]) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "SCOPE_MISSING",
    )


async def test_a_certificate_not_mapped_to_scopes_is_unauthenticated(
    server: tuple[str, bytes, dict[str, Pem]],
) -> None:
    target, ca, clients = server
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _list_as(target, ca, clients["stranger"])
    assert (refused.value.code(), reason_of(refused.value)[0]) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "CERTIFICATE_NOT_ALLOWED",
    )
