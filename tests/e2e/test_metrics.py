"""Prometheus metrics: per-RPC counts by code and latency, and the ledger's domain counters,
scraped over HTTP from a real endpoint."""

from __future__ import annotations

import contextlib

import grpc
import httpx

from billing_common.metrics import serve_metrics
from tests.support.ledger import debit_request, make_grant, make_wallet
from tests.support.metrics import sample


async def test_rpc_and_domain_metrics_are_exposed(ledger_server) -> None:
    port = serve_metrics("127.0.0.1:0")
    url = f"http://127.0.0.1:{port}/metrics"
    async with httpx.AsyncClient() as http:
        before = (await http.get(url)).text
        stub = ledger_server.stub
        wallet = await make_wallet(stub)
        await make_grant(stub, wallet.wallet_id, "10")
        await stub.Debit(debit_request(wallet.wallet_id, "4"))
        with contextlib.suppress(grpc.aio.AioRpcError):  # the refusal is what is counted
            await stub.Debit(debit_request(wallet.wallet_id, "100"))
        after = (await http.get(url)).text

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("billing_rpc_requests_total", method="Debit", code="OK") == 1
    assert grew("billing_rpc_requests_total", method="Debit", code="FAILED_PRECONDITION") == 1
    assert grew("billing_rpc_latency_seconds_count", method="Debit") == 2
    assert grew("billing_ledger_debits_total") == 1
    assert grew("billing_ledger_denials_total") == 1
