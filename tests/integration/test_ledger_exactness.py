"""Exactness: millions of tiny amounts summed through NUMERIC and Decimal stay exact."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
from billing.ledger.v1 import ledger_pb2 as pb

from tests.support.ledger import debit_request, make_grant, make_wallet

ROWS = 2_000_000
TINY = "0.000001"


async def test_two_million_micro_debits_verify_exactly(ledger_server, ledger_db) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    granted = await make_grant(stub, wallet.wallet_id, "3")
    # One real batch through the service: 1,000 debits of 0.000001.
    batch = await stub.DebitBatch(
        pb.DebitBatchRequest(debits=[debit_request(wallet.wallet_id, TINY) for _ in range(1000)])
    )
    assert all(r.HasField("entry") for r in batch.results)
    assert batch.results[-1].entry.available_after == "2.999"
    # Then two million more journal rows of 0.000001, written in bulk as the service books them,
    # so that VerifyWallet's NUMERIC sums and Decimal arithmetic run over millions of tiny amounts.
    conn = await asyncpg.connect(ledger_db)
    try:
        async with conn.transaction():
            await conn.execute(
                """
                INSERT INTO entries (id, wallet_id, type, amount, occurred_time, book_time,
                                     available_after, overage_after)
                SELECT 'bulk-' || i, $1, 'DEBIT', -$3::numeric, now(), now(), 0, 0
                FROM generate_series(1, $2) AS i
                """,
                wallet.wallet_id,
                ROWS,
                Decimal(TINY),
            )
            await conn.execute(
                """
                INSERT INTO allocations (entry_id, position, grant_id, amount)
                SELECT 'bulk-' || i, 0, $1, -$3::numeric FROM generate_series(1, $2) AS i
                """,
                granted.grant.grant_id,
                ROWS,
                Decimal(TINY),
            )
            await conn.execute(
                "UPDATE grants SET remaining = remaining - $2::numeric WHERE id = $1",
                granted.grant.grant_id,
                Decimal(TINY) * ROWS,
            )
    finally:
        await conn.close()
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
    assert report.consistent, report.differences
    # 1,000 + 2,000,000 debits of 0.000001 = 2.001 exactly; 3 - 2.001 = 0.999 left.
    assert (report.consumed, report.remaining) == ("2.001", "0.999")
    balance = (await stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))).balance
    assert balance.available == "0.999"


def test_decimal_sum_of_a_million_micro_amounts_is_exact() -> None:
    total = sum((Decimal(TINY) for _ in range(1_000_000)), Decimal(0))
    assert total == Decimal(1)
    assert str(total.normalize()) == "1"
