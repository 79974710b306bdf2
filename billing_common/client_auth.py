"""The client side of authentication: channel interceptors that send an API key as
`authorization: Bearer <key>` on every call (on insecure and TLS channels alike)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc


class KeyFromFile:
    """A key read from a file when first needed, then kept (the file may appear after the
    client starts: the ledger writes the rating service's key on its first start)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: str | None = None

    def __call__(self) -> str | None:
        if self._key is None:
            try:
                self._key = self.path.read_text().strip() or None
            except FileNotFoundError:
                return None
        return self._key


def _with_key(details: Any, key: Callable[[], str | None]) -> Any:
    value = key()
    if value is None:
        return details
    metadata = [*(details.metadata or ()), ("authorization", f"Bearer {value}")]
    return details._replace(metadata=metadata)


class _UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, key: Callable[[], str | None]) -> None:
        self.key = key

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_key(details, self.key), request)


class _UnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, key: Callable[[], str | None]) -> None:
        self.key = key

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_key(details, self.key), request)


class _StreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self, key: Callable[[], str | None]) -> None:
        self.key = key

    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(_with_key(details, self.key), requests)


class _StreamStream(grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, key: Callable[[], str | None]) -> None:
        self.key = key

    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(_with_key(details, self.key), requests)


def bearer_interceptors(key: Callable[[], str | None]) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors for grpc.aio.*_channel(..., interceptors=...) sending key() (when not None)
    on every call of every kind."""
    return [_UnaryUnary(key), _UnaryStream(key), _StreamUnary(key), _StreamStream(key)]


class _SyncBearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """The same for the synchronous API (the CLI): grpc.intercept_channel(channel, it)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(_with_key(details, lambda: self.key), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(_with_key(details, lambda: self.key), request)


def with_key(channel: grpc.Channel, key: str) -> grpc.Channel:
    """A synchronous channel sending `key` on every call (unchanged when key is empty)."""
    return grpc.intercept_channel(channel, _SyncBearer(key)) if key else channel
