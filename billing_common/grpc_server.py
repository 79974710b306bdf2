"""gRPC server plumbing shared by both services: the server with health checking, reflection and the
concurrency cap, graceful stop on a signal, periodic jobs. Handlers: grpc_handlers.py; the
transport's bounds: transport.py."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Sequence,
)
from typing import TYPE_CHECKING, Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from billing_common import connect, metrics, reflection
from billing_common.errors import ResourceExhausted
from billing_common.grpc_errors import to_grpc_status
from billing_common.grpc_handlers import Ctx, Req, Resp
from billing_common.http_server import HttpServer
from billing_common.http_site import StaticSite
from billing_common.listening import check_free
from billing_common.principal import READ
from billing_common.tls import ServerTls
from billing_common.transport import ServerLimits

if TYPE_CHECKING:
    from billing_common.auth import Authentication

log = structlog.get_logger(__name__)

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
        return rewrap(handler, lambda behavior: self._counted(behavior, method))

    def guard(self, path: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        """`behavior` of the method at `path` counted against the same cap (the HTTP port's
        calls: billing_common/connect.py)."""
        return self._counted(behavior, path.rsplit("/", 1)[-1])

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


def rewrap(
    handler: grpc.RpcMethodHandler[Req, Resp],
    wrap: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> grpc.RpcMethodHandler[Req, Resp]:
    """The handler with its behavior replaced by wrap(behavior), of the same kind."""
    for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        if (behavior := getattr(handler, kind)) is not None:
            # The factory of the kind of handler we were given (found by name: untyped).
            factory: Callable[..., grpc.RpcMethodHandler[Req, Resp]]
            factory = getattr(grpc, f"{kind}_rpc_method_handler")
            return factory(
                wrap(behavior),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler


class GrpcServer:
    """A grpc.aio server with health checking and reflection, started and stopped by its owner.

    `register` adds the servicers and returns their full service names. `worker` is the index
    of this process among the service's workers (None: the service runs in one process); only
    workers share the port (SO_REUSEPORT): a lone server refuses a port another process holds,
    rather than silently splitting the traffic with it. `auth` checks every call's credential
    (None: authentication is off, every call runs as principal.ANONYMOUS). `tls` None serves
    plain text (only by the explicit development switch: billing_common/tls.py decides).
    `http_listen` (empty: none) serves the same methods over HTTP (Connect and gRPC-Web), with
    the same TLS, authentication, cap and limits (billing_common/connect.py), and `http_site`'s
    files; `http_cors_origins` are the origins whose pages may call it from a browser. A method
    of the `read` scope may be called by GET (none while authentication is off).
    """

    def __init__(
        self,
        listen: str,
        register: Callable[[grpc.aio.Server], Sequence[str]],
        limits: ServerLimits,
        domain: str,
        worker: int | None = None,
        auth: Authentication | None = None,
        *,
        tls: ServerTls | None,
        http_listen: str = "",
        http_site: StaticSite | None = None,
        http_cors_origins: Sequence[str] = (),
    ) -> None:
        self.listen = listen
        self.tls = tls
        self.limits = limits
        self.worker = worker
        self.concurrency = ConcurrencyLimit(limits.concurrent_rpcs_max, domain)
        options = [*limits.options(), ("grpc.so_reuseport", 0 if worker is None else 1)]
        # Authentication (auth.py) inside the cap: checking a key may read the database.
        interceptors: list[grpc.aio.ServerInterceptor] = [self.concurrency]
        guards: list[connect.Guard] = [self.concurrency.guard]
        if auth is not None:
            interceptors.append(auth)
            guards.append(auth.guard)
        self.server = grpc.aio.server(interceptors=interceptors, options=options)
        self.names = list(register(self.server))
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        reflection.enable([*self.names, health_name], self.server)
        self.port = 0
        self.http: HttpServer | None = None
        if http_listen:
            # A method open to the `read` scope has no side effects: Connect may GET it.
            reads = {p for p, s in auth.scopes.items() if s == READ} if auth else set()
            app = connect.HttpApp(
                connect.endpoints(register, guards, domain, reads),
                limits,
                domain,
                http_site,
                http_cors_origins,
            )
            self.http = HttpServer(http_listen, app, limits, tls, worker)

    @property
    def http_port(self) -> int:
        """The HTTP port once started (0 when there is none)."""
        return 0 if self.http is None else self.http.port

    @property
    def listen_target(self) -> str:
        """host:port of the started server (the port chosen when the listen port was 0)."""
        return f"{self.listen.rsplit(':', 1)[0]}:{self.port}"

    async def start(self) -> int:
        if self.worker is None:  # workers share the ports their supervisor reserved
            check_free("listen", self.listen)
            if self.http is not None:
                check_free("http_listen", self.http.listen)
        try:
            if self.tls is None:
                self.port = self.server.add_insecure_port(self.listen)
            else:
                self.port = self.server.add_secure_port(self.listen, self.tls.credentials())
        except RuntimeError as exc:  # gRPC says only "failed to bind": taken since the check?
            if self.worker is None:
                check_free("listen", self.listen)
            raise OSError(f"could not listen on {self.listen}") from exc
        if self.port == 0:
            raise OSError(f"could not listen on {self.listen}")
        await self.server.start()
        if self.http is not None:
            await self.http.start()
        for name in ["", *self.names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        if self.worker is None:
            log.info(
                "server_started",
                listen=self.listen,
                port=self.port,
                http_port=self.http_port or None,
                services=self.names,
                tls=self._tls_mode(),
            )
        else:  # the supervisor logs server_started once every worker serves
            log.info(
                "worker_started",
                worker=self.worker,
                pid=os.getpid(),
                port=self.port,
                http_port=self.http_port or None,
            )
        return self.port

    def _tls_mode(self) -> str:
        if self.tls is None:
            return "off"
        return "mutual" if self.tls.client_ca_file else "on"

    async def stop(self, grace_s: float) -> None:
        """Health turns NOT_SERVING, new calls are refused, in-flight calls get grace_s to
        finish; each commits or rolls back whole, so nothing is left half-written."""
        log.info("server_stopping", grace_s=grace_s)
        for name in ["", *self.names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        if self.http is None:
            await self.server.stop(grace_s)
        else:
            await asyncio.gather(self.server.stop(grace_s), self.http.stop(grace_s))
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
