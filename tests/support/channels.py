"""How every test reaches a server: one function opens a client channel, so the transport
security and the credentials a test client presents are decided in one place."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from billing_common import api_keys
from billing_common.auth_setup import write_key
from billing_common.client_auth import bearer_interceptors
from billing_common.tls import channel_credentials
from tests.support.tls import dev_ca


@functools.cache
def admin_key_file() -> Path:
    """The test session's admin key file (mode 0600, written once per test process): every test
    server is started with it as admin_key_file, and every test client presents its key."""
    return Path(tempfile.mkdtemp(prefix="billing-test-keys-")) / "admin.key"


@functools.cache
def admin_key() -> str:
    return write_key(admin_key_file(), api_keys.new_key()[1])


def open_channel(
    target: str, options: Sequence[tuple[str, Any]] | None = None, key: str | None = None
) -> grpc.aio.Channel:
    """A client channel to one of our servers, as a test client connects to it: TLS, trusting
    the tests' development CA (tests/support/tls.py), with the session's admin key, or `key`
    ("" for none)."""
    sent = admin_key() if key is None else key
    return grpc.aio.secure_channel(
        target,
        channel_credentials(dev_ca().ca),
        options=options,
        interceptors=bearer_interceptors(lambda: sent or None),
    )
