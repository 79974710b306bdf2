"""Design check (a count, not a timing): ingesting a batch costs the same number of SQL statements
for 1 event as for 1,000, and the forwarder's statements per round do not grow with the number of
charges it delivers."""

from __future__ import annotations

from datetime import timedelta

from billing.rating.v1 import rating_pb2 as pb
from sqlalchemy import event as sa_event

from tests.support.rating import event, ingest
from tests.support.servers import START

T = START + timedelta(hours=1)


class StatementCounter:
    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.count = 0
        sa_event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: object) -> None:
        self.count += 1

    def reset(self) -> int:
        seen, self.count = self.count, 0
        return seen


async def test_ingest_statements_do_not_grow_with_batch_size(rating) -> None:  # type: ignore[no-untyped-def]
    unique = await rating.setup_customer(
        start=START, aggregation=pb.AGGREGATION_UNIQUE_COUNT, prop="user"
    )
    rating.clock.set(T)
    counter = StatementCounter(rating.rating.engine)
    await ingest(rating.stub, [event(unique.customer_id, T, "one", user="u-1")])
    one = counter.reset()
    events = [event(unique.customer_id, T, f"e{i}", user=f"u{i % 300}") for i in range(1000)]
    response = await ingest(rating.stub, events)
    thousand = counter.reset()
    assert {r.status for r in response.results} == {pb.EVENT_STATUS_ACCEPTED}
    print(f"statements: batch of 1 -> {one}, batch of 1000 -> {thousand}")
    assert thousand == one
    assert thousand <= 16

    # The forwarder: one round for 1 due charge, one round for 500, the same statements.
    await rating.drain()
    await ingest(rating.stub, [event(unique.customer_id, T, "late-1", user="new-1")])
    counter.reset()
    await rating.rating.forwarder.run_once()
    single = counter.reset()
    await ingest(
        rating.stub, [event(unique.customer_id, T, f"f{i}", user=f"new-f{i}") for i in range(500)]
    )
    counter.reset()
    assert await rating.rating.forwarder.run_once() == 500
    assert counter.reset() == single
