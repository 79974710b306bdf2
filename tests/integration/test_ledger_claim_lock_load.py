"""The write pipeline's one-call read (`claim_and_lock`: claims, locks and locked state in one
round trip, read before the write's time is taken) gives the same state as locking, taking the
time and then reading (`lock_states`), whatever the write's time turns out to be: later the same
instant, past a consumed grant's expiry, or on the next day (the top-up caps' day). And what a
claim or a lock waited for is seen: each statement of the call reads after its wait."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import grpc
import pytest

from ledger_service.adapters.db.repository import LedgerRepository
from tests.support.errors import reason_of
from tests.support.ledger import debit_request, make_grant, make_wallet, rid
from tests.support.servers import START
from tests.support.waiting import until

TOPUP = """
INSERT INTO topups (id, wallet_id, amount, unit_price, currency, state, create_time, kind,
  priority)
VALUES ($1, $2, 5, 0, 'USD', 'COMPLETED', $3, 'PREPAID', 0)
"""

# The time before the call, and the write's time taken after it.
NOW = START + timedelta(hours=23, minutes=30)
CASES = {
    "same instant": (NOW, NOW),
    "past a consumed grant's expiry": (NOW, NOW + timedelta(minutes=20)),
    "the next day": (NOW, NOW + timedelta(hours=1)),
}


@pytest.mark.parametrize("case", CASES)
async def test_the_one_call_read_equals_lock_then_read_at_the_write_time(
    ledger_server, case: str
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    # A grant used up but in force until 23:45 (percent alerts measure against it), a live one.
    await make_grant(stub, wallet, "10", priority=0, expire=START + timedelta(hours=23, minutes=45))
    await make_grant(stub, wallet, "50", priority=5)
    await stub.Debit(debit_request(wallet, "10"))
    engine = ledger_server.ledger.engine
    async with engine.begin() as conn:
        repo = LedgerRepository(conn)
        pg = await repo._pg()
        await pg.execute(TOPUP, rid(), wallet, START + timedelta(hours=1))

    before, at = CASES[case]
    async with engine.begin() as conn:
        repo = LedgerRepository(conn)
        expected, _ = await repo.lock_states([wallet], lambda: at)
        await conn.rollback()
    async with engine.begin() as conn:
        repo = LedgerRepository(conn)
        claims, states, when = await repo.claim_and_lock(
            [(rid(), "Debit", b"x", wallet)], before, lambda: at
        )
        await conn.rollback()

    assert when == at
    assert [c.claimed for c in claims.values()] == [True]
    assert states == expected
    in_force = {g.amount for g in states[wallet].grants.values()}
    assert in_force == ({10, 50} if at < START + timedelta(hours=23, minutes=45) else {50})
    assert states[wallet].automation.topped_up_day == (5 if at.day == START.day else 0)


WAITING = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


async def someone_waits(ledger_db: str) -> None:
    """Until a transaction of the ledger's database waits for a lock (read from a connection of
    its own: a transaction keeps reading the activity it saw first)."""
    probe = await asyncpg.connect(ledger_db)
    try:

        async def waiting() -> bool:
            return bool(await probe.fetchval(WAITING))

        await until(waiting, "a ledger transaction waits for a lock")
    finally:
        await probe.close()


async def holding(ledger_db: str, *statements: tuple[str, object]) -> asyncpg.Connection:
    """A connection in a transaction that has run `statements` (each (sql, argument))."""
    conn = await asyncpg.connect(ledger_db)
    await conn.execute("BEGIN")
    for sql, arg in statements:
        await conn.execute(sql, arg)
    return conn


async def test_a_write_that_waited_for_a_wallet_lock_reads_what_its_holder_committed(
    ledger_server, ledger_db
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    # Another transaction holds the wallet's lock and spends its credits.
    holder = await holding(
        ledger_db,
        ("SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE", wallet),
        ("UPDATE grants SET remaining = 0 WHERE wallet_id = $1", wallet),
    )
    try:
        debit = asyncio.ensure_future(stub.Debit(debit_request(wallet, "5")))
        await someone_waits(ledger_db)  # the debit, for the wallet's lock
        await holder.execute("COMMIT")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await debit
    finally:
        await holder.close()
    assert reason_of(refused.value)[0] == "INSUFFICIENT_CREDITS"


async def test_a_write_that_waited_for_its_request_id_reads_what_its_holder_committed(
    ledger_server, ledger_db
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    request = debit_request(wallet, "5")
    # Another transaction claims the same request id, for another request, and commits it.
    holder = await holding(
        ledger_db,
        (
            "INSERT INTO idempotency_keys (request_id, method, fingerprint, response, create_time)"
            " VALUES ($1, 'CreateHold', 'other', 'stored', now())",
            request.request_id,
        ),
    )
    try:
        debit = asyncio.ensure_future(stub.Debit(request))
        await someone_waits(ledger_db)  # the debit, for the request id
        await holder.execute("COMMIT")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await debit
    finally:
        await holder.close()
    assert reason_of(refused.value)[0] == "REQUEST_ID_CONFLICT"
