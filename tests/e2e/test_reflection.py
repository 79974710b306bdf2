"""Server reflection answers under grpc.reflection.v1 (what `grpcurl list` and `grpcurl
describe` ask first) as under v1alpha: the services, and the file that declares each symbol.

The client below speaks v1 by its method path: grpcio-reflection has no v1 stubs, and v1's
messages are v1alpha's, field for field."""

from __future__ import annotations

from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2 as messages

from tests.support.servers import RunningLedger

V1 = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
V1ALPHA = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


async def _ask(
    ledger: RunningLedger, path: str, request: messages.ServerReflectionRequest
) -> messages.ServerReflectionResponse:
    call = ledger.channel.stream_stream(
        path,
        request_serializer=messages.ServerReflectionRequest.SerializeToString,
        response_deserializer=messages.ServerReflectionResponse.FromString,
    )
    replies = [reply async for reply in call(iter([request]))]
    assert len(replies) == 1
    return replies[0]


async def test_reflection_v1_lists_the_same_services_as_v1alpha(
    ledger_server: RunningLedger,
) -> None:
    listed = {}
    for path in (V1, V1ALPHA):
        reply = await _ask(ledger_server, path, messages.ServerReflectionRequest(list_services=""))
        listed[path] = {s.name for s in reply.list_services_response.service}
    assert listed[V1] == listed[V1ALPHA]
    assert {
        "billing.ledger.v1.LedgerService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= listed[V1]


async def test_reflection_v1_describes_our_services_and_itself(
    ledger_server: RunningLedger,
) -> None:
    for symbol, package in (
        ("billing.ledger.v1.LedgerService", "billing.ledger.v1"),
        ("grpc.reflection.v1.ServerReflection", "grpc.reflection.v1"),
    ):
        reply = await _ask(
            ledger_server, V1, messages.ServerReflectionRequest(file_containing_symbol=symbol)
        )
        assert not reply.HasField("error_response"), reply.error_response
        files = [
            descriptor_pb2.FileDescriptorProto.FromString(raw)
            for raw in reply.file_descriptor_response.file_descriptor_proto
        ]
        declaring = [f for f in files if f.package == package]
        assert declaring, [f.name for f in files]
        services = {f"{package}.{s.name}" for f in declaring for s in f.service}
        assert symbol in services


async def test_reflection_v1_refuses_a_symbol_it_does_not_know(
    ledger_server: RunningLedger,
) -> None:
    reply = await _ask(
        ledger_server,
        V1,
        messages.ServerReflectionRequest(file_containing_symbol="billing.nothing.v1.NoService"),
    )
    assert reply.error_response.error_code == 5  # NOT_FOUND
