"""gRPC server plumbing shared by both services: the handler decorator that binds log context and
maps errors, and `serve`, which adds health checking and reflection and stops gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import signal
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import grpc
import structlog
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from billing_common import metrics
from billing_common.database import is_transient, unavailable
from billing_common.errors import BillingError, Internal, InvalidArgument, ResourceExhausted
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


# The transport's bounds, the same for both services: defaults, and the ranges an operator may
# choose from (each service's `limits` module re-exports them beside its own).
MIB = 1024 * 1024
MESSAGE_BYTES_MAX = 4 * MIB  # largest request; a batch of 1,000 items is well under 1 MiB
MESSAGE_BYTES_RANGE = (64 * 1024, 64 * MIB)
CONCURRENT_RPCS_MAX = 1000  # calls in our handlers at once
CONCURRENT_RPCS_RANGE = (1, 100_000)
KEEPALIVE_S = 60.0  # ping a silent connection's peer after this long
KEEPALIVE_TIMEOUT_S = 20.0  # and close it if the ping is not answered in this time
CONNECTION_IDLE_S = 300.0  # close a connection without calls after this long
SECONDS_RANGE = (1.0, 86_400.0)


class TransportSettings(Protocol):
    """The transport settings of a service's (frozen) settings."""

    @property
    def message_bytes_max(self) -> int: ...

    @property
    def concurrent_rpcs_max(self) -> int: ...

    @property
    def keepalive_s(self) -> float: ...

    @property
    def connection_idle_s(self) -> float: ...


def within(name: str, value: float, bounds: tuple[float, float]) -> None:
    """A setting inside its range, or ValueError naming it."""
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"setting {name}={value} is outside {low:g}..{high:g}")


def server_limits(settings: TransportSettings) -> ServerLimits:
    """The transport settings checked against their ranges, as server limits."""
    within("message_bytes_max", settings.message_bytes_max, MESSAGE_BYTES_RANGE)
    within("concurrent_rpcs_max", settings.concurrent_rpcs_max, CONCURRENT_RPCS_RANGE)
    within("keepalive_s", settings.keepalive_s, SECONDS_RANGE)
    within("connection_idle_s", settings.connection_idle_s, SECONDS_RANGE)
    return ServerLimits(
        message_bytes_max=settings.message_bytes_max,
        concurrent_rpcs_max=settings.concurrent_rpcs_max,
        keepalive_s=settings.keepalive_s,
        keepalive_timeout_s=KEEPALIVE_TIMEOUT_S,
        connection_idle_s=settings.connection_idle_s,
    )


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """The transport's bounds (defaults and ranges above; each service's `limits` checks them)."""

    # Largest request message accepted; a larger one is RESOURCE_EXHAUSTED before it is read.
    message_bytes_max: int
    # Calls of our services handled at once; more are RESOURCE_EXHAUSTED (health checks and
    # reflection are not counted, so an overloaded server still answers them).
    concurrent_rpcs_max: int
    # Ping a connection's peer after this long without traffic, and close the connection if
    # the ping is not answered within keepalive_timeout_s (half-open connections).
    keepalive_s: float
    keepalive_timeout_s: float
    # Close a connection that has had no call for this long.
    connection_idle_s: float

    @property
    def pending_rpcs_max(self) -> int:
        """Calls gRPC core may hold before our code picks them up. Its default (1,000) cancels
        calls silently beyond it (CANCELLED, nothing logged, the handler never runs); above our
        cap, every call reaches the concurrency check and gets a logged RESOURCE_EXHAUSTED."""
        return 4 * self.concurrent_rpcs_max

    def options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.max_receive_message_length", self.message_bytes_max),
            ("grpc.keepalive_time_ms", int(self.keepalive_s * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.keepalive_timeout_s * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.max_connection_idle_ms", int(self.connection_idle_s * 1000)),
            ("grpc.server.max_pending_requests", self.pending_rpcs_max),
            ("grpc.server.max_pending_requests_hard_limit", 2 * self.pending_rpcs_max),
        ]


# Services outside the concurrency cap: cheap, and what operators need most under overload.
_UNCOUNTED = ("/grpc.health.", "/grpc.reflection.")


class ConcurrencyLimit(grpc.aio.ServerInterceptor):
    """At most `limit` calls in our handlers at once; beyond it a call is RESOURCE_EXHAUSTED at
    once (logged and counted), rather than queued without bound. grpc.aio's own
    `maximum_concurrent_rpcs` queues excess calls instead of refusing them."""

    def __init__(self, limit: int, domain: str) -> None:
        self.limit = limit
        self.domain = domain
        self.in_flight = 0

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Req, Resp] | None]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Req, Resp] | None:
        handler = await continuation(details)
        if handler is None or details.method.startswith(_UNCOUNTED):
            return handler
        method = details.method.rsplit("/", 1)[-1]
        for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
            if (behavior := getattr(handler, kind)) is not None:
                # The factory of the kind of handler we were given (found by name: untyped).
                factory: Callable[..., grpc.RpcMethodHandler[Req, Resp]]
                factory = getattr(grpc, f"{kind}_rpc_method_handler")
                return factory(
                    self._counted(behavior, method),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
        return handler

    async def _refuse(self, method: str, context: Ctx) -> None:
        log.warning("rpc_refused_overload", rpc=method, in_flight=self.in_flight)
        metrics.RPC_REQUESTS.labels(method, "RESOURCE_EXHAUSTED").inc()
        error = ResourceExhausted(
            f"more than {self.limit} calls in progress; retry shortly with the same request_id",
            reason="TOO_MANY_CONCURRENT_RPCS",
        )
        await context.abort_with_status(to_grpc_status(error, self.domain))

    def _counted(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(behavior):

            async def stream(request: Any, context: Ctx) -> Any:
                if self.in_flight >= self.limit:
                    await self._refuse(method, context)
                self.in_flight += 1
                try:
                    async for message in behavior(request, context):
                        yield message
                finally:
                    self.in_flight -= 1

            return stream

        async def unary(request: Any, context: Ctx) -> Any:
            if self.in_flight >= self.limit:
                await self._refuse(method, context)
            self.in_flight += 1
            try:
                return await behavior(request, context)
            finally:
                self.in_flight -= 1

        return unary


class GrpcServer:
    """A grpc.aio server with health checking and reflection, started and stopped by its owner.

    `register` adds the servicers and returns their full service names. `worker` is the index
    of this process among the service's workers (None: the service runs in one process); only
    workers share the port (SO_REUSEPORT): a lone server refuses a port another process holds,
    rather than silently splitting the traffic with it.
    """

    def __init__(
        self,
        listen: str,
        register: Callable[[grpc.aio.Server], Sequence[str]],
        limits: ServerLimits,
        domain: str,
        worker: int | None = None,
    ) -> None:
        self.listen = listen
        self.limits = limits
        self.worker = worker
        self.concurrency = ConcurrencyLimit(limits.concurrent_rpcs_max, domain)
        options = [*limits.options(), ("grpc.so_reuseport", 0 if worker is None else 1)]
        self.server = grpc.aio.server(interceptors=[self.concurrency], options=options)
        self.names = list(register(self.server))
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        reflection.enable_server_reflection(
            [*self.names, health_name, reflection.SERVICE_NAME], self.server
        )
        self.port = 0

    @property
    def listen_target(self) -> str:
        """host:port of the started server (the port chosen when the listen port was 0)."""
        return f"{self.listen.rsplit(':', 1)[0]}:{self.port}"

    async def start(self) -> int:
        self.port = self.server.add_insecure_port(self.listen)
        if self.port == 0:
            raise OSError(f"could not listen on {self.listen}")
        await self.server.start()
        for name in ["", *self.names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        if self.worker is None:
            log.info("server_started", listen=self.listen, port=self.port, services=self.names)
        else:  # the supervisor logs server_started once every worker serves
            log.info("worker_started", worker=self.worker, pid=os.getpid(), port=self.port)
        return self.port

    async def stop(self, grace_s: float) -> None:
        """Health turns NOT_SERVING, new calls are refused, in-flight calls get grace_s to
        finish; each commits or rolls back whole, so nothing is left half-written."""
        log.info("server_stopping", grace_s=grace_s)
        for name in ["", *self.names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.stop(grace_s)
        log.info("server_stopped")


Job = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def exit_on_stop_signals() -> None:
    """Until the server runs (it then handles them itself), SIGTERM and SIGINT exit through
    SystemExit, so exit hooks run (the embedded PostgreSQL's last user stops it) even when the
    signal arrives during start-up (migrations, for example)."""

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, leave)


async def serve_until_signal(
    server: GrpcServer,
    grace_s: float,
    background: Iterable[Job] = (),
    started: Callable[[], None] | None = None,
) -> None:
    """Run until SIGTERM or SIGINT, then stop the server and tell background jobs to stop.
    `started` is called once the server serves (a worker tells its supervisor)."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await server.start()
    if started is not None:
        started()
    tasks = [asyncio.create_task(job(stopping)) for job in background]
    await stopping.wait()
    await server.stop(grace_s)
    await asyncio.gather(*tasks, return_exceptions=True)


async def every(
    interval_s: float, stopping: asyncio.Event, work: Callable[[], Awaitable[object]], name: str
) -> None:
    """Run `work` every interval_s until `stopping` is set; failures are logged, not fatal."""
    while not stopping.is_set():
        try:
            await work()
        except Exception:
            log.exception("background_job_failed", job=name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval_s)
