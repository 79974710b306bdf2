"""Transport security, the same for both services: which certificate a server presents (and
whether it requires its clients' certificates), and how a client channel trusts a server.

Secure by default. A server serves TLS; its files come from the settings `tls_cert_file` and
`tls_key_file`; `tls_client_ca_file` set means mutual TLS (a client must present a certificate
that authority signed). Nothing configured: with the embedded database, the development CA in
`<data_dir's parent>/tls` (created on first start: billing_common/devcerts.py); with a configured
database, a start-up error naming the settings. `plaintext=true` is the development switch that
serves without TLS; it logs a warning at every start."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc
import structlog

from billing_common import devcerts

log = structlog.get_logger(__name__)

S = TypeVar("S", bound=Any)  # a service's frozen settings dataclass


class TlsSettings(Protocol):
    """What the server's transport security is decided from, in a service's settings."""

    @property
    def database_url(self) -> str: ...

    @property
    def data_dir(self) -> Path: ...

    @property
    def tls_cert_file(self) -> str: ...

    @property
    def tls_key_file(self) -> str: ...

    @property
    def tls_client_ca_file(self) -> str: ...

    @property
    def plaintext(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class ServerTls:
    """The files a TLS server is built from; client_ca_file set: mutual TLS."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        roots = self.client_ca_file.read_bytes() if self.client_ca_file else None
        return grpc.ssl_server_credentials(
            [(self.key_file.read_bytes(), self.cert_file.read_bytes())],
            root_certificates=roots,
            require_client_auth=roots is not None,
        )


def dev_folder(data_dir: Path) -> Path:
    """Where the development CA lives beside the embedded database: `.data/tls` by default."""
    return data_dir.parent / "tls"


def check(settings: TlsSettings) -> None:
    """ValueError naming the settings unless the server's TLS can be decided: a certificate and
    its key, or the embedded database (the development CA), or the plaintext switch."""
    if settings.plaintext:
        return
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        raise ValueError("settings tls_cert_file and tls_key_file must be set together")
    if settings.database_url and not settings.tls_cert_file:
        raise ValueError(
            "no TLS certificate for a configured database: set tls_cert_file and tls_key_file "
            "(and tls_client_ca_file for mutual TLS), or plaintext=true to serve without TLS "
            "in development"
        )


def server_tls(settings: TlsSettings) -> ServerTls | None:
    """The server's TLS files (None: plain text, by the explicit switch), creating the
    development CA with the embedded database; ValueError as `check` says."""
    check(settings)
    if settings.plaintext:
        log.warning(
            "tls_disabled",
            detail="plaintext=true: serving without TLS; anyone on the network can read and "
            "alter the calls. For development only",
        )
        return None
    client_ca = Path(settings.tls_client_ca_file) if settings.tls_client_ca_file else None
    if settings.tls_cert_file:
        return ServerTls(Path(settings.tls_cert_file), Path(settings.tls_key_file), client_ca)
    certs = devcerts.ensure(dev_folder(settings.data_dir))
    log.info("tls_development_ca", folder=str(certs.folder), ca=str(certs.ca))
    return ServerTls(certs.server_cert, certs.server_key, client_ca)


def with_files(settings: S, server: ServerTls | None) -> S:
    """The settings naming the files `server_tls` chose, so other processes (the workers) serve
    the same ones without deciding again."""
    if server is None:
        return settings
    return replace(
        settings,
        tls_cert_file=str(server.cert_file),
        tls_key_file=str(server.key_file),
        tls_client_ca_file=str(server.client_ca_file or ""),
    )


def channel_credentials(
    ca_file: Path | None, cert_file: Path | None = None, key_file: Path | None = None
) -> grpc.ChannelCredentials:
    """A client's TLS credentials: trusting `ca_file` (None: the system's trusted roots),
    presenting the client certificate cert_file/key_file when given (mutual TLS)."""
    if (cert_file is None) != (key_file is None):
        raise ValueError("a client certificate needs both its certificate and its key file")
    return grpc.ssl_channel_credentials(
        root_certificates=ca_file.read_bytes() if ca_file else None,
        private_key=key_file.read_bytes() if key_file else None,
        certificate_chain=cert_file.read_bytes() if cert_file else None,
    )
