"""How every test reaches a server: one function opens a client channel, so the transport
security and the credentials a test client presents are decided in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc


def open_channel(target: str, options: Sequence[tuple[str, Any]] | None = None) -> grpc.aio.Channel:
    """A client channel to one of our servers, as a test client connects to it."""
    return grpc.aio.insecure_channel(target, options=options)
