"""How a server decides its transport security from its settings (billing_common/tls.py), and
the development CA (billing_common/devcerts.py): names, key modes, idempotence."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from structlog.testing import capture_logs

from billing_common import devcerts, tls
from ledger_service.config import LedgerSettings
from rating_service import main as rating_main
from rating_service.config import RatingSettings


def _names(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n) for n in sans.get_values_for_type(x509.DNSName)} | {
        str(n) for n in sans.get_values_for_type(x509.IPAddress)
    }


def test_the_server_certificate_names_loopback_the_compose_services_and_extra_hosts(
    tmp_path: Path,
) -> None:
    certs = devcerts.ensure(tmp_path, ["billing.internal", "10.0.0.7"])
    assert _names(certs.server_cert) == {
        "localhost",
        str(ipaddress.ip_address("127.0.0.1")),
        str(ipaddress.ip_address("::1")),
        "ledger",
        "rating",
        "billing.internal",
        "10.0.0.7",
    }


def test_the_client_certificate_is_for_client_authentication_as_dev_client(
    tmp_path: Path,
) -> None:
    cert = x509.load_pem_x509_certificate(devcerts.ensure(tmp_path).client_cert.read_bytes())
    name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert name == "dev-client"
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_keys_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    certs = devcerts.ensure(tmp_path)
    for key in (certs.ca_key, certs.server_key, certs.client_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_creating_the_development_ca_twice_keeps_what_exists(tmp_path: Path) -> None:
    certs = devcerts.ensure(tmp_path)
    files = (certs.ca, certs.ca_key, certs.server_cert, certs.server_key, certs.client_cert)
    before = {f: f.read_bytes() for f in files}
    devcerts.main(["--out", str(tmp_path), "--host", "another"])
    assert {f: f.read_bytes() for f in files} == before


def test_a_missing_certificate_is_issued_again_by_the_same_ca(tmp_path: Path) -> None:
    certs = devcerts.ensure(tmp_path)
    ca = certs.ca.read_bytes()
    certs.server_cert.unlink()
    devcerts.ensure(tmp_path, ["another"])
    assert certs.ca.read_bytes() == ca
    assert "another" in _names(certs.server_cert)


def test_the_embedded_database_creates_the_development_ca_beside_its_data(
    tmp_path: Path,
) -> None:
    settings = LedgerSettings(data_dir=tmp_path / "postgres")
    server = tls.server_tls(settings)
    assert server is not None
    assert server.cert_file == tmp_path / "tls" / "server.pem"
    assert server.client_ca_file is None
    assert (tmp_path / "tls" / "ca.pem").exists()


def test_a_configured_database_without_certificates_is_refused_naming_the_settings() -> None:
    with pytest.raises(ValueError, match="set tls_cert_file and tls_key_file") as refused:
        tls.server_tls(LedgerSettings(database_url="postgresql://db/ledger"))
    assert "plaintext=true" in str(refused.value)


def test_a_certificate_without_its_key_is_refused() -> None:
    with pytest.raises(ValueError, match="tls_cert_file and tls_key_file must be set together"):
        tls.check(RatingSettings(tls_cert_file="server.pem"))


def test_plaintext_serves_without_tls_and_warns() -> None:
    with capture_logs() as logs:
        server = tls.server_tls(LedgerSettings(database_url="postgresql://db/l", plaintext=True))
    assert server is None
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["tls_disabled"]


def test_configured_files_and_a_client_ca_mean_mutual_tls(tmp_path: Path) -> None:
    certs = devcerts.ensure(tmp_path)
    settings = LedgerSettings(
        database_url="postgresql://db/ledger",
        tls_cert_file=str(certs.server_cert),
        tls_key_file=str(certs.server_key),
        tls_client_ca_file=str(certs.ca),
    )
    assert tls.server_tls(settings) == tls.ServerTls(certs.server_cert, certs.server_key, certs.ca)


def test_the_ledger_client_is_plain_text_only_by_its_switch(tmp_path: Path) -> None:
    embedded = RatingSettings(data_dir=tmp_path / "postgres")
    assert rating_main.ledger_credentials(embedded) is not None
    assert (tmp_path / "tls" / "ca.pem").exists()
    assert rating_main.ledger_credentials(RatingSettings(ledger_plaintext=True)) is None


def test_the_supervisor_hands_its_workers_the_files_it_chose(tmp_path: Path) -> None:
    settings = LedgerSettings(data_dir=tmp_path / "postgres", workers=2)
    workers_settings = tls.with_files(settings, tls.server_tls(settings))
    assert workers_settings.tls_cert_file == str(tmp_path / "tls" / "server.pem")
    assert workers_settings.tls_key_file == str(tmp_path / "tls" / "server.key")


def test_a_new_ca_reissues_the_certificates_it_must_sign(tmp_path: Path) -> None:
    certs = devcerts.ensure(tmp_path)
    old_server = certs.server_cert.read_bytes()
    certs.ca.unlink()
    devcerts.ensure(tmp_path)
    ca = x509.load_pem_x509_certificate(certs.ca.read_bytes())
    for path in (certs.server_cert, certs.client_cert):
        x509.load_pem_x509_certificate(path.read_bytes()).verify_directly_issued_by(ca)
    assert certs.server_cert.read_bytes() != old_server
