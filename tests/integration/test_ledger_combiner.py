"""Group commit: concurrent unary debits of one wallet share transactions (a count of statements,
not a timing), with each debit's own result; and a stored request_id repeated in one batch is
checked occurrence by occurrence."""

from __future__ import annotations

import asyncio

import grpc
from billing.ledger.v1 import ledger_pb2 as pb
from sqlalchemy import event

from tests.ledger_helpers import balance, debit_request, make_grant, make_wallet


async def test_concurrent_debits_of_one_wallet_share_transactions(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "95")
    claims = 0

    def seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        nonlocal claims
        if statement.startswith("INSERT INTO idempotency_keys"):
            claims += 1

    event.listen(ledger_server.ledger.engine.sync_engine, "before_cursor_execute", seen)
    try:
        results = await asyncio.gather(
            *(stub.Debit(debit_request(wallet.wallet_id, "1")) for _ in range(100)),
            return_exceptions=True,
        )
    finally:
        event.remove(ledger_server.ledger.engine.sync_engine, "before_cursor_execute", seen)
    booked = [r for r in results if isinstance(r, pb.DebitResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    # Each debit still gets its own answer: 95 fit, 5 are refused.
    assert (len(booked), len(refused)) == (95, 5)
    assert {r.code() for r in refused} == {grpc.StatusCode.FAILED_PRECONDITION}
    assert len({r.entry.entry_id for r in booked}) == 95
    assert (await balance(stub, wallet.wallet_id)).available == "0"
    # One claim statement per transaction: far fewer transactions than calls.
    assert claims < 50, claims


async def test_a_stored_request_id_repeated_in_a_batch_replays_each_matching_occurrence(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    first = debit_request(wallet.wallet_id, "2")
    stored = (await stub.Debit(first)).entry
    other = debit_request(wallet.wallet_id, "5", request_id=first.request_id)
    response = await stub.DebitBatch(pb.DebitBatchRequest(debits=[other, first, other, first]))
    kinds = [r.WhichOneof("result") for r in response.results]
    assert kinds == ["error", "entry", "error", "entry"]
    assert {r.error.reason for r in response.results if r.HasField("error")} == {
        "REQUEST_ID_CONFLICT"
    }
    assert all(r.entry == stored for r in response.results if r.HasField("entry"))
