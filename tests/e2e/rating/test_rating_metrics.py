"""The rating service's metrics: events by status, RPC counts, and the forwarder backlog."""

from __future__ import annotations

from datetime import timedelta

import httpx
from billing.ledger.v1 import ledger_pb2 as lpb

from billing_common.metrics import serve_metrics
from tests.support.ledger import make_grant, make_wallet
from tests.support.metrics import sample
from tests.support.rating import event, ingest, setup_customer
from tests.support.servers import START


async def test_events_by_status_and_an_empty_backlog_after_forwarding(both) -> None:  # type: ignore[no-untyped-def]
    port = serve_metrics("127.0.0.1:0")
    url = f"http://127.0.0.1:{port}/metrics"
    wallet = await make_wallet(both.ledger.stub, policy=lpb.OVERAGE_POLICY_ALLOW_OVERAGE)
    await make_grant(both.ledger.stub, wallet.wallet_id, "100")
    s = await setup_customer(
        both.stub, start=START, wallet_id=wallet.wallet_id, customer_id=wallet.customer_id
    )
    async with httpx.AsyncClient() as http:
        before = (await http.get(url)).text
        t = START + timedelta(hours=1)
        both.ledger.clock.set(t)
        await ingest(
            both.stub,
            [event(s.customer_id, t, "m1", units="2"), event(s.customer_id, t, "m2", units="1")],
        )
        await ingest(both.stub, [event(s.customer_id, t, "m1", units="2")])  # a duplicate
        await both.drain()
        after = (await http.get(url)).text

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("billing_rating_events_total", status="EVENT_STATUS_ACCEPTED") == 2
    assert grew("billing_rating_events_total", status="EVENT_STATUS_DUPLICATE") == 1
    assert grew("billing_rpc_requests_total", method="IngestEvents", code="OK") == 2
    assert sample(after, "billing_rating_forwarder_backlog") == 0
