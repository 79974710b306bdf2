"""Design check (a count, not a timing): a DebitBatch costs the same number of SQL statements
whether it holds 1 debit or 1,000, and GetBalance's statement count does not grow with history."""

from __future__ import annotations

from billing.ledger.v1 import ledger_pb2 as pb
from sqlalchemy import event

from tests.ledger_helpers import debit_request, make_grant, make_wallet


class StatementCounter:
    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: object) -> None:
        self.count += 1

    def reset(self) -> int:
        seen, self.count = self.count, 0
        return seen


async def test_debit_batch_statements_do_not_grow_with_batch_size(ledger_server) -> None:
    stub = ledger_server.stub
    wallets = [await make_wallet(stub) for _ in range(10)]
    for w in wallets:
        await make_grant(stub, w.wallet_id, "1000")
        await make_grant(stub, w.wallet_id, "1000", kind=pb.GRANT_KIND_PROMOTIONAL)
    counter = StatementCounter(ledger_server.ledger.engine)
    await stub.DebitBatch(pb.DebitBatchRequest(debits=[debit_request(wallets[0].wallet_id, "1")]))
    one = counter.reset()
    # 1,000 debits over 10 wallets, some spanning two grants.
    debits = [debit_request(wallets[i % 10].wallet_id, "1.5") for i in range(1000)]
    response = await stub.DebitBatch(pb.DebitBatchRequest(debits=debits))
    thousand = counter.reset()
    assert all(r.HasField("entry") for r in response.results)
    print(f"statements: batch of 1 -> {one}, batch of 1000 -> {thousand}")
    assert thousand <= one + 2, (one, thousand)  # allocation rows may need a second page
    assert thousand <= 12


async def test_balance_statements_do_not_grow_with_history(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100000")
    counter = StatementCounter(ledger_server.ledger.engine)
    await stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))
    short = counter.reset()
    for _ in range(3):
        await stub.DebitBatch(
            pb.DebitBatchRequest(debits=[debit_request(wallet.wallet_id, "1") for _ in range(1000)])
        )
    counter.reset()
    await stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))
    assert counter.reset() == short
