"""Opening a channel to one of the services: TLS (the services serve nothing else unless started
with their development switch), an optional client certificate for mutual TLS, and an optional
API key sent as `authorization: Bearer <key>` on every call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc


def open_channel(
    target: str,
    *,
    ca_file: str | Path | None = None,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
    api_key: str | None = None,
    plaintext: bool = False,
    options: Sequence[tuple[str, Any]] | None = None,
) -> grpc.aio.Channel:
    """A channel to `target` ("host:port").

    `ca_file`: the CA that signed the server's certificate (PEM; None: the system's trusted
    roots; a development deployment's is `.data/tls/ca.pem`). `cert_file`/`key_file`: a client
    certificate, for a server that requires mutual TLS. `api_key`: the credential sent with every
    call. `plaintext`: no TLS, only for a server started with `plaintext=true`; an API key is
    never sent in plain text (ValueError)."""
    if plaintext:
        if api_key:
            raise ValueError("an API key is only sent over TLS (plaintext=False)")
        return grpc.aio.insecure_channel(target, options=options)
    if (cert_file is None) != (key_file is None):
        raise ValueError("a client certificate needs both cert_file and key_file")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(ca_file).read_bytes() if ca_file else None,
        private_key=Path(key_file).read_bytes() if key_file else None,
        certificate_chain=Path(cert_file).read_bytes() if cert_file else None,
    )
    if api_key:
        # gRPC sends it as `authorization: Bearer <api_key>`, and only over TLS.
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(api_key)
        )
    return grpc.aio.secure_channel(target, credentials, options=options)
