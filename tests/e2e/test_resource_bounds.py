"""Bounds on what callers can make a server hold: message size, calls at once, the group-commit
queue of a wallet. Beyond a bound the answer is RESOURCE_EXHAUSTED and the server carries on;
within them no call is dropped silently."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import struct
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from billing_common.clock import FakeClock
from ledger_service import limits
from ledger_service import main as ledger_main
from ledger_service.config import LedgerSettings
from tests.support.channels import admin_key, admin_key_file, open_channel
from tests.support.ledger import debit_request, make_grant, make_wallet
from tests.support.servers import START, NewDatabase
from tests.support.tls import dev_ca, server_settings
from tests.support.waiting import until

Code = grpc.StatusCode


@contextlib.asynccontextmanager
async def ledger_with(
    new_database: NewDatabase, template: str, **settings: Any
) -> AsyncIterator[tuple[ledger_main.Ledger, ledger_pb2_grpc.LedgerServiceStub, str]]:
    url = await new_database("ledger", template)
    ledger = await ledger_main.build(
        LedgerSettings(
            admin_key_file=admin_key_file(),
            database_url=url,
            listen="127.0.0.1:0",
            migrate=False,
            sweep_interval_s=0,
            **settings,
            **server_settings(),
        ),
        FakeClock(START),
    )
    target = f"127.0.0.1:{await ledger.server.start()}"
    channel = open_channel(target, options=[("grpc.max_send_message_length", -1)])
    try:
        yield ledger, ledger_pb2_grpc.LedgerServiceStub(channel), url
    finally:
        await channel.close()
        await ledger.close()


def reason_of(exc: grpc.aio.AioRpcError) -> str:
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason
    return ""


async def test_oversize_message_is_resource_exhausted_and_the_server_stays_up(
    new_database: NewDatabase, ledger_template: str
) -> None:
    async with ledger_with(new_database, ledger_template) as (_, stub, _url):
        wallet = await make_wallet(stub)
        await make_grant(stub, wallet.wallet_id, "10")
        big = debit_request(wallet.wallet_id, "1")
        big.description = "x" * (limits.MESSAGE_BYTES_MAX + 1)
        for _ in range(3):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Debit(big)
            assert caught.value.code() == Code.RESOURCE_EXHAUSTED, caught.value.details()
        # Still serving, and nothing of the refused calls was written.
        response = await stub.Debit(debit_request(wallet.wallet_id, "1"))
        assert response.entry.available_after == "9"


async def test_message_size_is_configurable(
    new_database: NewDatabase, ledger_template: str
) -> None:
    async with ledger_with(new_database, ledger_template, message_bytes_max=64 * 1024) as (
        _,
        stub,
        _url,
    ):
        request = pb.GetWalletRequest(wallet_id="w" * (64 * 1024))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetWallet(request)
        assert caught.value.code() == Code.RESOURCE_EXHAUSTED


async def test_calls_beyond_the_concurrency_cap_are_resource_exhausted(
    new_database: NewDatabase, ledger_template: str
) -> None:
    async with ledger_with(new_database, ledger_template, concurrent_rpcs_max=2) as (
        ledger,
        stub,
        _url,
    ):
        wallet = await make_wallet(stub)
        # Two long-lived calls take both places.
        watches = [
            stub.WatchWalletEvents(pb.WatchWalletEventsRequest(wallet_id=wallet.wallet_id))
            for _ in range(2)
        ]
        readers = [asyncio.create_task(w.read()) for w in watches]
        await until(lambda: ledger.server.concurrency.in_flight == 2, "both watches run")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetWallet(pb.GetWalletRequest(wallet_id=wallet.wallet_id))
        assert caught.value.code() == Code.RESOURCE_EXHAUSTED
        assert reason_of(caught.value) == "TOO_MANY_CONCURRENT_RPCS"
        # Health checks are not counted: an overloaded server still answers them.
        async with open_channel(ledger.server.listen_target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            status = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        for w in watches:
            w.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await until(lambda: ledger.server.concurrency.in_flight == 0, "the watches ended")
        assert (await stub.GetWallet(pb.GetWalletRequest(wallet_id=wallet.wallet_id))).wallet


async def test_two_thousand_concurrent_calls_all_get_an_answer(
    new_database: NewDatabase, ledger_template: str
) -> None:
    """gRPC core used to cancel calls silently (CANCELLED, no log line, the handler never ran)
    when more than 1,000 waited to be picked up; now they all run (or, beyond the cap, are
    RESOURCE_EXHAUSTED, logged)."""
    async with ledger_with(new_database, ledger_template) as (_, stub, _url):
        wallet = await make_wallet(stub)
        codes: Counter[str] = Counter()

        async def one() -> None:
            try:
                await stub.GetWallet(pb.GetWalletRequest(wallet_id=wallet.wallet_id))
                codes["OK"] += 1
            except grpc.aio.AioRpcError as exc:
                codes[exc.code().name] += 1

        await asyncio.gather(*(one() for _ in range(2000)))
        assert codes == {"OK": 2000}


async def test_full_write_queue_is_resource_exhausted(
    new_database: NewDatabase, ledger_template: str
) -> None:
    async with ledger_with(new_database, ledger_template, write_queue_max=1, write_in_flight=1) as (
        ledger,
        stub,
        url,
    ):
        wallet = await make_wallet(stub)
        await make_grant(stub, wallet.wallet_id, "10")
        blocker = await asyncpg.connect(url)
        try:
            # Hold the wallet's row lock, so the first debit's transaction waits on it.
            lock = blocker.transaction()
            await lock.start()
            await blocker.execute(
                "SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE", wallet.wallet_id
            )
            first = asyncio.ensure_future(stub.Debit(debit_request(wallet.wallet_id, "1")))
            assert ledger.servicer is not None
            pipeline = ledger.app.pipeline

            async def first_waits_on_the_lock() -> bool:
                return bool(
                    await blocker.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    )
                )

            await until(first_waits_on_the_lock, "the first debit waits for the wallet lock")
            second = asyncio.ensure_future(stub.Debit(debit_request(wallet.wallet_id, "1")))
            await until(lambda: pipeline.waiting == 1, "one debit queued")
            third = debit_request(wallet.wallet_id, "1")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Debit(third)
            assert caught.value.code() == Code.RESOURCE_EXHAUSTED
            assert reason_of(caught.value) == "WRITE_QUEUE_FULL"
            await lock.rollback()
            assert [r.entry.available_after for r in await asyncio.gather(first, second)] == [
                "9",
                "8",
            ]
        finally:
            await blocker.close()
        # The refused debit wrote nothing; retried with the same request_id it is booked once.
        assert (await stub.Debit(third)).entry.available_after == "7"
        assert (await stub.Debit(third)).entry.available_after == "7"


async def test_the_http_port_counts_against_the_same_concurrency_cap(
    new_database: NewDatabase, ledger_template: str
) -> None:
    async with ledger_with(new_database, ledger_template, concurrent_rpcs_max=2) as (
        ledger,
        stub,
        _url,
    ):
        wallet = await make_wallet(stub)
        http_url = f"https://127.0.0.1:{ledger.server.http_port}/billing.ledger.v1.LedgerService"
        headers = {"authorization": f"Bearer {admin_key()}"}
        trust = ssl.create_default_context(cafile=str(dev_ca().ca))
        async with httpx.AsyncClient(verify=trust, timeout=30, headers=headers) as http:
            # One watch over gRPC, one over HTTP (Connect streaming): both places taken.
            over_grpc = stub.WatchWalletEvents(
                pb.WatchWalletEventsRequest(wallet_id=wallet.wallet_id)
            )
            reader = asyncio.create_task(over_grpc.read())
            watch = json.dumps({"wallet_id": wallet.wallet_id}).encode()
            over_http = asyncio.create_task(
                http.post(
                    f"{http_url}/WatchWalletEvents",
                    content=b"\0" + struct.pack(">I", len(watch)) + watch,
                    headers={"content-type": "application/connect+json"},
                )
            )
            await until(lambda: ledger.server.concurrency.in_flight == 2, "both watches run")

            refused = await http.post(
                f"{http_url}/GetWallet",
                json={"wallet_id": wallet.wallet_id},
                headers={"content-type": "application/json"},
            )
            assert (refused.status_code, refused.json()["code"]) == (429, "resource_exhausted")
            assert refused.json()["details"][0]["debug"]["reason"] == "TOO_MANY_CONCURRENT_RPCS"
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetWallet(pb.GetWalletRequest(wallet_id=wallet.wallet_id))
            assert reason_of(caught.value) == "TOO_MANY_CONCURRENT_RPCS"

            # A client gone frees its place.
            over_http.cancel()
            await asyncio.gather(over_http, return_exceptions=True)
            await until(lambda: ledger.server.concurrency.in_flight == 1, "the HTTP watch ended")
            over_grpc.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await until(lambda: ledger.server.concurrency.in_flight == 0, "the watches ended")
