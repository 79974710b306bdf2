"""Concurrent IngestEvents: batches of different customers never wait for each other; events of
one aggregate do (the incremental rule needs the aggregate as the last event left it)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from billing.rating.v1 import rating_pb2 as pb
from sqlalchemy import text

from rating_service.adapters.db.repository import RatingRepository
from rating_service.app import commands as cmd
from rating_service.app.accept import accept
from tests.support.rating import event, ingest
from tests.support.servers import START

T = START + timedelta(hours=1)
BOUND_S = 30  # a bound on each wait, never a sleep: the conditions below end it


def event_in(customer_id: str, event_id: str) -> cmd.EventIn:
    return cmd.EventIn(
        event_id=event_id,
        customer_id=customer_id,
        type="api.call",
        occurred_time=T,
        properties={"units": "3"},
    )


async def waiting_on_a_lock(engine) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return int(found.scalar_one())


async def test_a_batch_does_not_wait_for_another_customers_open_batch(rating) -> None:  # type: ignore[no-untyped-def]
    a = await rating.setup_customer(start=START)
    b = await rating.setup_customer(start=START)
    rating.clock.set(T)
    app = rating.rating.app.context
    engine = rating.rating.engine
    async with engine.connect() as conn:
        held = await conn.begin()
        # Customer A's batch is accepted (aggregates locked, charges written) and left open.
        outcomes, _ = await accept(
            RatingRepository(conn),
            [event_in(a.customer_id, "a-1")],
            app.clock.now(),
            rating.rating.app.ingest.policy,
        )
        assert outcomes[0].status == cmd.EventStatus.ACCEPTED
        # Customer B's batch goes through meanwhile.
        other = await asyncio.wait_for(
            ingest(rating.stub, [event(b.customer_id, T, "b-1", units="2")]), BOUND_S
        )
        assert other.results[0].status == pb.EVENT_STATUS_ACCEPTED
        # A second batch of customer A waits for the first (same aggregate) ...
        same = asyncio.create_task(ingest(rating.stub, [event(a.customer_id, T, "a-2", units="4")]))
        for _ in range(BOUND_S * 100):
            if await waiting_on_a_lock(engine) or same.done():
                break
            await asyncio.sleep(0.01)
        assert not same.done()
        assert await waiting_on_a_lock(engine) == 1
        await held.commit()
    # ... and then prices from the aggregate the first one left (3 units, then 4 more).
    second = await asyncio.wait_for(same, BOUND_S)
    charge = second.results[0].charges[0]
    assert (charge.quantity_before, charge.quantity_after, charge.amount) == ("3", "7", "2")
