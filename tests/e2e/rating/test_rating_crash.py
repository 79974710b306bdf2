"""Exactly once across the boundary, with real processes: the rating service is killed (SIGKILL)
and the ledger is stopped in the middle of a producer's stream of batches. After both are back,
every accepted event is charged exactly once: one DEBIT per event in the ledger, each with the
event id, and the ledger balance equals the sum of the rating charges.

The only waiting is "until the rating service reports nothing pending" (bounded); nothing about
how long anything takes is asserted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import grpc
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.ledger.v1 import ledger_pb2_grpc
from billing.rating.v1 import rating_pb2 as pb
from billing.rating.v1 import rating_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from billing_common.process import ServiceProcess
from tests.support.channels import open_channel
from tests.support.ledger import make_grant, make_wallet
from tests.support.processes import free_port, ledger_env, rating_env, start
from tests.support.rating import event, rid, setup_customer

BATCHES = 12
BATCH_SIZE = 50
SETTLE_ROUNDS_MAX = 600
RESENDS_MAX = 5  # x 0.1 s: a bound so a bug fails the test instead of hanging it


async def start_ledger(uri: str, port: int) -> ServiceProcess:
    return await start("ledger_service", ledger_env(uri, port=port, sweep_interval_s="0"))


async def start_rating(uri: str, ledger_port: int, **settings: str) -> ServiceProcess:
    env = rating_env(
        uri,
        f"127.0.0.1:{ledger_port}",
        ledger_timeout_s="2",
        forward_batch_size="40",
        forward_backoff_base_s="0.05",
        forward_backoff_max_s="0.5",
        forward_idle_s="0.05",
        **settings,
    )
    return await start("rating_service", env)


class Producer:
    """A long-running producer on StreamEvents: one stream, batches written and answered in
    order. When the stream breaks it reconnects (to the current rating process) and sends the
    unanswered batch again with the same request_id, as a real producer would."""

    def __init__(self) -> None:
        self.channel: grpc.aio.Channel | None = None
        self.call: Any = None

    async def connect(self, target: str) -> None:
        await self.close()
        self.channel = open_channel(target)
        self.call = rating_pb2_grpc.RatingServiceStub(self.channel).StreamEvents()

    async def send(self, target: str, request: pb.StreamEventsRequest) -> pb.StreamEventsResponse:
        for _ in range(RESENDS_MAX):
            try:
                if self.call is None:
                    await self.connect(target)
                await self.call.write(request)
                answer = await self.call.read()
                if answer is grpc.aio.EOF:
                    raise ConnectionError("stream ended")
                return answer  # type: ignore[no-any-return]
            except (grpc.aio.AioRpcError, ConnectionError, asyncio.InvalidStateError):
                await self.connect(target)
        raise AssertionError("the batch was never answered")

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close()
        self.channel, self.call = None, None


async def test_kill_rating_and_stop_ledger_mid_stream_charges_each_event_once(
    new_database,
    rating_template: str,
    ledger_db: str,  # type: ignore[no-untyped-def]
) -> None:
    rating_uri = await new_database("rating", rating_template)
    ledger_port = free_port()
    ledger = await start_ledger(ledger_db, ledger_port)
    rating = await start_rating(rating_uri, ledger_port)
    ledger_channel = open_channel(f"127.0.0.1:{ledger_port}")
    try:
        lstub = ledger_pb2_grpc.LedgerServiceStub(ledger_channel)
        wallet = await make_wallet(lstub, policy=lpb.OVERAGE_POLICY_ALLOW_OVERAGE)
        await make_grant(lstub, wallet.wallet_id, "1000")
        channel = open_channel(rating.target)
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="billing.rating.v1.RatingService")
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {x.name async for reply in replies for x in reply.list_services_response.service}
        assert "billing.rating.v1.RatingService" in names
        # Prices and plans take effect now or later, never in the past (EFFECTIVE_TIME_IN_PAST).
        start = datetime.now(UTC) + timedelta(seconds=1)
        s = await setup_customer(
            rating_pb2_grpc.RatingServiceStub(channel),
            start=start,
            wallet_id=wallet.wallet_id,
            customer_id=wallet.customer_id,
        )
        await channel.close()
        await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.01)

        requests = [
            pb.StreamEventsRequest(
                request_id=rid(),
                events=[
                    event(s.customer_id, datetime.now(UTC), f"b{b}-e{i}", units="1")
                    for i in range(BATCH_SIZE)
                ],
            )
            for b in range(BATCHES)
        ]
        accepted: set[str] = set()
        producer = Producer()
        for b, request in enumerate(requests):
            if b == 4:
                await rating.kill()  # SIGKILL in the middle of the open stream
                rating = await start_rating(rating_uri, ledger_port)
            if b == 7:
                await ledger.stop()  # the ledger goes away; ingest goes on
            if b == 10:
                ledger = await start_ledger(ledger_db, ledger_port)
            response = await producer.send(rating.target, request)
            assert not response.HasField("error"), response.error
            accepted |= {
                r.event_id for r in response.results if r.status == pb.EVENT_STATUS_ACCEPTED
            }
            if b == 5:
                await rating.kill()  # right after a batch: the forwarder is likely mid-delivery
                rating = await start_rating(rating_uri, ledger_port)
        await producer.close()
        assert len(accepted) == BATCHES * BATCH_SIZE

        channel = open_channel(rating.target)
        rstub = rating_pb2_grpc.RatingServiceStub(channel)
        invoice = None
        for _ in range(SETTLE_ROUNDS_MAX):
            invoice = (
                await rstub.GetInvoice(pb.GetInvoiceRequest(customer_id=s.customer_id))
            ).invoice
            if invoice.lines and invoice.lines[0].pending_amount == "0":
                break
            await asyncio.sleep(0.1)
        await channel.close()
        assert invoice is not None and invoice.lines[0].pending_amount == "0"

        lstub = ledger_pb2_grpc.LedgerServiceStub(ledger_channel)
        debits: list[lpb.Entry] = []
        token = ""
        while True:
            page = await lstub.ListEntries(
                lpb.ListEntriesRequest(
                    wallet_id=wallet.wallet_id,
                    types=[lpb.ENTRY_TYPE_DEBIT],
                    page_size=500,
                    page_token=token,
                )
            )
            debits.extend(page.entries)
            token = page.next_page_token
            if not token:
                break
        by_event = [e.source_event_id for e in debits]
        assert sorted(by_event) == sorted(accepted)  # every event once, none twice
        assert Decimal(invoice.lines[0].amount) == Decimal("0.5") * len(accepted)
        report = await lstub.VerifyWallet(lpb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
        assert report.consistent
        assert Decimal(report.consumed) == Decimal(invoice.lines[0].amount)
    finally:
        await ledger_channel.close()
        await rating.kill()
        await ledger.kill()
