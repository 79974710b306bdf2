"""Synchronous ingest when the database connection it holds dies (a PostgreSQL restart, or its
backend terminated) while it waits for the ledger: the caller is told UNAVAILABLE (retry with the
same request_id), never INTERNAL, and a retry of the same request and event charges the event
exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import asyncpg
import grpc
import pytest
from billing.rating.v1 import rating_pb2 as pb

from rating_service.adapters.db.catalogue_store import CatalogueStore
from rating_service.adapters.db.idempotency_store import ClaimStore
from tests.support.errors import reason_of
from tests.support.rating import event, ingest, rid
from tests.support.servers import START

T = START + timedelta(hours=1)


async def terminate_lock_holders(uri: str) -> int:
    """Terminate every session of the rating database that holds an advisory lock (the
    synchronous ingest keeps its request's and its aggregates' locks on its connection across
    the ledger call). How many sessions were terminated."""
    conn = await asyncpg.connect(uri)
    try:
        killed = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM (SELECT DISTINCT l.pid FROM pg_locks l "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid() "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())) s"
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
    and the ledger call, the ingest reads its meters: the first such read made once the
    event's aggregates are locked first terminates that session (a restart at that moment)."""
    orig = CatalogueStore.meters_by_ids

    async def cut(self, ids):  # type: ignore[no-untyped-def]
        if not killed and self.session_keys:  # the event's aggregates are locked
            killed.append(await terminate_lock_holders(rating.uri))
        return await orig(self, ids)

    monkeypatch.setattr(CatalogueStore, "meters_by_ids", cut)


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


# -- a retry takes over what the dead call left, at once, and charges it once --------------------


async def test_a_retry_after_the_connection_died_before_the_ledger_call_charges_once(
    rating,  # type: ignore[no-untyped-def]
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    killed: list[int] = []
    kill_connection_after_the_event_is_held(monkeypatch, rating, killed)
    request_id = rid()
    ev = event(s.customer_id, T, "e1", units="4")
    with pytest.raises(grpc.aio.AioRpcError):
        await ingest(rating.stub, [ev], sync=True, request_id=request_id)
    assert killed == [1]
    # At once (the clock has not moved; sync_hold is 60 s): the same request and event.
    retry = await ingest(rating.stub, [ev], sync=True, request_id=request_id)
    assert retry.results[0].status == pb.EVENT_STATUS_CHARGED, retry.results[0]
    assert list((await debits_of(rating, "e1")).values()) == [1]
    assert await rating.ledger.balance(s.wallet_id) == Decimal(-2)
    replay = await ingest(rating.stub, [ev], sync=True, request_id=request_id)
    assert replay == retry
    rating.clock.set(T + timedelta(minutes=10))
    await rating.drain()
    assert list((await debits_of(rating, "e1")).values()) == [1]


async def test_a_retry_after_the_connection_died_during_the_ledger_call_charges_once(
    rating,  # type: ignore[no-untyped-def]
) -> None:
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    killed: list[int] = []
    kill_connection_during_ledger_call(rating, killed)
    request_id = rid()
    ev = event(s.customer_id, T, "e1", units="4")
    with pytest.raises(grpc.aio.AioRpcError):
        await ingest(rating.stub, [ev], sync=True, request_id=request_id)
    assert killed == [1]
    assert list((await debits_of(rating, "e1")).values()) == [1]  # the dead call's debit
    retry = await ingest(rating.stub, [ev], sync=True, request_id=request_id)
    assert retry.results[0].status == pb.EVENT_STATUS_CHARGED, retry.results[0]
    # The ledger answered the retry with the dead call's entry: still one debit.
    assert list((await debits_of(rating, "e1")).values()) == [1]
    assert await rating.ledger.balance(s.wallet_id) == Decimal(-2)
    rating.clock.set(T + timedelta(minutes=10))
    await rating.drain()
    assert list((await debits_of(rating, "e1")).values()) == [1]


async def test_a_claim_whose_holder_died_is_taken_over_at_once(
    rating,  # type: ignore[no-untyped-def]
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """The holder's process died before it could release its claim (as on a database restart,
    when the release cannot reach the database either): a retry is not told
    REQUEST_IN_PROGRESS for the rest of the lease."""
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    killed: list[int] = []
    kill_connection_after_the_event_is_held(monkeypatch, rating, killed)
    orig_release = ClaimStore.release_claim

    async def lost(self, request_id):  # type: ignore[no-untyped-def]
        return None  # the release never reaches the database

    monkeypatch.setattr(ClaimStore, "release_claim", lost)
    request_id = rid()
    ev = event(s.customer_id, T, "e1", units="4")
    with pytest.raises(grpc.aio.AioRpcError):
        await ingest(rating.stub, [ev], sync=True, request_id=request_id)
    assert killed == [1]
    monkeypatch.setattr(ClaimStore, "release_claim", orig_release)
    retry = await ingest(rating.stub, [ev], sync=True, request_id=request_id)
    assert retry.results[0].status == pb.EVENT_STATUS_CHARGED, retry.results[0]
    assert list((await debits_of(rating, "e1")).values()) == [1]


async def test_a_live_call_is_never_taken_over(rating) -> None:  # type: ignore[no-untyped-def]
    """While a synchronous call waits for the ledger, its locks are held: a retry of its request
    is told REQUEST_IN_PROGRESS and the same event in another synchronous request
    EVENT_IN_PROGRESS; the event is charged once."""
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    led = rating.ledger.client
    orig = led.debit_batch
    request_id = rid()
    ev = event(s.customer_id, T, "e1", units="4")
    seen: dict[str, object] = {}

    async def racing(items):  # type: ignore[no-untyped-def]
        led.debit_batch = orig
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ingest(rating.stub, [ev], sync=True, request_id=request_id)
        seen["retry"] = err.value
        seen["other"] = await ingest(rating.stub, [ev], sync=True)
        return await orig(items)

    led.debit_batch = racing
    first = await ingest(rating.stub, [ev], sync=True, request_id=request_id)
    assert first.results[0].status == pb.EVENT_STATUS_CHARGED
    retry = seen["retry"]
    assert isinstance(retry, grpc.aio.AioRpcError)
    assert reason_of(retry)[0] == "REQUEST_IN_PROGRESS"
    other = seen["other"]
    assert isinstance(other, pb.IngestEventsResponse)
    assert other.results[0].error.reason == "EVENT_IN_PROGRESS"
    assert list((await debits_of(rating, "e1")).values()) == [1]


async def test_a_refusal_met_on_taking_over_is_kept_as_in_asynchronous_mode(
    rating,  # type: ignore[no-untyped-def]
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """The call that takes a dead call's event over does not know what the aggregates were
    before it, so a DENY refusal is not undone: the event stays counted, its charge DENIED on
    the invoice (as in asynchronous mode), and nothing is booked."""
    s = await rating.setup_customer(start=START, wallet_id=await rating.ledger.wallet(deny=True))
    rating.clock.set(T)
    killed: list[int] = []
    kill_connection_after_the_event_is_held(monkeypatch, rating, killed)
    request_id = rid()
    ev = event(s.customer_id, T, "e1", units="4")
    with pytest.raises(grpc.aio.AioRpcError):
        await ingest(rating.stub, [ev], sync=True, request_id=request_id)
    assert killed == [1]
    retry = await ingest(rating.stub, [ev], sync=True, request_id=request_id)
    result = retry.results[0]
    assert result.status == pb.EVENT_STATUS_DENIED, result
    assert result.error.reason == "INSUFFICIENT_CREDITS"
    assert [c.status for c in result.charges] == [pb.CHARGE_STATUS_DENIED]
    again = await ingest(rating.stub, [ev])
    assert again.results[0].status == pb.EVENT_STATUS_DUPLICATE
    usage = await rating.stub.GetUsage(
        pb.GetUsageRequest(customer_id=s.customer_id, meter_id=s.meter.meter_id)
    )
    assert usage.total == "4"
    assert await debits_of(rating, "e1") == Counter()
