"""Unary calls with a deadline on every call and retries of UNAVAILABLE (see _retry.py).

`timeout_s` is the budget of the whole call: every attempt and every backoff wait come out of it,
so a caller's deadline holds however many retries happen.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from billing_client._errors import DeadlineExceeded, from_rpc_error
from billing_client._retry import RetryPolicy

ResponseT = TypeVar("ResponseT", bound=Message)

DEFAULT_TIMEOUT_S = 10.0


class ServiceClient:
    """Calls the methods of one gRPC service on a channel: `await client.call("Debit", request,
    DebitResponse)`. The typed helpers of LedgerClient are built on this."""

    service: str = ""  # full name, for example "billing.ledger.v1.LedgerService"

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        assert self.service, "subclasses name their service"
        self._channel = channel
        self._timeout_s = timeout_s
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._methods: dict[str, grpc.aio.UnaryUnaryMultiCallable[Any, Any]] = {}

    async def call(
        self,
        method: str,
        request: Message,
        response_type: type[ResponseT],
        *,
        timeout_s: float | None = None,
    ) -> ResponseT:
        """Send `request` to `method` (for example "Debit") and return its response."""
        budget_s = self._timeout_s if timeout_s is None else timeout_s
        deadline = self._clock() + budget_s
        callable_ = self._method(method, response_type)
        attempt = 0
        while True:
            attempt += 1
            remaining_s = deadline - self._clock()
            if remaining_s <= 0:
                raise DeadlineExceeded(
                    method,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"no time left for attempt {attempt} within {budget_s}s",
                    attempts=attempt - 1,
                )
            try:
                response: ResponseT = await callable_(request, timeout=remaining_s)
                return response
            except grpc.aio.AioRpcError as exc:
                retryable = exc.code() == grpc.StatusCode.UNAVAILABLE
                wait_s = self._retry.backoff_s(attempt, self._rng)
                if (
                    not retryable
                    or attempt >= self._retry.attempts_max
                    # Waiting past the deadline only to fail then: give the answer we have now.
                    or self._clock() + wait_s >= deadline
                ):
                    raise from_rpc_error(exc, method, attempt) from exc
            await self._sleep(wait_s)

    def _method(
        self, method: str, response_type: type[Message]
    ) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
        # What the generated *_pb2_grpc stubs do, minus their untyped constructor.
        if method not in self._methods:
            self._methods[method] = self._channel.unary_unary(
                f"/{self.service}/{method}",
                request_serializer=_serialize,
                response_deserializer=response_type.FromString,
            )
        return self._methods[method]


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()
