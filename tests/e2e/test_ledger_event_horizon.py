"""The settled event horizon: readers of wallet events (watch streams, the webhook dispatcher) never
block writers, and never skip an event whose transaction commits after a later one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import grpc
from billing.ledger.v1 import ledger_pb2 as pb

from tests.support.ledger import debit_request, make_grant, make_wallet, rid

# Longer than a grant takes on a busy machine, shorter than the wait a reader's table lock imposed
# (its lock timeout, 2 s): a writer held back by a reader misses it.
WRITER_TIMEOUT_S = 1.5
CONDITION_TIMEOUT_S = 10.0


@asynccontextmanager
async def open_event_insert(ledger_db: str, wallet_id: str, event_id: str) -> AsyncIterator[None]:
    """A transaction that has inserted an event (so holds its cursor) and stays open."""
    conn = await asyncpg.connect(ledger_db)
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.execute(
            "INSERT INTO wallet_events (id, wallet_id, type, occurred_time, book_time, data)"
            " VALUES ($2, $1, 'GRANT_CREATED', now(), now(), '{}'::jsonb)",
            wallet_id,
            event_id,
        )
        yield
        await tx.commit()
    finally:
        await conn.close()


async def a_lock_on_events_is_waiting(ledger_db: str) -> bool:
    conn = await asyncpg.connect(ledger_db)
    try:
        return bool(
            await conn.fetchval(
                "SELECT count(*) FROM pg_locks"
                " WHERE relation = 'wallet_events'::regclass AND NOT granted"
            )
        )
    finally:
        await conn.close()


async def test_a_writer_is_not_held_back_while_a_reader_takes_the_horizon(
    ledger_server, ledger_db
) -> None:
    """A reader computing the horizon while a transaction holds an uncommitted event open must
    neither wait for that transaction nor make new writers wait behind it."""
    stub = ledger_server.stub
    held, other = await make_wallet(stub), await make_wallet(stub)
    async with open_event_insert(ledger_db, held.wallet_id, "open-event"):
        horizon = asyncio.create_task(ledger_server.app.event_horizon(fresh=True))
        # Until the reader has either answered or is queued on a lock (what a table lock does).
        async with asyncio.timeout(CONDITION_TIMEOUT_S):
            while not horizon.done() and not await a_lock_on_events_is_waiting(ledger_db):
                await asyncio.sleep(0.01)
        async with asyncio.timeout(WRITER_TIMEOUT_S):
            await make_grant(stub, other.wallet_id, "10")
        settled = await horizon
        conn = await asyncpg.connect(ledger_db)
        try:
            open_cursor = await conn.fetchval(
                "SELECT seq FROM wallet_events WHERE wallet_id = $1", other.wallet_id
            )
        finally:
            await conn.close()
    # The open transaction's cursor is below the later grant's: the horizon stays short of both.
    assert settled < open_cursor


async def test_an_event_whose_cursor_was_taken_before_its_transaction_had_an_id_is_not_skipped(
    ledger_server, ledger_db
) -> None:
    """The first statement of a transaction takes its cursor (the column default) before it writes
    the row, and it is the write that gives the transaction its id: a horizon taken between the two
    must still wait for it. Here the insert computes its last column slowly, after the cursor."""
    stub = ledger_server.stub
    held, other = await make_wallet(stub), await make_wallet(stub)
    # (PostgreSQL writes a sequence's state ahead every 32 values, and the write gives the
    # transaction an id; this first event makes the slow insert's cursor one not written ahead.)
    await make_grant(stub, other.wallet_id, "10")
    before = await ledger_server.app.event_horizon(fresh=True)
    slow = await asyncpg.connect(ledger_db)
    watcher = await asyncpg.connect(ledger_db)
    try:
        sequence = await watcher.fetchval("SELECT pg_get_serial_sequence('wallet_events', 'seq')")
        last_taken = (
            f"SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {sequence}"
        )
        taken = await watcher.fetchval(last_taken)
        insert = asyncio.create_task(
            slow.execute(
                "INSERT INTO wallet_events (id, wallet_id, type, occurred_time, book_time, data)"
                " VALUES ('slow-event', $1, 'GRANT_CREATED', now(), now(),"
                " jsonb_build_object('slept', pg_sleep(1.5)::text))",
                held.wallet_id,
            )
        )
        # Until the slow insert has taken its cursor (it is still computing its row).
        async with asyncio.timeout(CONDITION_TIMEOUT_S):
            while await watcher.fetchval(last_taken) == taken:
                await asyncio.sleep(0.01)
        assert not insert.done()
        await make_grant(stub, other.wallet_id, "10")  # a later cursor, committed first
        after_grant = await ledger_server.app.event_horizon(fresh=True)
        await insert
        seen = await watcher.fetch("SELECT seq FROM wallet_events WHERE seq > $1", before)
    finally:
        await slow.close()
        await watcher.close()
    slow_cursor = min(row["seq"] for row in seen)
    assert after_grant < slow_cursor, (before, after_grant, slow_cursor)


async def test_under_load_every_committed_event_reaches_the_watcher_and_the_dispatcher_once(
    ledger_server, ledger_db
) -> None:
    """Concurrent debits (each crossing alert thresholds), outside transactions that insert an
    event and commit or roll back after a while (so commits come out of cursor order), a watch
    stream on every wallet and the webhook dispatcher, all at once. Afterwards the stream has
    delivered every committed event exactly once, in cursor order, and the dispatcher has made one
    delivery per committed event: nothing skipped, nothing twice."""
    stub = ledger_server.stub
    webhooks = ledger_server.ledger.webhooks
    # Global, every type, from the first event; never sent (only the dispatcher runs here), so
    # any address will do.
    await stub.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(request_id=rid(), url="http://127.0.0.1:9/hooks")
    )
    wallets = [await make_wallet(stub) for _ in range(8)]
    for wallet in wallets:
        await make_grant(stub, wallet.wallet_id, "1000")
    seen: list[pb.WalletEvent] = []
    call = stub.WatchWalletEvents(pb.WatchWalletEventsRequest(after_cursor=0))

    async def watch() -> None:
        async for message in call:
            seen.append(message.event)

    async def debits(wallet_id: str) -> None:
        for _ in range(12):  # 1000 -> 0 in steps of 100, then refused: four alerts each
            try:
                await stub.Debit(debit_request(wallet_id, "100"))
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc

    async def slow_events(n: int) -> None:
        conn = await asyncpg.connect(ledger_db)
        try:
            for i in range(6):
                tx = conn.transaction()
                await tx.start()
                await conn.execute(
                    "INSERT INTO wallet_events (id, wallet_id, type, occurred_time, book_time,"
                    " data) VALUES ($1, $2, 'GRANT_CREATED', now(), now(), '{}'::jsonb)",
                    f"slow-{n}-{i}",
                    wallets[n].wallet_id,
                )
                # Held open while the debits commit later cursors; a third are rolled back.
                await conn.execute("SELECT pg_sleep(0.05 * $1)", n + i % 3)
                await (tx.rollback() if i % 3 == 2 else tx.commit())
        finally:
            await conn.close()

    load_done = asyncio.Event()

    async def dispatch() -> None:
        while not load_done.is_set():
            await webhooks.dispatch()

    watcher = asyncio.create_task(watch())
    dispatcher = asyncio.create_task(dispatch())
    try:
        await asyncio.gather(
            *(debits(w.wallet_id) for w in wallets),
            *(slow_events(n) for n in range(4)),
        )
        load_done.set()
        await dispatcher
        conn = await asyncpg.connect(ledger_db)
        try:
            committed = [r["seq"] for r in await conn.fetch("SELECT seq FROM wallet_events")]
            last = max(committed)
            # Until the dispatcher's cursor and the stream have reached the last event.
            async with asyncio.timeout(CONDITION_TIMEOUT_S):
                while await conn.fetchval("SELECT min(cursor) FROM webhook_endpoints") < last:
                    await webhooks.dispatch()
                while not seen or seen[-1].cursor < last:
                    await asyncio.sleep(0.05)
            delivered = [
                r["event_seq"] for r in await conn.fetch("SELECT event_seq FROM webhook_deliveries")
            ]
        finally:
            await conn.close()
    finally:
        load_done.set()
        call.cancel()
        await asyncio.gather(watcher, dispatcher, return_exceptions=True)
    assert len(committed) > 8 * 5  # grants, alerts and the slow events that committed
    assert [e.cursor for e in seen] == sorted(committed)
    assert sorted(delivered) == sorted(committed)
