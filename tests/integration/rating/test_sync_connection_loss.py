"""Synchronous ingest when the database connection it holds dies (a PostgreSQL restart, or its
backend terminated) while it waits for the ledger: the caller is told UNAVAILABLE (retry with the
same request_id), never INTERNAL, and a retry of the same request and event charges the event
exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import asyncpg
import grpc
import pytest

from rating_service.adapters.db.repository import RatingRepository
from tests.conftest import START
from tests.integration.rating.helpers import event, ingest, rid
from tests.integration.rating.test_ingest import reason_of

T = START + timedelta(hours=1)


async def terminate_lock_holders(uri: str) -> int:
    """Terminate every session of the rating database that holds an advisory lock (the
    synchronous ingest keeps its aggregates' locks on its connection across the ledger call)."""
    conn = await asyncpg.connect(uri)
    try:
        killed = await conn.fetch(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid() "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    finally:
        await conn.close()
    return len(killed)


async def debits_of(rating, event_id: str) -> Counter[str]:  # type: ignore[no-untyped-def]
    """DEBIT entries booked for the event, by request id."""
    return Counter(
        e.request_id for e in await rating.ledger.entries() if e.source_event_id == event_id
    )


def kill_connection_during_ledger_call(rating, killed: list[int]) -> None:  # type: ignore[no-untyped-def]
    """The next DebitBatch first terminates the ingest's database session, then reaches the real
    ledger (which books the debits)."""
    led = rating.ledger.client
    orig = led.debit_batch

    async def cut(items):  # type: ignore[no-untyped-def]
        led.debit_batch = orig
        killed.append(await terminate_lock_holders(rating.uri))
        return await orig(items)

    led.debit_batch = cut


def kill_connection_after_the_event_is_held(monkeypatch, rating, killed: list[int]) -> None:  # type: ignore[no-untyped-def]
    """Between transaction A (the event committed HELD, its aggregates locked on the session)
    and the ledger call, the ingest reads its meters: the first such read made while the
    session holds its locks first terminates that session (a restart at that moment)."""
    orig = RatingRepository.meters_by_ids

    async def cut(self, ids):  # type: ignore[no-untyped-def]
        if not killed:
            n = await terminate_lock_holders(rating.uri)
            if n:
                killed.append(n)
        return await orig(self, ids)

    monkeypatch.setattr(RatingRepository, "meters_by_ids", cut)


async def test_a_connection_lost_before_the_ledger_call_is_unavailable_never_internal(
    rating,  # type: ignore[no-untyped-def]
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    killed: list[int] = []
    kill_connection_after_the_event_is_held(monkeypatch, rating, killed)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ingest(
            rating.stub, [event(s.customer_id, T, "e1", units="4")], sync=True, request_id=rid()
        )
    assert killed == [1]
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
    assert reason_of(err.value)[0] == "UNAVAILABLE"
    assert await debits_of(rating, "e1") == Counter()  # the ledger was never asked
    # The event is kept (HELD, its charge PENDING): the forwarder delivers it after the hold.
    rating.clock.set(T + timedelta(minutes=10))
    await rating.drain()
    assert list((await debits_of(rating, "e1")).values()) == [1]


async def test_a_connection_lost_during_the_ledger_call_is_unavailable_never_internal(
    rating,  # type: ignore[no-untyped-def]
) -> None:
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    killed: list[int] = []
    kill_connection_during_ledger_call(rating, killed)
    request_id = rid()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ingest(
            rating.stub,
            [event(s.customer_id, T, "e1", units="4")],
            sync=True,
            request_id=request_id,
        )
    assert killed and killed[0] >= 1
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
    assert reason_of(err.value)[0] == "UNAVAILABLE"
    # The ledger booked the debit; whatever happens next, it is the only one.
    assert sum((await debits_of(rating, "e1")).values()) == 1
    rating.clock.set(T + timedelta(minutes=10))
    await rating.drain()
    assert list((await debits_of(rating, "e1")).values()) == [1]
