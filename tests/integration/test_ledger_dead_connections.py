"""A pooled connection that died while idle is replaced, not answered with UNAVAILABLE.

The ledger's pool does not ping a connection before handing it out (three round trips a
transaction). A connection whose server process went away while it sat in the pool (killed with
`pg_terminate_backend` here, as a restart or an idle timeout would) fails at its first round trip
instead; the unit of work then runs the transaction once more on a fresh connection. Nothing of
the first attempt was committed (its idempotency claims are written in the same transaction), so
each write is booked exactly once.
"""

from __future__ import annotations

from decimal import Decimal

import asyncpg
from billing.ledger.v1 import ledger_pb2 as pb

from tests.support.ledger import balance, debit_request, make_grant, make_wallet
from tests.support.waiting import until

OTHERS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> $1"


async def kill_idle_pool(uri: str) -> int:
    """Terminate every connection of the ledger's database but this one; wait until they are
    gone. Returns how many were killed."""
    conn = await asyncpg.connect(uri)
    try:
        me = await conn.fetchval("SELECT pg_backend_pid()")
        pids = [r["pid"] for r in await conn.fetch(OTHERS, me)]
        for pid in pids:
            await conn.execute("SELECT pg_terminate_backend($1)", pid)

        async def gone() -> bool:
            return not await conn.fetch(OTHERS, me)

        await until(gone, "the pooled connections are gone")
        return len(pids)
    finally:
        await conn.close()


async def test_a_write_on_a_connection_killed_while_idle_is_booked_once(
    ledger_server, ledger_db
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    await stub.Debit(debit_request(wallet.wallet_id, "1"))  # the pool holds connections now
    assert await kill_idle_pool(ledger_db) >= 1

    request = debit_request(wallet.wallet_id, "2")
    response = await stub.Debit(request)
    replay = await stub.Debit(request)

    assert response == replay
    assert Decimal((await balance(stub, wallet.wallet_id)).available) == Decimal("97")


async def test_a_batch_and_a_balance_read_survive_connections_killed_while_idle(
    ledger_server,
    ledger_db,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    await stub.Debit(debit_request(wallet.wallet_id, "1"))
    await kill_idle_pool(ledger_db)

    read = await balance(stub, wallet.wallet_id)
    assert Decimal(read.available) == Decimal("99")

    await kill_idle_pool(ledger_db)
    batch = await stub.DebitBatch(
        pb.DebitBatchRequest(debits=[debit_request(wallet.wallet_id, "3") for _ in range(3)])
    )
    assert all(r.HasField("entry") for r in batch.results)
    assert Decimal((await balance(stub, wallet.wallet_id)).available) == Decimal("90")
