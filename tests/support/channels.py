"""How every test reaches a server: one function opens a client channel, so the transport
security and the credentials a test client presents are decided in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from billing_common.tls import channel_credentials
from tests.support.tls import dev_ca


def open_channel(target: str, options: Sequence[tuple[str, Any]] | None = None) -> grpc.aio.Channel:
    """A client channel to one of our servers, as a test client connects to it: TLS, trusting
    the tests' development CA (tests/support/tls.py)."""
    return grpc.aio.secure_channel(target, channel_credentials(dev_ca().ca), options=options)
