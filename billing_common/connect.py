"""HTTP beside gRPC: the same handlers served by the `connectrpc` library
(https://connectrpc.com/docs/protocol) on the port of the setting `http_listen`.

`connectrpc` speaks the Connect protocol (unary calls as `POST /<package.Service>/<Method>`
with `application/json` or `application/proto`, unary GET for reads, server streaming as
`application/connect+json` or `+proto`) and gRPC-Web (`application/grpc-web+proto`, unary and
server streaming, status in the body's trailer frame); request bodies may be gzip-compressed.
Its google.protobuf codecs run our servicers' own messages. This module builds its endpoints
generically from each service's descriptors and the handlers a service registers on its gRPC
server, wrapped exactly as the gRPC server wraps them: the concurrency cap (one counter for both
ports), then authentication (`authorization: Bearer <key>`; the principal is bound for the
handler), then the servicer's own `rpc` decorator (input checks, error mapping, metrics). A
refused call carries the same ErrorInfo (reason, domain) and BadRequest (field violations) as
the gRPC status: in Connect's error JSON as details `{"type", "value" (base64), "debug" (the
detail as JSON)}`, in gRPC-Web as `grpc-status-details-bin`.

A method is marked NO_SIDE_EFFECTS (Connect allows GET for it) when its scope is `read`: the
protos cannot say so themselves, as `idempotency_level` may not change on a published method
(buf breaking, FILE). JSON answers show every field; a JSON request with an unknown field is
MALFORMED_REQUEST, as a body that is not the message.

Around the library (`HttpApp`): `StaticSite` files under a path prefix (the ledger's customer
page at `/portal/`), answered to GET without a credential; CORS for `cors_origins` (preflight
answered, `access-control-allow-origin` on every answer to them; others get no CORS header, so
browsers refuse them); the body limit (`message_bytes_max`, refused unread when the declared
length is over it, with our MESSAGE_TOO_LARGE reason); Connect's error JSON for a path that is
no method.

Not served over HTTP: gRPC itself (it needs HTTP/2 trailers, which uvicorn does not send; the
gRPC port serves it), client streaming (no method has it), health checking and reflection. The
client certificate of mutual TLS is checked by the TLS layer here too, but over HTTP only an API
key identifies the caller.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import structlog
import uvicorn
from connectrpc._server_shared import EndpointBidiStream, EndpointServerStream, EndpointUnary
from connectrpc.code import Code
from connectrpc.codec import Codec
from connectrpc.errors import ConnectError, ErrorDetail
from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from connectrpc.request import RequestContext
from connectrpc.server import ConnectASGIApplication, Endpoint
from google.protobuf import any_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2
from protobuf.wkt import Any as WireAny
from protobuf.wkt import Struct

from billing_common.errors import BillingError, MalformedRequest, MessageTooLarge
from billing_common.grpc_errors import to_rpc_status
from billing_common.grpc_handlers import as_billing_error
from billing_common.tls import ServerTls
from billing_common.transport import ServerLimits

log = structlog.get_logger(__name__)

JSON = "application/json"

# The status details a refusal carries, decoded for the error JSON's `debug`.
_DETAILS: Mapping[str, type[Message]] = {
    "google.rpc.ErrorInfo": error_details_pb2.ErrorInfo,
    "google.rpc.BadRequest": error_details_pb2.BadRequest,
}
# Connect's code of each gRPC code number (the same names, but for the spelling of CANCELED).
_CODES = {
    c.value[0]: Code[c.name.replace("CANCELLED", "CANCELED")]
    for c in grpc.StatusCode
    if c is not grpc.StatusCode.OK
}

# What the library serves of a method (its server's own union of endpoint kinds).
_Endpoint = EndpointUnary[Any, Any] | EndpointServerStream[Any, Any] | EndpointBidiStream[Any, Any]
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


class _Detail(ErrorDetail):
    """A status detail as its google.protobuf Any holds it (the same bytes as over gRPC), with
    its readable JSON for the error JSON's `debug`."""

    def __init__(self, detail: any_pb2.Any) -> None:
        super().__init__(WireAny(type_url=detail.type_url, value=detail.value))
        kind = _DETAILS.get(detail.TypeName())
        self._debug = (
            None
            if kind is None
            else Struct.from_python(json_format.MessageToDict(kind.FromString(detail.value)))
        )

    def value(self, *kind: Any) -> Any:
        # The library asks for value() when it writes `debug`: the detail as JSON.
        return super().value(*kind) if kind else self._debug


def refusal(status: status_pb2.Status) -> ConnectError:
    """The Connect error of a gRPC status, with its details."""
    return ConnectError(
        _CODES.get(status.code, Code.UNKNOWN), status.message, [_Detail(d) for d in status.details]
    )


def _refused(exc: Exception, domain: str) -> ConnectError:
    if isinstance(exc, ConnectError):
        return exc
    if isinstance(exc, HttpAbort):
        for key, value in exc.status.trailing_metadata or ():
            if key == "grpc-status-details-bin" and isinstance(value, bytes):
                return refusal(status_pb2.Status.FromString(value))
        return ConnectError(_CODES[exc.status.code.value[0]], exc.status.details or "")
    return refusal(to_rpc_status(as_billing_error(exc), domain))  # a bug: logged, INTERNAL


class _JsonCodec:
    """Proto3 JSON: every field in answers; an unknown field in a request is refused."""

    def __init__(self, domain: str) -> None:
        self.domain = domain

    def name(self) -> str:
        return "json"

    def encode(self, message: Message) -> bytes:
        text = json_format.MessageToJson(
            message, indent=None, always_print_fields_with_no_presence=True
        )
        return text.encode()

    def decode(self, data: bytes | bytearray, message_class: type[Message]) -> Message:
        try:
            return json_format.Parse(bytes(data).decode("utf-8") or "{}", message_class())
        except (json_format.ParseError, UnicodeDecodeError) as exc:
            raise _malformed(message_class, "json", exc, self.domain) from None


class _ProtoCodec:
    """The binary messages."""

    def __init__(self, domain: str) -> None:
        self.domain = domain

    def name(self) -> str:
        return "proto"

    def encode(self, message: Message) -> bytes:
        return message.SerializeToString()

    def decode(self, data: bytes | bytearray, message_class: type[Message]) -> Message:
        try:
            return message_class.FromString(bytes(data))
        except DecodeError as exc:
            raise _malformed(message_class, "proto", exc, self.domain) from None


def _malformed(cls: type[Message], kind: str, exc: Exception, domain: str) -> ConnectError:
    error = MalformedRequest(f"the body is not a {cls.DESCRIPTOR.full_name} ({kind}): {exc}")
    return refusal(to_rpc_status(error, domain))


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


def endpoints(
    register: Callable[[Any], Sequence[str]],
    guards: Sequence[Guard],
    domain: str,
    reads: Collection[str] = (),
) -> dict[str, _Endpoint]:
    """Every method `register` adds to a server, by path, wrapped by `guards` (outermost first,
    as a server's interceptors); the paths in `reads` are NO_SIDE_EFFECTS (GET allowed)."""
    recorder = _Recorder()
    register(recorder)
    pool = descriptor_pool.Default()
    found: dict[str, _Endpoint] = {}
    for path, handler in recorder.handlers.items():
        service, method = path[1:].rsplit("/", 1)
        described = pool.FindServiceByName(service).methods_by_name[method]
        behavior: Callable[..., Any] | None = handler.unary_unary or handler.unary_stream
        if behavior is None:  # requests streamed: HTTP/1.1 cannot stream both ways
            found[path] = Endpoint.bidi_stream(_method(described, reads), _grpc_only)
            continue
        for guard in reversed(guards):
            behavior = guard(path, behavior)
        info = _method(described, reads)
        if described.server_streaming:
            found[path] = Endpoint.server_stream(info, _streaming(behavior, domain))
        else:
            found[path] = Endpoint.unary(info, _unary(behavior, info.output, domain))
    return found


def _method(described: MethodDescriptor, reads: Collection[str]) -> MethodInfo[Any, Any]:
    path = f"/{described.containing_service.full_name}/{described.name}"
    streams = (described.client_streaming, described.server_streaming)
    return MethodInfo(
        name=described.name,
        service_name=described.containing_service.full_name,
        input=message_factory.GetMessageClass(described.input_type),
        output=message_factory.GetMessageClass(described.output_type),
        idempotency_level=(
            IdempotencyLevel.NO_SIDE_EFFECTS if path in reads else IdempotencyLevel.UNKNOWN
        ),
        stream_type=_STREAM_TYPES[streams],
    )


_STREAM_TYPES = {
    (False, False): StreamType.UNARY,
    (False, True): StreamType.SERVER_STREAM,
    (True, False): StreamType.CLIENT_STREAM,
    (True, True): StreamType.BIDI_STREAM,
}


async def _grpc_only(
    requests: AsyncIterator[Message], ctx: RequestContext[Any, Any]
) -> AsyncIterator[Message]:
    raise ConnectError(
        Code.UNIMPLEMENTED,
        f"{ctx.method.name} streams its requests: it is served over gRPC only",
    )
    yield  # an async generator, as the library calls it


def _context(ctx: RequestContext[Any, Any]) -> HttpContext:
    return HttpContext(list(ctx.request_headers.allitems()), f"ipv4:{ctx.client_address}")


def _unary(
    behavior: Callable[..., Any], output: type[Message], domain: str
) -> Callable[[Message, RequestContext[Any, Any]], Any]:
    async def call(request: Message, ctx: RequestContext[Any, Any]) -> Message:
        try:
            response = await behavior(request, _context(ctx))
        except Exception as exc:
            raise _refused(exc, domain) from None
        # A write answers with the bytes its idempotency record keeps (grpc_handlers.add_servicer).
        return response if isinstance(response, Message) else output.FromString(response)

    return call


def _streaming(
    behavior: Callable[..., Any], domain: str
) -> Callable[[Message, RequestContext[Any, Any]], AsyncIterator[Message]]:
    async def call(request: Message, ctx: RequestContext[Any, Any]) -> AsyncIterator[Message]:
        try:
            async for message in behavior(request, _context(ctx)):
                yield message
        except Exception as exc:
            raise _refused(exc, domain) from None

    return call


class _Services(ConnectASGIApplication[None]):
    """The library's application over our endpoints."""

    path = "/"


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
    (b"access-control-allow-methods", b"GET, POST"),
    (
        b"access-control-allow-headers",
        b"authorization, content-type, connect-protocol-version, connect-timeout-ms, "
        b"x-grpc-web, x-user-agent, grpc-timeout",
    ),
    (b"access-control-max-age", b"600"),
)
# What a page may read of an answer beyond the simple headers (gRPC-Web's status).
_CORS_EXPOSED = (
    b"access-control-expose-headers",
    b"grpc-status, grpc-message, grpc-status-details-bin",
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


class HttpApp:
    """The ASGI application: `site`'s files, CORS and the body limit, around the library's
    application serving `endpoints`."""

    def __init__(
        self,
        endpoints: Mapping[str, _Endpoint],
        limits: ServerLimits,
        domain: str,
        site: StaticSite | None = None,
        cors_origins: Sequence[str] = (),
    ) -> None:
        self.paths = frozenset(endpoints)
        self.limits = limits
        self.domain = domain
        self.site = site
        self.cors_origins = frozenset(o.rstrip("/") for o in cors_origins if o)
        codecs: list[Codec[Any, Any]] = [_ProtoCodec(domain), _JsonCodec(domain)]
        self.services = _Services(
            service=None,
            endpoints=lambda _: endpoints,
            codecs=codecs,
            read_max_bytes=limits.message_bytes_max,
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        origin = _header(scope, b"origin")
        cors: list[tuple[bytes, bytes]] = []
        if origin in self.cors_origins:
            cors = [(b"access-control-allow-origin", origin.encode()), _CORS_EXPOSED]
        if self.cors_origins:
            cors.append((b"vary", b"origin"))
        answer = self._around(scope, origin in self.cors_origins)
        if answer is not None:
            await _send(answer, scope, send, cors)
            return

        async def send_with_cors(event: dict[str, Any]) -> None:
            if event["type"] == "http.response.start":
                event = {**event, "headers": [*event.get("headers", ()), *cors]}
            await send(event)

        await self.services(scope, self._limited(scope, receive), send_with_cors)

    def _around(self, scope: dict[str, Any], cors: bool) -> _Answer | None:
        """The answer given here rather than by the library, or None."""
        method, path = scope["method"], scope["path"]
        if self.site is not None and method in ("GET", "HEAD"):
            page = self.site.answer(path)
            if page is not None:
                return page
        if path not in self.paths:
            return _error(Code.UNIMPLEMENTED, f"no method {path}", 404)
        if method == "OPTIONS":
            return _Answer(204, "text/plain", b"", _CORS_HEADERS if cors else ())
        kind = _header(scope, b"content-type").split(";")[0].strip().lower()
        if kind == "application/grpc" or kind.startswith("application/grpc+"):
            message = (
                b"gRPC is served on the gRPC port (setting listen); this port speaks Connect "
                b"and gRPC-Web"
            )
            return _Answer(415, "text/plain", message)
        return None

    def _limited(self, scope: dict[str, Any], receive: Any) -> Callable[[], Any]:
        """`receive` refusing a body over message_bytes_max, unread when its declared length is
        over it (the library's own limit counts each message, and refuses without our reason)."""
        limit = self.limits.message_bytes_max
        declared = _header(scope, b"content-length")
        over = declared.isdigit() and int(declared) > limit
        size = 0

        async def limited() -> Any:
            nonlocal size
            if over:
                raise self._too_large(limit)
            event = await receive()
            size += len(event.get("body", b""))
            if size > limit:
                raise self._too_large(limit)
            return event

        return limited

    def _too_large(self, limit: int) -> ConnectError:
        error: BillingError = MessageTooLarge(
            f"the request body is over {limit} bytes (message_bytes_max)"
        )
        return refusal(to_rpc_status(error, self.domain))


def _error(code: Code, message: str, status: int) -> _Answer:
    return _Answer(status, JSON, json.dumps({"code": code.value, "message": message}).encode())


async def _send(
    answer: _Answer, scope: dict[str, Any], send: Any, extra: Sequence[tuple[bytes, bytes]]
) -> None:
    headers = [
        (b"content-type", answer.content_type.encode()),
        (b"content-length", str(len(answer.body)).encode()),
        *answer.headers,
        *extra,
    ]
    body = b"" if scope["method"] == "HEAD" else answer.body
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Mapping[str, Any], name: bytes) -> str:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


class HttpServer:
    """The HTTP app under uvicorn in this event loop, on `listen` (TLS with `tls`; plain text
    only by the development switch). Workers share the port (SO_REUSEPORT) as with gRPC."""

    def __init__(
        self,
        listen: str,
        app: HttpApp,
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
