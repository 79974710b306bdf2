"""HTTP/JSON beside gRPC: the Connect protocol's unary calls (https://connectrpc.com/docs/protocol)
served from the same handlers as the gRPC server, on the port of the setting `http_listen`.

`POST /<package.Service>/<Method>` with `Content-Type: application/json` (proto3 JSON; field
names in either spelling) or `application/proto` (the binary message) runs the method's handler,
wrapped exactly as the gRPC server wraps it: the concurrency cap (one counter for both ports),
then authentication (`authorization: Bearer <key>`; the principal is bound for the handler), then
the servicer's own `rpc` decorator (input checks, error mapping, metrics). A refused call answers
with Connect's error JSON, carrying the same ErrorInfo (reason, domain) and BadRequest (field
violations) as the gRPC status, each as `{"type", "value" (base64), "debug" (the message as
JSON)}`, and the HTTP status Connect assigns to the code.

Beside the methods, a port may serve a `StaticSite`: files under a path prefix (the ledger's
customer page at `/portal/`), answered to GET without a credential (the page's own API calls
need one). `cors_origins` lets pages of those origins call the methods from a browser (CORS:
preflight answered, `access-control-allow-origin` on every answer to them); other origins get
no CORS header, so browsers refuse them.

Not served over HTTP: server-streaming methods (WatchWalletEvents answers `unimplemented`; use
gRPC), GET requests, compressed bodies, health checking and reflection. The client certificate
of mutual TLS is checked by the TLS layer here too, but over HTTP only an API key identifies the
caller.

Why not the `connectrpc` package: its 0.x releases are built on another protobuf runtime
(protobuf-py) with its own generated code, so they cannot run our servicers, which take and
return google.protobuf messages; this adapter is plain ASGI under uvicorn.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import structlog
import uvicorn
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2

from billing_common.errors import MalformedRequest, MessageTooLarge
from billing_common.grpc_errors import to_rpc_status
from billing_common.grpc_handlers import as_billing_error
from billing_common.tls import ServerTls
from billing_common.transport import ServerLimits

log = structlog.get_logger(__name__)

JSON = "application/json"
PROTO = "application/proto"

# Connect's name and HTTP status of each gRPC code (the protocol's table).
_CODES: Mapping[grpc.StatusCode, tuple[str, int]] = {
    grpc.StatusCode.CANCELLED: ("canceled", 499),
    grpc.StatusCode.UNKNOWN: ("unknown", 500),
    grpc.StatusCode.INVALID_ARGUMENT: ("invalid_argument", 400),
    grpc.StatusCode.DEADLINE_EXCEEDED: ("deadline_exceeded", 504),
    grpc.StatusCode.NOT_FOUND: ("not_found", 404),
    grpc.StatusCode.ALREADY_EXISTS: ("already_exists", 409),
    grpc.StatusCode.PERMISSION_DENIED: ("permission_denied", 403),
    grpc.StatusCode.RESOURCE_EXHAUSTED: ("resource_exhausted", 429),
    grpc.StatusCode.FAILED_PRECONDITION: ("failed_precondition", 400),
    grpc.StatusCode.ABORTED: ("aborted", 409),
    grpc.StatusCode.OUT_OF_RANGE: ("out_of_range", 400),
    grpc.StatusCode.UNIMPLEMENTED: ("unimplemented", 501),
    grpc.StatusCode.INTERNAL: ("internal", 500),
    grpc.StatusCode.UNAVAILABLE: ("unavailable", 503),
    grpc.StatusCode.DATA_LOSS: ("data_loss", 500),
    grpc.StatusCode.UNAUTHENTICATED: ("unauthenticated", 401),
}
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}
# The status details a refusal carries, decoded for the error JSON's `debug`.
_DETAILS: Mapping[str, type[Message]] = {
    "google.rpc.ErrorInfo": error_details_pb2.ErrorInfo,
    "google.rpc.BadRequest": error_details_pb2.BadRequest,
}

# Wraps a method's behavior as the gRPC server's interceptors do (path, behavior) -> behavior.
Guard = Callable[[str, Callable[..., Any]], Callable[..., Any]]


class HttpAbort(grpc.aio.AbortError):
    """What `abort_with_status` raises in a call served over HTTP: the status it ends with."""

    def __init__(self, status: grpc.Status) -> None:
        super().__init__(status.details)
        self.status = status


class HttpContext:
    """The part of grpc.aio's ServicerContext our handlers use, for a call over HTTP."""

    def __init__(self, metadata: Sequence[tuple[str, str]], peer: str) -> None:
        self._metadata = tuple(metadata)
        self._peer = peer

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}  # no certificate identity over HTTP: a key names the caller

    def peer(self) -> str:
        return self._peer

    async def abort_with_status(self, status: grpc.Status) -> None:
        raise HttpAbort(status)

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing: Any = ()) -> None:
        raise HttpAbort(_Status(code, details, ()))

    def set_trailing_metadata(self, metadata: Any) -> None:
        pass

    def cancelled(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class _Status(grpc.Status):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Route:
    """One method: its request class, the serializer of its response, its response class, and
    the wrapped behavior (None for a streaming method)."""

    request: type[Message]
    response: type[Message]
    serialize: Callable[[Any], bytes]
    behavior: Callable[..., Any] | None


class _Recorder:
    """Stands in for a grpc.aio.Server while a service registers its handlers, keeping them."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass  # the same handlers arrive through add_registered_method_handlers

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        for method, handler in handlers.items():
            self.handlers[f"/{service}/{method}"] = handler


def routes(register: Callable[[Any], Sequence[str]], guards: Sequence[Guard]) -> dict[str, Route]:
    """Every method `register` adds to a server, by path, wrapped by `guards` (outermost first,
    as a server's interceptors)."""
    recorder = _Recorder()
    register(recorder)
    pool = descriptor_pool.Default()
    found = {}
    for path, handler in recorder.handlers.items():
        service, method = path[1:].rsplit("/", 1)
        described = pool.FindServiceByName(service).methods_by_name[method]
        behavior = handler.unary_unary
        if behavior is not None:
            for guard in reversed(guards):
                behavior = guard(path, behavior)
        found[path] = Route(
            message_factory.GetMessageClass(described.input_type),
            message_factory.GetMessageClass(described.output_type),
            handler.response_serializer or _encode,
            behavior,
        )
    return found


def _encode(response: Any) -> bytes:
    return response if isinstance(response, bytes) else bytes(response.SerializeToString())


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()


_FILE_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": JSON,
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
# A page served here holds a credential: no framing by others' sites is prevented (our users
# embed it), but nothing but its own files run, and no referrer leaves it.
_PAGE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
    (
        b"content-security-policy",
        b"default-src 'self'; connect-src 'self' https: http:; img-src 'self' data:; "
        b"base-uri 'none'; object-src 'none'",
    ),
)
_CORS_HEADERS = (
    (b"access-control-allow-methods", b"POST"),
    (
        b"access-control-allow-headers",
        b"authorization, content-type, connect-protocol-version, connect-timeout-ms",
    ),
    (b"access-control-max-age", b"600"),
)


@dataclass(frozen=True, slots=True)
class StaticSite:
    """Files of `directory` served to GET under `prefix` (ends with "/"; `prefix` itself is
    index.html), without a credential; `generated` adds files made by the server (name ->
    content), such as the page's settings."""

    prefix: str
    directory: Path
    generated: Mapping[str, bytes] = field(default_factory=dict)

    def answer(self, path: str) -> _Answer | None:
        """The answer to GET `path`, or None when the path is not this site's."""
        if path == self.prefix.rstrip("/"):
            return _Answer(308, "text/plain", b"", ((b"location", self.prefix.encode()),))
        if not path.startswith(self.prefix):
            return None
        name = path[len(self.prefix) :] or "index.html"
        if name in self.generated:
            return _Answer(200, _file_type(name), self.generated[name], _PAGE_HEADERS)
        root = self.directory.resolve()
        file = (root / name).resolve()
        if not file.is_relative_to(root) or not file.is_file() or "node_modules" in file.parts:
            return _Answer(404, "text/plain", b"not found")
        return _Answer(200, _file_type(name), file.read_bytes(), _PAGE_HEADERS)


def _file_type(name: str) -> str:
    return _FILE_TYPES.get(Path(name).suffix, "application/octet-stream")


class ConnectApp:
    """The ASGI application: Connect unary calls to `routes`, and `site`'s files."""

    def __init__(
        self,
        routes: Mapping[str, Route],
        limits: ServerLimits,
        domain: str,
        site: StaticSite | None = None,
        cors_origins: Sequence[str] = (),
    ) -> None:
        self.routes = dict(routes)
        self.limits = limits
        self.domain = domain
        self.site = site
        self.cors_origins = frozenset(o.rstrip("/") for o in cors_origins if o)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        origin = _header(scope, b"origin")
        allowed = origin in self.cors_origins
        page = None
        if self.site is not None and scope["method"] in ("GET", "HEAD"):
            page = self.site.answer(scope["path"])
        if page is not None:
            answer = page
        elif scope["method"] == "OPTIONS" and scope["path"] in self.routes:
            answer = _Answer(204, "text/plain", b"", _CORS_HEADERS if allowed else ())
        else:
            answer = await self.answer(scope, receive)
        cors = ((b"access-control-allow-origin", origin.encode()),) if allowed else ()
        headers = [
            (b"content-type", answer.content_type.encode()),
            (b"content-length", str(len(answer.body)).encode()),
            *answer.headers,
            *cors,
            *(((b"vary", b"origin"),) if self.cors_origins else ()),
        ]
        body = b"" if scope["method"] == "HEAD" else answer.body
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def answer(self, scope: dict[str, Any], receive: Any) -> _Answer:
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        values = dict(headers)
        kind = values.get("content-type", "").split(";")[0].strip().lower()
        route = self.routes.get(scope["path"])
        refused = self._unserved(scope, route, kind, values)
        if refused is not None or route is None or route.behavior is None:
            return refused or self._error(grpc.StatusCode.INTERNAL, "no route")
        client = scope.get("client") or ("", 0)
        context = HttpContext(headers, f"ipv4:{client[0]}:{client[1]}")
        try:
            body = await self._body(values, receive)
            request = _decode(route.request, body, kind)
            async with asyncio.timeout(_timeout_s(values.get("connect-timeout-ms"))):
                response = await route.behavior(request, context)
        except HttpAbort as abort:
            return self._status_answer(abort.status)
        except TimeoutError:
            return self._error(grpc.StatusCode.DEADLINE_EXCEEDED, "the call's deadline passed")
        except Exception as exc:  # ours as it is; a bug logged, INTERNAL without details
            return self._rpc_status_answer(to_rpc_status(as_billing_error(exc), self.domain))
        data = route.serialize(response)
        if kind == PROTO:
            return _Answer(200, PROTO, data)
        text = json_format.MessageToJson(
            route.response.FromString(data), indent=None, always_print_fields_with_no_presence=True
        )
        return _Answer(200, JSON, text.encode())

    def _unserved(
        self, scope: dict[str, Any], route: Route | None, kind: str, headers: Mapping[str, str]
    ) -> _Answer | None:
        """The answer to a request this port does not serve, or None."""
        if route is None:
            return self._error(grpc.StatusCode.UNIMPLEMENTED, f"no method {scope['path']}", 404)
        if scope["method"] != "POST":
            answer = self._error(grpc.StatusCode.UNIMPLEMENTED, "only POST is served", 405)
            return _Answer(answer.status, answer.content_type, answer.body, ((b"allow", b"POST"),))
        if kind not in (JSON, PROTO):
            accepted = ((b"accept-post", f"{JSON}, {PROTO}".encode()),)
            return _Answer(415, "text/plain", b"", accepted)
        if headers.get("content-encoding", "identity") != "identity":
            return self._error(grpc.StatusCode.UNIMPLEMENTED, "compressed bodies are not served")
        if route.behavior is None:
            return self._error(
                grpc.StatusCode.UNIMPLEMENTED, "a server-streaming method is served over gRPC only"
            )
        return None

    async def _body(self, headers: Mapping[str, str], receive: Any) -> bytes:
        limit = self.limits.message_bytes_max
        too_large = MessageTooLarge(f"the request body is over {limit} bytes (message_bytes_max)")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await receive()
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
            if not event.get("more_body", False):
                return b"".join(chunks)

    def _status_answer(self, status: grpc.Status) -> _Answer:
        for key, value in status.trailing_metadata or ():
            if key == "grpc-status-details-bin" and isinstance(value, bytes):
                return self._rpc_status_answer(status_pb2.Status.FromString(value))
        return self._error(status.code, status.details or "")

    def _rpc_status_answer(self, status: status_pb2.Status) -> _Answer:
        code = _BY_NUMBER.get(status.code, grpc.StatusCode.UNKNOWN)
        details = []
        for detail in status.details:
            entry: dict[str, Any] = {
                "type": detail.TypeName(),
                "value": base64.b64encode(detail.value).decode().rstrip("="),
            }
            kind = _DETAILS.get(detail.TypeName())
            if kind is not None:
                entry["debug"] = json_format.MessageToDict(kind.FromString(detail.value))
            details.append(entry)
        return self._error(code, status.message, details=details)

    def _error(
        self,
        code: grpc.StatusCode,
        message: str,
        http_status: int | None = None,
        details: Sequence[Mapping[str, Any]] = (),
    ) -> _Answer:
        name, status = _CODES.get(code, ("unknown", 500))
        body: dict[str, Any] = {"code": name, "message": message}
        if details:
            body["details"] = list(details)
        return _Answer(http_status or status, JSON, json.dumps(body).encode())


def _header(scope: Mapping[str, Any], name: bytes) -> str:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


def _decode(cls: type[Message], body: bytes, kind: str) -> Message:
    try:
        if kind == PROTO:
            return cls.FromString(body)
        return json_format.Parse(body.decode("utf-8") or "{}", cls())
    except (json_format.ParseError, DecodeError, UnicodeDecodeError) as exc:
        raise MalformedRequest(
            f"the body is not a {cls.DESCRIPTOR.full_name} ({kind}): {exc}"
        ) from None


def _timeout_s(header: str | None) -> float | None:
    return int(header) / 1000 if header and header.isdigit() else None


class HttpServer:
    """The Connect app under uvicorn in this event loop, on `listen` (TLS with `tls`; plain text
    only by the development switch). Workers share the port (SO_REUSEPORT) as with gRPC."""

    def __init__(
        self,
        listen: str,
        app: ConnectApp,
        tls: ServerTls | None,
        worker: int | None,
    ) -> None:
        self.listen = listen
        self.tls = tls
        self.worker = worker
        self.port = 0
        options: dict[str, Any] = {}
        if tls is not None:
            options = {"ssl_certfile": str(tls.cert_file), "ssl_keyfile": str(tls.key_file)}
            if tls.client_ca_file:
                options |= {
                    "ssl_ca_certs": str(tls.client_ca_file),
                    "ssl_cert_reqs": ssl.CERT_REQUIRED,
                }
        self.config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            http="h11",
            ws="none",
            server_header=False,
            date_header=False,
            timeout_keep_alive=int(app.limits.connection_idle_s),
            **options,
        )
        self.server = uvicorn.Server(self.config)
        self.sockets: list[socket.socket] = []

    async def start(self) -> int:
        self.config.load()
        # What uvicorn's own `serve` does before `startup` (lifespan is "off": a no-op).
        self.server.lifespan = self.config.lifespan_class(self.config)
        sock = _bind(self.listen, shared=self.worker is not None)
        self.sockets = [sock]
        self.port = int(sock.getsockname()[1])
        try:
            await self.server.startup(sockets=self.sockets)
        except BaseException:
            sock.close()
            raise
        return self.port

    async def stop(self, grace_s: float) -> None:
        """New connections are refused; calls in progress get grace_s to finish."""
        self.config.timeout_graceful_shutdown = max(1, round(grace_s))
        if self.server.started:
            await self.server.shutdown(sockets=self.sockets)


def _bind(listen: str, *, shared: bool) -> socket.socket:
    """A socket bound to `listen` (host:port), or OSError naming the setting."""
    host, _, port = listen.rpartition(":")
    bare = host.strip("[]")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            bare or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as exc:
        raise OSError(f"could not listen on {listen} (setting http_listen): {exc}") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OSError(f"could not listen on {listen} (setting http_listen): {exc}") from exc
    return sock
