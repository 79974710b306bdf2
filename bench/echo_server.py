"""The RPC ceiling: a trivial grpc.aio server with the ledger's and rating's generated stubs that
answers Debit, DebitBatch, GetBalance and IngestEvents with canned responses of the real shapes
(one result per debit or event, as the services send). No database, no logic.

    python -m bench.echo_server serve   # 127.0.0.1:0; logs {"event": "server_started", "port": N}
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import grpc
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.ledger.v1 import ledger_pb2_grpc
from billing.rating.v1 import rating_pb2 as rpb
from billing.rating.v1 import rating_pb2_grpc

_ID = "0190f0a8-0000-7000-8000-000000000000"


def _entry() -> lpb.Entry:
    entry = lpb.Entry(
        entry_id=_ID,
        wallet_id=_ID,
        type=lpb.ENTRY_TYPE_DEBIT,
        amount="-1",
        description="-1 credits for bench on Nov 21",
        feature="bench",
        request_id=_ID,
        allocations=[lpb.Allocation(grant_id=_ID, amount="-1")],
        available_after="999999999",
        overage_after="0",
    )
    entry.occurred_time.GetCurrentTime()
    entry.book_time.GetCurrentTime()
    return entry


ENTRY = _entry()
DEBIT = lpb.DebitResponse(entry=ENTRY)
RESULT = lpb.DebitResult(entry=ENTRY)
BALANCE = lpb.GetBalanceResponse(
    balance=lpb.Balance(
        wallet_id=_ID,
        unit="CREDITS",
        available="999999999",
        held="0",
        overage="0",
        net="999999999",
        pending_expiry="0",
        pending_grants="0",
        prepaid_available="999999999",
        promotional_available="0",
        grants=[
            lpb.GrantBalance(
                grant_id=_ID,
                kind=lpb.GRANT_KIND_PREPAID,
                remaining_amount="999999999",
                state=lpb.GRANT_STATE_ACTIVE,
            )
        ],
    )
)
CHARGE = rpb.Charge(
    meter_id=_ID, price_id=_ID, price_version=1, amount="0.007", status=rpb.CHARGE_STATUS_PENDING
)


class EchoLedger(ledger_pb2_grpc.LedgerServiceServicer):
    async def Debit(self, request: lpb.DebitRequest, context: object) -> lpb.DebitResponse:
        return DEBIT

    async def DebitBatch(
        self, request: lpb.DebitBatchRequest, context: object
    ) -> lpb.DebitBatchResponse:
        return lpb.DebitBatchResponse(results=[RESULT] * len(request.debits))

    async def GetBalance(
        self, request: lpb.GetBalanceRequest, context: object
    ) -> lpb.GetBalanceResponse:
        return BALANCE


class EchoRating(rating_pb2_grpc.RatingServiceServicer):
    async def IngestEvents(
        self, request: rpb.IngestEventsRequest, context: object
    ) -> rpb.IngestEventsResponse:
        return rpb.IngestEventsResponse(
            results=[
                rpb.EventResult(
                    event_id=e.event_id, status=rpb.EVENT_STATUS_ACCEPTED, charges=[CHARGE]
                )
                for e in request.events
            ]
        )


async def serve() -> None:
    server = grpc.aio.server()
    ledger_pb2_grpc.add_LedgerServiceServicer_to_server(EchoLedger(), server)
    rating_pb2_grpc.add_RatingServiceServicer_to_server(EchoRating(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(json.dumps({"event": "server_started", "port": port}), file=sys.stderr, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(grace=1)


if __name__ == "__main__":
    asyncio.run(serve())
