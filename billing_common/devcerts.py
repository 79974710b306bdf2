"""A development certificate authority: `python -m billing_common.devcerts --out DIR [--host NAME]`.

It writes, into DIR, what both services and their clients need for TLS and mutual TLS in
development: ca.pem (+ ca.key, to sign more), server.pem/server.key (names: localhost,
127.0.0.1, ::1, the compose services `ledger` and `rating`, and every --host), client.pem/
client.key (common name `dev-client`, for mutual TLS). Keys are written 0600. What exists is
kept (delete a file to issue it again; a new CA reissues both certificates), so running it twice,
or from two processes at once (both services on first start, under a file lock), changes
nothing. Production certificates come from the operator's own authority; nothing here is meant
for them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import ipaddress
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Names every development server certificate carries: loopback, and the compose service names.
SERVER_NAMES = ("localhost", "127.0.0.1", "::1", "ledger", "rating")
CLIENT_COMMON_NAME = "dev-client"
VALID_DAYS = 825  # the longest validity clients accept for a server certificate


@dataclass(frozen=True, slots=True)
class DevCerts:
    """The files of a development CA folder."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    @property
    def client_cert(self) -> Path:
        return self.folder / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.folder / "client.key"


def ensure(folder: Path, hosts: Sequence[str] = ()) -> DevCerts:
    """The development CA and certificates in `folder`, created where missing (see the module's
    docstring); returns their paths."""
    certs = DevCerts(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / ".lock"):
        # A new CA reissues both certificates: ones signed by a CA that is gone would be refused.
        new_ca = not (certs.ca.exists() and certs.ca_key.exists())
        if new_ca:
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "billing development CA")])
            ca = (
                _builder(name, name, key.public_key())
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(_usage(cert_sign=True), critical=True)
                .sign(key, hashes.SHA256())
            )
            _write_key(certs.ca_key, key)
            certs.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        ca_cert = x509.load_pem_x509_certificate(certs.ca.read_bytes())
        ca_key = serialization.load_pem_private_key(certs.ca_key.read_bytes(), None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        if new_ca or not (certs.server_cert.exists() and certs.server_key.exists()):
            names = list(dict.fromkeys([*SERVER_NAMES, *hosts]))
            _issue(
                certs.server_cert, certs.server_key, ca_cert, ca_key, names[0], names, server=True
            )
        if new_ca or not (certs.client_cert.exists() and certs.client_key.exists()):
            _issue(
                certs.client_cert, certs.client_key, ca_cert, ca_key, CLIENT_COMMON_NAME, [], False
            )
    return certs


def _issue(
    cert_path: Path,
    key_path: Path,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    names: Sequence[str],
    server: bool,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    purpose = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        _builder(subject, ca.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
        )
    _write_key(key_path, key)
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))  # a peer's clock a little behind
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
    )


def _usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """The key, readable by its owner only from the moment the file exists."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_parser() -> argparse.ArgumentParser:
    return folder_parser(
        "python -m billing_common.devcerts",
        "Create a development CA, a server and a client certificate (kept if they exist).",
    )


def folder_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The command line of a development command that fills a folder (--out) and names the
    server certificate's extra hosts (--host)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        help="another name or address the server certificate must carry (repeatable)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    certs = ensure(args.out, args.host)
    print(f"development CA and certificates in {certs.folder}")


if __name__ == "__main__":
    main()
