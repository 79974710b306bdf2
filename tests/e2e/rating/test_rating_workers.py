"""The rating service with --workers 2 as a real process: both workers take events on the one
port, the forwarder (in worker 0 only) charges every accepted event once, and SIGTERM leaves no
process behind."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psutil
import pytest
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.ledger.v1 import ledger_pb2_grpc
from billing.rating.v1 import rating_pb2 as pb
from billing.rating.v1 import rating_pb2_grpc

from billing_common.process import ServiceProcess
from tests.support.channels import open_channel
from tests.support.ledger import make_grant, make_wallet
from tests.support.processes import ledger_env, rating_env, start
from tests.support.rating import event, rid, setup_customer

CONNECTIONS = 16
EVENTS_PER_CALL = 10
SETTLE_ROUNDS_MAX = 600  # x 0.1 s: a bound so a bug fails the test instead of hanging it

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreads connections on Linux"
)


async def _start_ledger(uri: str) -> ServiceProcess:
    return await start("ledger_service", ledger_env(uri, sweep_interval_s="0"))


async def _start_rating(uri: str, ledger_target: str) -> ServiceProcess:
    env = rating_env(uri, ledger_target, forward_idle_s="0.05", workers="2")
    return await start("rating_service", env)


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    return [p for p in parent.children() if "--multiprocessing-fork" in p.cmdline()]


def _serving_pids(port: int, pids: list[int]) -> set[int]:
    return {
        pid
        for pid in pids
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    }


async def test_two_rating_workers_take_events_and_each_is_charged_once(
    new_database,  # type: ignore[no-untyped-def]
    rating_template: str,
    ledger_db: str,
) -> None:
    ledger = await _start_ledger(ledger_db)
    rating = await _start_rating(await new_database("rating", rating_template), ledger.target)
    parent = psutil.Process(rating.process.pid)
    workers = _workers(parent)
    everyone = [parent, *parent.children()]
    ledger_channel = open_channel(ledger.target)
    channels = [
        open_channel(rating.target, options=[("test.connection", i)]) for i in range(CONNECTIONS)
    ]
    try:
        assert len(workers) == 2
        lstub = ledger_pb2_grpc.LedgerServiceStub(ledger_channel)
        wallet = await make_wallet(lstub, policy=lpb.OVERAGE_POLICY_ALLOW_OVERAGE)
        await make_grant(lstub, wallet.wallet_id, "1000")
        stubs = [rating_pb2_grpc.RatingServiceStub(c) for c in channels]
        # Prices and plans take effect now or later, never in the past.
        start = datetime.now(UTC) + timedelta(seconds=1)
        s = await setup_customer(
            stubs[0], start=start, wallet_id=wallet.wallet_id, customer_id=wallet.customer_id
        )
        await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.01)

        answers = await asyncio.gather(
            *(
                stub.IngestEvents(
                    pb.IngestEventsRequest(
                        request_id=rid(),
                        events=[
                            event(s.customer_id, datetime.now(UTC), units="1")
                            for _ in range(EVENTS_PER_CALL)
                        ],
                    )
                )
                for stub in stubs
            )
        )
        accepted = {
            r.event_id for a in answers for r in a.results if r.status == pb.EVENT_STATUS_ACCEPTED
        }
        assert len(accepted) == CONNECTIONS * EVENTS_PER_CALL
        assert _serving_pids(rating.port, [w.pid for w in workers]) == {w.pid for w in workers}

        invoice = None
        for _ in range(SETTLE_ROUNDS_MAX):
            request = pb.GetInvoiceRequest(customer_id=s.customer_id)
            invoice = (await stubs[-1].GetInvoice(request)).invoice
            if invoice.lines and invoice.lines[0].pending_amount == "0":
                break
            await asyncio.sleep(0.1)
        assert invoice is not None and invoice.lines[0].pending_amount == "0"
        report = await lstub.VerifyWallet(lpb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
        assert report.consistent
        assert Decimal(report.consumed) == Decimal(invoice.lines[0].amount)
        assert Decimal(invoice.lines[0].amount) == Decimal("0.5") * len(accepted)
    finally:
        for c in channels:
            await c.close()
        await ledger_channel.close()
        code = await rating.stop()
        await rating.kill()
        await ledger.kill()
    assert code == 0
    _, alive = psutil.wait_procs(everyone, timeout=10)
    assert alive == []
