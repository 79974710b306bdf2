"""The write pipeline: concurrent writes of one wallet, and of many wallets, share transactions (a
count of statements, not a timing), each with its own result; and a stored request_id repeated in
one batch is checked occurrence by occurrence."""

from __future__ import annotations

import asyncio

import grpc
from billing.ledger.v1 import ledger_pb2 as pb
from sqlalchemy import event

from tests.support.ledger import balance, debit_request, make_grant, make_wallet


class ClaimCounter:
    """Counts transactions by their one claim statement (every pipeline transaction claims its
    request ids in one INSERT)."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.engine = engine.sync_engine
        self.claims = 0

    def seen(self, conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO idempotency_keys"):
            self.claims += 1

    def __enter__(self) -> ClaimCounter:
        event.listen(self.engine, "before_cursor_execute", self.seen)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self.seen)


async def test_concurrent_debits_of_one_wallet_share_transactions(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "95")
    with ClaimCounter(ledger_server.ledger.engine) as counter:
        results = await asyncio.gather(
            *(stub.Debit(debit_request(wallet.wallet_id, "1")) for _ in range(100)),
            return_exceptions=True,
        )
    booked = [r for r in results if isinstance(r, pb.DebitResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    # Each debit still gets its own answer: 95 fit, 5 are refused.
    assert (len(booked), len(refused)) == (95, 5)
    assert {r.code() for r in refused} == {grpc.StatusCode.FAILED_PRECONDITION}
    assert len({r.entry.entry_id for r in booked}) == 95
    assert (await balance(stub, wallet.wallet_id)).available == "0"
    # One claim statement per transaction: far fewer transactions than calls.
    assert counter.claims < 50, counter.claims


async def test_concurrent_writes_of_many_wallets_share_transactions(ledger_server) -> None:
    """Debits, holds and grants of 40 wallets at once: far fewer transactions than calls, and
    each call gets its own answer (a refused debit among them changes nothing for the others)."""
    stub = ledger_server.stub
    wallets = [await make_wallet(stub) for _ in range(40)]
    for w in wallets:
        await make_grant(stub, w.wallet_id, "10")
    calls = []
    for w in wallets:
        calls.append(stub.Debit(debit_request(w.wallet_id, "3")))
        calls.append(
            stub.CreateHold(
                pb.CreateHoldRequest(
                    request_id=f"hold-{w.wallet_id}", wallet_id=w.wallet_id, amount="5"
                )
            )
        )
        calls.append(stub.Debit(debit_request(w.wallet_id, "100")))  # refused: only 10 granted
    with ClaimCounter(ledger_server.ledger.engine) as counter:
        results = await asyncio.gather(*calls, return_exceptions=True)
    for k, w in enumerate(wallets):
        debit, hold, refused = results[3 * k : 3 * k + 3]
        assert isinstance(debit, pb.DebitResponse), debit
        assert isinstance(hold, pb.CreateHoldResponse), hold
        assert isinstance(refused, grpc.aio.AioRpcError)
        assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
        b = await balance(stub, w.wallet_id)
        assert (b.available, b.held) == ("2", "5")
    assert counter.claims < len(calls) / 3, counter.claims


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
