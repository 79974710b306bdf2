"""TEST SUPPORT ONLY: bind a call's principal from a metadata header, until API keys do it.

The services bind `billing_common.principal` from a verified credential (API key or client
certificate); nothing in them reads this header. Tests of tenant isolation and audit need calls
made as a given principal before that exists, so they run the real servicers on a second, test-only
server whose interceptor reads `x-test-principal` (JSON: actor, and customers or null for every
customer) and binds it for the handler. When the keys work lands, these tests switch to real keys.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
from billing.ledger.v1 import ledger_pb2
from billing.rating.v1 import rating_pb2_grpc

from billing_common import principal
from billing_common.grpc_handlers import add_servicer
from tests.support.channels import open_channel

HEADER = "x-test-principal"


def as_tenant(actor: str, customers: Sequence[str] | None) -> tuple[tuple[str, str]]:
    """Call metadata that makes the test server run a call as this principal."""
    value = json.dumps({"actor": actor, "customers": None if customers is None else [*customers]})
    return ((HEADER, value),)


def _parse(value: str) -> principal.Principal:
    data = json.loads(value)
    customers = data.get("customers")
    return principal.Principal(
        data["actor"], principal.SCOPES, None if customers is None else frozenset(customers)
    )


def _unary(behavior: Callable[..., Awaitable[Any]], who: principal.Principal) -> Any:
    async def call(request: Any, context: Any) -> Any:
        token = principal.bind(who)
        try:
            return await behavior(request, context)
        finally:
            principal.unbind(token)

    return call


def _streaming(behavior: Callable[..., AsyncIterator[Any]], who: principal.Principal) -> Any:
    async def call(request: Any, context: Any) -> AsyncIterator[Any]:
        token = principal.bind(who)
        try:
            async for response in behavior(request, context):
                yield response
        finally:
            principal.unbind(token)

    return call


class BindTestPrincipal(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Runs each call that carries `x-test-principal` as that principal (test servers only)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        value = dict(details.invocation_metadata or ()).get(HEADER)
        if handler is None or value is None:
            return handler
        who = _parse(value)
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=_unary(handler.unary_unary, who))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=_streaming(handler.unary_stream, who))
        if handler.stream_stream is not None:
            return handler._replace(stream_stream=_streaming(handler.stream_stream, who))
        return handler._replace(stream_unary=_unary(handler.stream_unary, who))


class PrincipalServer:
    """A second server for a service's real servicer, with the test principal interceptor.
    `register` adds the servicer to it (as the service's main.py does)."""

    def __init__(self, register: Callable[[grpc.aio.Server], object]) -> None:
        self.server = grpc.aio.server(interceptors=[BindTestPrincipal()])
        register(self.server)
        self.channel: grpc.aio.Channel | None = None

    @classmethod
    def for_ledger(cls, servicer: object) -> PrincipalServer:
        service = ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"]
        return cls(lambda server: add_servicer(server, servicer, service))

    @classmethod
    def for_rating(cls, servicer: rating_pb2_grpc.RatingServiceServicer) -> PrincipalServer:
        return cls(
            lambda server: rating_pb2_grpc.add_RatingServiceServicer_to_server(servicer, server)
        )

    async def start(self) -> grpc.aio.Channel:
        port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        self.channel = open_channel(f"127.0.0.1:{port}")
        return self.channel

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close()
        await self.server.stop(0)
