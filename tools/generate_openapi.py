"""Generate the OpenAPI 3.1 documents of the HTTP/JSON port (the Connect protocol's unary calls,
billing_common/connect.py) from protos/: one per service's port, in openapi/.

One command, deterministic output: `make generate` (or `python tools/generate_openapi.py [OUT]`).
The documents are built here from the compiled descriptors (grpcio-tools' protoc, with the protos'
comments as descriptions), so they need nothing beyond the Python dependencies and run offline.
A test regenerates them into a temporary folder and fails when the committed ones differ.

What they describe is what the port serves: `POST /<package.Service>/<Method>` for every unary
method, the request and response messages in proto3 JSON (field names in lowerCamelCase; the
server also accepts the proto names), int64 fields as strings, enums by name, Timestamps as RFC
3339 strings, Durations as "<seconds>s"; an API key as a bearer token; and the Connect error JSON.
Streaming methods are left out: the port serves them (Connect streaming, gRPC-Web), but their
framed bodies are beyond what OpenAPI describes.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
DEFAULT_OUT = ROOT / "openapi"

API_KEYS = "billing.auth.v1.ApiKeyService"
# Each document: its file name, title, the services its port serves, its default address.
DOCUMENTS = [
    ("ledger.openapi.json", "Ledger", ["billing.ledger.v1.LedgerService", API_KEYS], 8051),
    ("rating.openapi.json", "Rating", ["billing.rating.v1.RatingService", API_KEYS], 8052),
]

F = descriptor_pb2.FieldDescriptorProto
_SCALARS: dict[int, dict[str, Any]] = {
    F.TYPE_STRING: {"type": "string"},
    F.TYPE_BOOL: {"type": "boolean"},
    F.TYPE_BYTES: {"type": "string", "format": "byte"},
    F.TYPE_DOUBLE: {"type": "number", "format": "double"},
    F.TYPE_FLOAT: {"type": "number", "format": "float"},
    F.TYPE_INT32: {"type": "integer", "format": "int32"},
    F.TYPE_SINT32: {"type": "integer", "format": "int32"},
    F.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    F.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    F.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    # proto3 JSON writes 64-bit integers as strings.
    F.TYPE_INT64: {"type": "string", "format": "int64"},
    F.TYPE_SINT64: {"type": "string", "format": "int64"},
    F.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    F.TYPE_UINT64: {"type": "string", "format": "uint64"},
    F.TYPE_FIXED64: {"type": "string", "format": "uint64"},
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339, e.g. 2026-01-31T12:00:00Z.",
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$",
        "description": 'Seconds with an "s", e.g. "3600s" or "1.5s".',
    },
}
_ERROR = {
    "type": "object",
    "description": "A refused call (Connect error JSON). `details` carry google.rpc.ErrorInfo "
    "(the reason, e.g. WALLET_NOT_FOUND) and google.rpc.BadRequest (field violations): `value` "
    "is the detail's protobuf encoding in base64, `debug` the same as JSON.",
    "required": ["code"],
    "properties": {
        "code": {
            "type": "string",
            "enum": [
                "canceled",
                "unknown",
                "invalid_argument",
                "deadline_exceeded",
                "not_found",
                "already_exists",
                "permission_denied",
                "resource_exhausted",
                "failed_precondition",
                "aborted",
                "out_of_range",
                "unimplemented",
                "internal",
                "unavailable",
                "data_loss",
                "unauthenticated",
            ],
        },
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "examples": ["google.rpc.ErrorInfo"]},
                    "value": {"type": "string", "format": "byte"},
                    "debug": {"type": "object"},
                },
            },
        },
    },
}


class Protos:
    """The compiled protos: every message and enum by full name, with their comments."""

    def __init__(self, files: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, tuple[descriptor_pb2.DescriptorProto, str, list[int]]] = {}
        self.enums: dict[str, tuple[descriptor_pb2.EnumDescriptorProto, str, list[int]]] = {}
        self.services: dict[str, tuple[descriptor_pb2.ServiceDescriptorProto, str, int]] = {}
        self.comments: dict[tuple[str, tuple[int, ...]], str] = {}
        for file in files.file:
            for location in file.source_code_info.location:
                text = location.leading_comments.strip()
                if text:
                    self.comments[(file.name, tuple(location.path))] = _tidy(text)
            for index, message in enumerate(file.message_type):
                self._message(file, f"{file.package}.{message.name}", message, [4, index])
            for index, enum in enumerate(file.enum_type):
                self.enums[f"{file.package}.{enum.name}"] = (enum, file.name, [5, index])
            for index, service in enumerate(file.service):
                self.services[f"{file.package}.{service.name}"] = (service, file.name, index)

    def _message(
        self,
        file: descriptor_pb2.FileDescriptorProto,
        name: str,
        message: descriptor_pb2.DescriptorProto,
        path: list[int],
    ) -> None:
        self.messages[name] = (message, file.name, path)
        for index, nested in enumerate(message.nested_type):
            self._message(file, f"{name}.{nested.name}", nested, [*path, 3, index])
        for index, enum in enumerate(message.enum_type):
            self.enums[f"{name}.{enum.name}"] = (enum, file.name, [*path, 4, index])

    def comment(self, file: str, path: list[int]) -> str:
        return self.comments.get((file, tuple(path)), "")


def _tidy(text: str) -> str:
    """A comment as one paragraph per blank-line-separated block."""
    blocks = [" ".join(line.strip() for line in block.splitlines()) for block in text.split("\n\n")]
    return "\n\n".join(b for b in blocks if b)


def compile_protos() -> descriptor_pb2.FileDescriptorSet:
    well_known = resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "set.bin"
        args = [
            "grpc_tools.protoc",
            f"--proto_path={PROTO_ROOT}",
            f"--proto_path={well_known}",
            f"--descriptor_set_out={out}",
            "--include_imports",
            "--include_source_info",
            *sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto")),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def document(protos: Protos, title: str, services: list[str], port: int) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    wanted: list[str] = []
    for service_name in services:
        service, file, index = protos.services[service_name]
        for m_index, method in enumerate(service.method):
            if method.server_streaming or method.client_streaming:
                continue
            request, response = method.input_type[1:], method.output_type[1:]
            wanted += [request, response]
            paths[f"/{service_name}/{method.name}"] = {
                "post": {
                    "operationId": f"{service_name}.{method.name}",
                    "tags": [service_name],
                    "summary": method.name,
                    "description": protos.comment(file, [6, index, 2, m_index]),
                    "requestBody": {"required": True, "content": _json_and_proto(request)},
                    "responses": {
                        "200": {"description": "Success", "content": _json_and_proto(response)},
                        "default": {
                            "description": "Error",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/connect.error"}
                                }
                            },
                        },
                    },
                }
            }
    schemas: dict[str, Any] = {"connect.error": _ERROR}
    for name in _closure(protos, wanted):
        schemas[name] = _schema(protos, name)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{title} service: HTTP/JSON (Connect protocol)",
            "version": "v1",
            "description": "Generated from protos/ by tools/generate_openapi.py; do not edit. "
            "Every unary method is `POST /<package.Service>/<Method>` with a JSON (or "
            "application/proto) body. Streaming methods (Connect streaming, gRPC-Web) send "
            "framed messages, which OpenAPI cannot describe: they are left out.",
        },
        "servers": [{"url": f"https://127.0.0.1:{port}"}],
        "security": [{"apiKey": []}],
        "tags": [
            {
                "name": s,
                "description": protos.comment(protos.services[s][1], [6, protos.services[s][2]]),
            }
            for s in services
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key: `authorization: Bearer bk_<id>_<secret>`.",
                }
            },
            "schemas": dict(sorted(schemas.items())),
        },
    }


def _json_and_proto(message: str) -> dict[str, Any]:
    return {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{message}"}},
        "application/proto": {"schema": {"type": "string", "format": "binary"}},
    }


def _closure(protos: Protos, roots: list[str]) -> Iterator[str]:
    """Every message and enum reachable from `roots` (well-known types are inlined)."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen or name in _WELL_KNOWN:
            continue
        seen.add(name)
        if name in protos.messages:
            message = protos.messages[name][0]
            stack += [f.type_name[1:] for f in message.field if f.type_name]
    yield from sorted(seen)


def _schema(protos: Protos, name: str) -> dict[str, Any]:
    if name in protos.enums:
        enum, file, path = protos.enums[name]
        return _described(
            {"type": "string", "enum": [v.name for v in enum.value]},
            protos.comment(file, path),
        )
    message, file, path = protos.messages[name]
    properties = {}
    for index, field in enumerate(message.field):
        value = _field(protos, message, field)
        properties[field.json_name] = _described(value, protos.comment(file, [*path, 2, index]))
    return _described({"type": "object", "properties": properties}, protos.comment(file, path))


def _field(protos: Protos, parent: descriptor_pb2.DescriptorProto, field: F) -> dict[str, Any]:
    if field.type == F.TYPE_MESSAGE:
        entry = next(
            (
                n
                for n in parent.nested_type
                if n.options.map_entry and field.type_name.endswith(f".{n.name}")
            ),
            None,
        )
        if entry is not None and field.label == F.LABEL_REPEATED:
            return {"type": "object", "additionalProperties": _field(protos, entry, entry.field[1])}
    one = _single(field)
    return {"type": "array", "items": one} if field.label == F.LABEL_REPEATED else one


def _single(field: F) -> dict[str, Any]:
    if field.type in (F.TYPE_MESSAGE, F.TYPE_ENUM):
        name = field.type_name[1:]
        return dict(_WELL_KNOWN.get(name) or {"$ref": f"#/components/schemas/{name}"})
    return dict(_SCALARS[field.type])


def _described(schema: dict[str, Any], description: str) -> dict[str, Any]:
    # (OpenAPI 3.1 allows a description beside a $ref.)
    return {**schema, "description": description} if description else schema


def generate(out: Path) -> None:
    protos = Protos(compile_protos())
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for file_name, title, services, port in DOCUMENTS:
        text = json.dumps(document(protos, title, services, port), indent=2, ensure_ascii=False)
        (out / file_name).write_text(text + "\n")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT)
