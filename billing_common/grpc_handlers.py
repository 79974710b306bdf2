"""A service's handlers: the decorator that binds a call's log context, refuses bad strings and
maps errors to rich statuses (`rpc`, `stream_rpc`), and the registration that lets a handler
answer with bytes already encoded (`add_servicer`)."""

from __future__ import annotations

import functools
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
)
from typing import Any, TypeVar

import grpc
import structlog
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from billing_common import metrics
from billing_common.database import is_transient, unavailable
from billing_common.errors import BillingError, Internal, InvalidArgument
from billing_common.grpc_errors import classify, to_grpc_status

log = structlog.get_logger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")
# The context gRPC hands a handler. grpc.aio dispatches to handlers untyped, so its request and
# response type parameters carry nothing: `object`.
Ctx = grpc.aio.ServicerContext[object, object]
Handler = Callable[[Any, Req, Ctx], Awaitable[Resp]]

# Request fields bound into every log line of a call, when the request has them.
_LOG_FIELDS = ("request_id", "wallet_id", "customer_id", "grant_id", "entry_id")


def as_billing_error(exc: Exception) -> BillingError:
    """What a caller hears of an exception a handler raised: itself if it is ours, Unavailable
    if the database is unreachable for now, else Internal (and the details go to our log)."""
    if isinstance(exc, BillingError):
        return exc
    if is_transient(exc):
        log.warning("rpc_transient_failure", error=repr(exc))
        return unavailable()
    # A bug: the details go to our logs, never to the caller.
    log.error("rpc_internal_error", exc_info=exc)
    return Internal("internal error; the service logged the details")


def nul_field(message: Message) -> str | None:
    """The path of the first string in a request holding a NUL character (PostgreSQL text cannot
    store one), or None."""
    return next((path for path, text in _strings(message, "") if "\x00" in text), None)


def _strings(message: Message, prefix: str) -> Iterator[tuple[str, str]]:
    """Every string of a message, map keys included, with its path, depth first."""
    for fd, value in message.ListFields():
        name = prefix + fd.name
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            for key, item in value.items():
                yield f"{name}[{key!r}]", str(key)
                yield from _value_strings(f"{name}[{key!r}]", item)
        elif fd.is_repeated:
            for i, item in enumerate(value):
                yield from _value_strings(f"{name}[{i}]", item)
        else:
            yield from _value_strings(name, value)


def _value_strings(path: str, value: object) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Message):
        yield from _strings(value, path + ".")


def add_servicer(server: grpc.aio.Server, servicer: object, service: ServiceDescriptor) -> str:
    """Register `servicer` for `service` as the generated `add_..._to_server` does, except that a
    method may return its response already encoded: a write's response is encoded once, stored
    with its request id for replays, and sent as those bytes, never parsed and encoded again.
    Returns the service's full name."""
    handlers = {}
    for method in service.methods:
        request = message_factory.GetMessageClass(method.input_type)
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=request.FromString,
            response_serializer=_encoded,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)
    return str(service.full_name)


def _encoded(response: Message | bytes) -> bytes:
    return response if isinstance(response, bytes) else response.SerializeToString()


def rpc(domain: str) -> Callable[[Handler[Req, Resp]], Handler[Req, Resp]]:
    """Decorate a servicer method: bind log context, map BillingError to a rich status."""

    def decorate(handler: Handler[Req, Resp]) -> Handler[Req, Resp]:
        method = handler.__name__

        @functools.wraps(handler)
        async def wrapper(self: Any, request: Req, context: Ctx) -> Resp:
            fields = {f: getattr(request, f) for f in _LOG_FIELDS if getattr(request, f, "")}
            started = time.perf_counter()
            code = "OK"
            with structlog.contextvars.bound_contextvars(rpc=method, **fields):
                try:
                    try:
                        if isinstance(request, Message) and (path := nul_field(request)):
                            raise InvalidArgument.field(
                                path, "must not contain NUL characters", "INVALID_TEXT"
                            )
                        return await handler(self, request, context)
                    except BillingError as exc:
                        log.info("rpc_refused", reason=exc.reason, message=exc.message)
                        err = exc
                    except Exception as exc:
                        if isinstance(exc, grpc.aio.AbortError):
                            code = "ABORTED_BY_HANDLER"
                            raise
                        err = as_billing_error(exc)
                    code = classify(err)[0].name
                    await context.abort_with_status(to_grpc_status(err, domain))
                    raise AssertionError("unreachable: abort_with_status raises")
                finally:
                    metrics.RPC_REQUESTS.labels(method, code).inc()
                    metrics.RPC_LATENCY.labels(method).observe(time.perf_counter() - started)

        return wrapper

    return decorate


StreamHandler = Callable[[Any, Req, Ctx], AsyncIterator[Resp]]


def stream_rpc(
    domain: str,
) -> Callable[[StreamHandler[Req, Resp]], StreamHandler[Req, Resp]]:
    """`rpc` for a server-streaming method: an error raised while the stream runs ends it with
    the same rich status a unary call would get (UNAVAILABLE for a database outage), never
    UNKNOWN."""

    def decorate(handler: StreamHandler[Req, Resp]) -> StreamHandler[Req, Resp]:
        method = handler.__name__

        @functools.wraps(handler)
        async def wrapper(self: Any, request: Req, context: Ctx) -> AsyncIterator[Resp]:
            fields = {f: getattr(request, f) for f in _LOG_FIELDS if getattr(request, f, "")}
            with structlog.contextvars.bound_contextvars(rpc=method, **fields):
                try:
                    async for message in handler(self, request, context):
                        yield message
                    return
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    err = as_billing_error(exc)
                metrics.RPC_REQUESTS.labels(method, classify(err)[0].name).inc()
                await context.abort_with_status(to_grpc_status(err, domain))

        return wrapper

    return decorate
