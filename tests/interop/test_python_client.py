"""billing_client's retries, deadlines and error mapping, against a real tiny grpc.aio server
that speaks the ledger's contract (not a mock of the ledger's behaviour), plus its Decimal
helpers. Waits between retries go through an injected sleep that records them, so nothing here
depends on timing."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc
from billing_client import (
    DeadlineExceeded,
    FailedPrecondition,
    LedgerClient,
    RetryPolicy,
    Unavailable,
    from_wire,
    to_wire,
)
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from billing_common.tls import ServerTls
from tests.support.channels import open_channel
from tests.support.tls import dev_ca


class ScriptedLedger(ledger_pb2_grpc.LedgerServiceServicer):
    """Fails the first `failures` Debit calls with `code`, then books them; GetBalance hangs."""

    def __init__(self, failures: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE):
        self.failures = failures
        self.code = code
        self.request_ids: list[str] = []

    async def Debit(self, request: pb.DebitRequest, context: grpc.aio.ServicerContext) -> object:
        self.request_ids.append(request.request_id)
        if len(self.request_ids) <= self.failures:
            status = status_pb2.Status(code=self.code.value[0], message="scripted failure")
            info = any_pb2.Any()
            info.Pack(error_details_pb2.ErrorInfo(reason="SCRIPTED", domain="test"))
            status.details.append(info)
            await context.abort(
                self.code,
                "scripted failure",
                trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),),
            )
        return pb.DebitResponse(
            entry=pb.Entry(
                entry_id="entry-1",
                amount=f"-{request.amount}",
                available_after="87.5",
                overage_after="0",
            )
        )

    async def GetBalance(self, request: pb.GetBalanceRequest, context: object) -> object:
        await asyncio.sleep(30)  # longer than any deadline below
        return pb.GetBalanceResponse()


class Sleeps:
    """An injected sleep: records the waits and yields to the loop without waiting."""

    def __init__(self) -> None:
        self.waits_s: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits_s.append(seconds)
        await asyncio.sleep(0)


class Ceiling(random.Random):
    """Jitter that always picks the upper bound, so the waits are predictable."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def _serve(servicer: ScriptedLedger) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    ledger_pb2_grpc.add_LedgerServiceServicer_to_server(servicer, server)
    certs = dev_ca()  # TLS, as the tests' channels expect
    port = server.add_secure_port(
        "127.0.0.1:0", ServerTls(certs.server_cert, certs.server_key).credentials()
    )
    await server.start()
    return server, f"127.0.0.1:{port}"


ChannelTo = Callable[[ScriptedLedger], Awaitable[grpc.aio.Channel]]


@pytest.fixture
async def channel_to() -> AsyncIterator[ChannelTo]:
    servers: list[grpc.aio.Server] = []
    channels: list[grpc.aio.Channel] = []

    async def open_(servicer: ScriptedLedger) -> grpc.aio.Channel:
        server, target = await _serve(servicer)
        servers.append(server)
        channels.append(open_channel(target))
        return channels[-1]

    yield open_
    for channel in channels:
        await channel.close()
    for server in servers:
        await server.stop(None)


POLICY = RetryPolicy(attempts_max=4, backoff_initial_s=0.1, backoff_max_s=0.3)


async def test_unavailable_is_retried_with_the_same_request_id(channel_to: ChannelTo) -> None:
    servicer = ScriptedLedger(failures=3)
    sleeps = Sleeps()
    ledger = LedgerClient(await channel_to(servicer), retry=POLICY, sleep=sleeps, rng=Ceiling())
    debited = await ledger.debit("w-1", Decimal("12.5"))
    assert len(servicer.request_ids) == 4
    assert len(set(servicer.request_ids)) == 1 and servicer.request_ids[0]
    assert sleeps.waits_s == [0.1, 0.2, 0.3]  # exponential, capped at backoff_max_s
    assert debited.amount == Decimal("-12.5")
    assert debited.available_after == Decimal("87.5")


async def test_retries_are_bounded(channel_to: ChannelTo) -> None:
    servicer = ScriptedLedger(failures=100)
    sleeps = Sleeps()
    ledger = LedgerClient(await channel_to(servicer), retry=POLICY, sleep=sleeps)
    with pytest.raises(Unavailable) as caught:
        await ledger.debit("w-1", Decimal(1), request_id="mine")
    assert servicer.request_ids == ["mine"] * 4
    assert caught.value.attempts == 4
    assert caught.value.reason == "SCRIPTED"
    assert len(sleeps.waits_s) == 3


async def test_answers_other_than_unavailable_are_not_retried(channel_to: ChannelTo) -> None:
    servicer = ScriptedLedger(failures=1, code=grpc.StatusCode.FAILED_PRECONDITION)
    sleeps = Sleeps()
    ledger = LedgerClient(await channel_to(servicer), retry=POLICY, sleep=sleeps)
    with pytest.raises(FailedPrecondition) as caught:
        await ledger.debit("w-1", Decimal(1))
    assert len(servicer.request_ids) == 1
    assert caught.value.reason == "SCRIPTED" and caught.value.attempts == 1
    assert sleeps.waits_s == []


async def test_every_call_has_a_deadline(channel_to: ChannelTo) -> None:
    ledger = LedgerClient(await channel_to(ScriptedLedger(failures=0)), timeout_s=0.2)
    with pytest.raises(DeadlineExceeded):
        await ledger.get_balance("w-1")


async def test_retries_stop_when_the_next_wait_would_pass_the_deadline(
    channel_to: ChannelTo,
) -> None:
    servicer = ScriptedLedger(failures=100)
    sleeps = Sleeps()
    slow = RetryPolicy(attempts_max=10, backoff_initial_s=60, backoff_max_s=60)
    ledger = LedgerClient(
        await channel_to(servicer), retry=slow, sleep=sleeps, rng=Ceiling(), timeout_s=5
    )
    with pytest.raises(Unavailable):
        await ledger.debit("w-1", Decimal(1))
    assert len(servicer.request_ids) == 1
    assert sleeps.waits_s == []


async def test_a_server_that_is_down_is_retried_then_reported() -> None:
    # A real refused connection, not a status a server chose to send.
    server, target = await _serve(ScriptedLedger(failures=0))
    await server.stop(None)
    sleeps = Sleeps()
    async with open_channel(target) as channel:
        ledger = LedgerClient(channel, retry=POLICY, sleep=sleeps, timeout_s=5)
        with pytest.raises(Unavailable) as caught:
            await ledger.debit("w-1", Decimal(1))
    assert caught.value.attempts == 4
    assert len(sleeps.waits_s) == 3


@pytest.mark.parametrize(
    ("amount", "wire"),
    [
        (Decimal("12.50"), "12.50"),
        (Decimal("1E+3"), "1000"),
        (Decimal("0.000002"), "0.000002"),
        (Decimal("-0"), "0"),
        (Decimal("0E-7"), "0"),
        (7, "7"),
    ],
)
def test_amounts_go_to_the_wire_in_plain_notation(amount: Decimal | int, wire: str) -> None:
    assert to_wire(amount) == wire
    assert from_wire(wire) == amount


@pytest.mark.parametrize("bad", [0.1, "1", True, Decimal("NaN"), Decimal("Infinity")])
def test_floats_strings_and_non_finite_amounts_are_refused(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        to_wire(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "abc", "NaN", "1e400x"])
def test_responses_that_are_not_amounts_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        from_wire(bad)
