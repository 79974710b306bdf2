"""HTTP beside gRPC: the same handlers served by the `connectrpc` library
(https://connectrpc.com/docs/protocol) on the port of the setting `http_listen`.

The library speaks the Connect protocol (unary calls as `POST /<package.Service>/<Method>` with
`application/json` or `application/proto`, unary GET for reads, server streaming as
`application/connect+json` or `+proto`) and gRPC-Web (`application/grpc-web+proto` or `+json`,
status in the body's trailer frame), without compression (see HttpApp). This module builds its
endpoints generically from each service's descriptors and the handlers the service registers on
its gRPC server, wrapped exactly as the gRPC server wraps them: the concurrency cap (one counter
for both ports), then authentication (`authorization: Bearer <key>`; the principal is bound for
the handler), then the servicer's own `rpc` decorator (input checks, error mapping, metrics).
A refused call carries the same ErrorInfo (reason, domain) and BadRequest (field violations) as
the gRPC status: in Connect's error JSON as details `{"type", "value" (base64), "debug" (the
detail as JSON)}`, in gRPC-Web as `grpc-status-details-bin`. Our codecs are google.protobuf's,
but JSON answers show every field and a JSON request with an unknown field is MALFORMED_REQUEST
(the library's own JSON codec drops unknown fields).

The paths in `reads` (grpc_server.py passes the methods of the `read` scope) are NO_SIDE_EFFECTS,
unless their request carries a `request_id` (a read that can write: Authorize with a hold), so
Connect's GET serves them: the protos cannot mark them, as `idempotency_level` may not change
on a published method (buf breaking, FILE).

Around the library, `HttpApp` (under uvicorn: http_server.py) answers a `StaticSite`'s files
(http_site.py: the customer page at `/portal/`) to GET without a credential; CORS for
`cors_origins` (preflight answered, `access-control-allow-origin` on every answer to them; other
origins get no CORS header, so browsers refuse them); the body limit (`message_bytes_max`, with
our MESSAGE_TOO_LARGE reason, unread when the declared length is over it); Connect's error JSON
for a path that is no method.

Not served over HTTP: gRPC itself (it needs HTTP/2 and trailers, which uvicorn does not give; the
gRPC port serves it), methods that stream their requests (rating's StreamEvents: HTTP/1.1 does not
stream both ways; `unimplemented`), health checking and reflection. The client certificate of
mutual TLS is checked by the TLS layer here too, but over HTTP only an API key names the caller.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
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

from billing_common.errors import MalformedRequest, MessageTooLarge
from billing_common.grpc_errors import to_rpc_status
from billing_common.grpc_handlers import as_billing_error
from billing_common.http_site import JSON, Answer, StaticSite
from billing_common.transport import ServerLimits

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
        if behavior is None:  # streams its requests (StreamEvents, both ways: HTTP/2 only)
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


def _can_write(described: MethodDescriptor) -> bool:
    """A request that carries a request_id can write (Authorize with a hold is in the read scope
    as a pure check): never served by GET, which browsers and proxies may prefetch or repeat."""
    return "request_id" in described.input_type.fields_by_name


def _method(described: MethodDescriptor, reads: Collection[str]) -> MethodInfo[Any, Any]:
    path = f"/{described.containing_service.full_name}/{described.name}"
    streams = (described.client_streaming, described.server_streaming)
    return MethodInfo(
        name=described.name,
        service_name=described.containing_service.full_name,
        input=message_factory.GetMessageClass(described.input_type),
        output=message_factory.GetMessageClass(described.output_type),
        idempotency_level=(
            IdempotencyLevel.NO_SIDE_EFFECTS
            if path in reads and not _can_write(described)
            else IdempotencyLevel.UNKNOWN
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
            # Identity only: gzip on every answer, small as most are, cost GetBalance half a
            # millisecond more at the median (measured); a proxy in front may compress.
            compressions=(),
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

    def _around(self, scope: dict[str, Any], cors: bool) -> Answer | None:
        """The answer given here rather than by the library, or None."""
        method, path = scope["method"], scope["path"]
        if self.site is not None and method in ("GET", "HEAD"):
            page = self.site.answer(path)
            if page is not None:
                return page
        if path not in self.paths:
            return _error(Code.UNIMPLEMENTED, f"no method {path}", 404)
        if method == "OPTIONS":
            return Answer(204, "text/plain", b"", _CORS_HEADERS if cors else ())
        kind = _header(scope, b"content-type").split(";")[0].strip().lower()
        if kind == "application/grpc" or kind.startswith("application/grpc+"):
            message = (
                b"gRPC is served on the gRPC port (setting listen); this port speaks Connect "
                b"and gRPC-Web"
            )
            return Answer(415, "text/plain", message)
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
        error = MessageTooLarge(f"the request body is over {limit} bytes (message_bytes_max)")
        return refusal(to_rpc_status(error, self.domain))


def _error(code: Code, message: str, status: int) -> Answer:
    return Answer(status, JSON, json.dumps({"code": code.value, "message": message}).encode())


async def _send(
    answer: Answer, scope: dict[str, Any], send: Any, extra: Sequence[tuple[bytes, bytes]]
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
