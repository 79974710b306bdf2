"""The forwarder sends several DebitBatch calls at once, partitioned by wallet: each wallet's
charges reach the ledger in charge order; and with several forwarders (several rating processes)
on one database, every charge is sent by one of them only, once, and a refund split is counted
once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from billing.rating.v1 import rating_pb2 as pb

from rating_service import main as rating_main
from rating_service.app.forwarder import Forwarder, ForwarderPolicy, partition_of
from rating_service.config import RatingSettings
from tests.support.channels import admin_key_file
from tests.support.rating import (
    event,
    ingest,
    rows,
)
from tests.support.servers import START
from tests.support.tls import rating_settings

T = START + timedelta(hours=1)
BOUND_S = 60  # a bound on each wait, never a sleep: the conditions below end it


class Recorded:
    """The rating service's real ledger client, with the DebitBatch calls it makes recorded: the
    request ids of each call (in the order it ends), and how many were in flight at most."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.calls: list[list[str]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    async def debit_batch(self, items):  # type: ignore[no-untyped-def]
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self.inner.debit_batch(items)
        finally:
            self.in_flight -= 1
            self.calls.append([i.request_id for i in items])


async def customers_in_two_partitions(rating, partitions: int) -> list:  # type: ignore[no-untyped-def]
    """Four customers or more with their own wallets, at least two of the wallets in different
    partitions (made until so, bounded: four random wallets share a partition one time in
    eight)."""
    made = []
    for _ in range(40):
        made.append(await rating.setup_customer(start=START))
        if len(made) >= 4 and len({partition_of(s.wallet_id, partitions) for s in made}) > 1:
            return made
    raise AssertionError("no two wallets in different partitions")


async def test_partitions_are_sent_at_once_and_each_wallet_keeps_charge_order(rating) -> None:  # type: ignore[no-untyped-def]
    customers = await customers_in_two_partitions(rating, 4)
    rating.clock.set(T)
    # Interleaved: 6 events per customer, each customer's in a known order (units differ).
    events = [
        event(s.customer_id, T, f"{s.customer_id}-{n}", units=str(n + 1))
        for n in range(6)
        for s in customers
    ]
    await ingest(rating.stub, events)
    recorded = Recorded(rating.rating.app.context.ledger)
    rating.rating.app.context.ledger = recorded
    forwarder = Forwarder(
        rating.rating.app.context, ForwarderPolicy(batch_size_max=2, concurrency=4)
    )
    # A round takes batch_size_max * concurrency charges: 8 at a time (24 with four customers;
    # 30 when a fifth was needed to span two partitions), then a round with nothing due.
    full, rest = divmod(len(events), 8)
    expected = [8] * full + ([rest] if rest else []) + [0]
    assert [await forwarder.run_once() for _ in expected] == expected

    assert recorded.most_in_flight > 1
    assert all(len(call) <= 2 for call in recorded.calls)
    bookings = await rating.ledger.bookings()
    assert len(bookings) == len(events) and set(bookings.values()) == {1}
    sent = [request_id for call in recorded.calls for request_id in call]
    for s in customers:
        expected = [f"{s.customer_id}-{n}" for n in range(6)]
        # Sent in charge order ...
        mine = [r for r in sent if f":{s.customer_id}-" in r]
        assert [r.split(":")[3] for r in mine] == expected
        # ... and booked in that order: the wallet's journal (newest first) read backwards.
        journal = await rating.ledger.entries([s.wallet_id])
        assert [e.source_event_id for e in reversed(journal)] == expected


async def test_two_forwarders_on_one_database_send_each_charge_once(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    t = await rating.setup_customer(start=START)
    rating.clock.set(T)
    events = [event(c.customer_id, T, units="1") for _ in range(40) for c in (s, t)]
    await ingest(rating.stub, events)
    # A second rating process on the same database (its own pool), the same ledger.
    other = await rating_main.build(
        RatingSettings(
            admin_key_file=admin_key_file(),
            ledger_api_key_file=admin_key_file(),
            database_url=rating.uri,
            listen="127.0.0.1:0",
            migrate=False,
            pool_size=5,
            forward=False,
            ledger_target=rating.ledger.proxy.target,
            **rating_settings(),
        ),
        rating.clock,
    )
    apps = [rating.rating.app.context, other.app.context]
    recorders = []
    for app in apps:
        recorders.append(Recorded(app.ledger))
        app.ledger = recorders[-1]
    policy = ForwarderPolicy(batch_size_max=3, idle_s=0.01)
    stopping = asyncio.Event()
    runs = [asyncio.create_task(Forwarder(app, policy).run(stopping)) for app in apps]
    try:
        for _ in range(BOUND_S * 100):
            if await rating.rating.app.context.read(lambda repo: repo.pending_charges()) == 0:
                break
            await asyncio.sleep(0.01)
    finally:
        stopping.set()
        await asyncio.wait_for(asyncio.gather(*runs), BOUND_S)
        await other.close()
    sends = Counter(r for rec in recorders for call in rec.calls for r in call)
    assert len(sends) == len(events)
    assert set(sends.values()) == {1}, [r for r, n in sends.items() if n > 1][:5]
    bookings = await rating.ledger.bookings()
    assert len(bookings) == len(events) and set(bookings.values()) == {1}


async def test_when_the_leading_forwarder_stops_a_waiting_one_takes_over(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    other = await rating_main.build(
        RatingSettings(
            admin_key_file=admin_key_file(),
            ledger_api_key_file=admin_key_file(),
            database_url=rating.uri,
            listen="127.0.0.1:0",
            migrate=False,
            pool_size=5,
            forward=False,
            ledger_target=rating.ledger.proxy.target,
            **rating_settings(),
        ),
        rating.clock,
    )
    first, second = Recorded(rating.rating.app.context.ledger), Recorded(other.app.context.ledger)
    rating.rating.app.context.ledger, other.app.context.ledger = first, second
    policy = ForwarderPolicy(idle_s=0.01)
    stop_first, stop_second = asyncio.Event(), asyncio.Event()

    async def drained() -> None:
        for _ in range(BOUND_S * 100):
            if await rating.rating.app.context.read(lambda repo: repo.pending_charges()) == 0:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("charges still pending")

    leading = asyncio.create_task(Forwarder(rating.rating.app.context, policy).run(stop_first))
    waiting = None
    try:
        await ingest(
            rating.stub, [event(s.customer_id, T, f"before-{n}", units="1") for n in range(3)]
        )
        await drained()  # delivered by the first forwarder: it leads
        waiting = asyncio.create_task(Forwarder(other.app.context, policy).run(stop_second))
        stop_first.set()
        await asyncio.wait_for(leading, BOUND_S)
        await ingest(
            rating.stub, [event(s.customer_id, T, f"after-{n}", units="1") for n in range(3)]
        )
        await drained()
    finally:
        stop_first.set()
        stop_second.set()
        await asyncio.wait_for(asyncio.gather(leading, *([waiting] if waiting else [])), BOUND_S)
        await other.close()
    assert {r.split(":")[3] for call in first.calls for r in call} == {
        f"before-{n}" for n in range(3)
    }
    assert {r.split(":")[3] for call in second.calls for r in call} == {
        f"after-{n}" for n in range(3)
    }


async def test_two_forwarders_count_a_refund_split_once(rating) -> None:  # type: ignore[no-untyped-def]
    # Usage is paid from a prepaid grant (prepaid_credits_applied below).
    wallet = await rating.ledger.wallet(credits="100")
    s = await rating.setup_customer(
        start=START, wallet_id=wallet, aggregation=pb.AGGREGATION_LATEST, prop="seats"
    )
    rating.clock.set(T)
    await ingest(rating.stub, [event(s.customer_id, T, "l1", seats="10")])
    await rating.drain()
    await ingest(rating.stub, [event(s.customer_id, T + timedelta(minutes=1), "l2", seats="4")])
    client = rating.ledger.client
    orig = client.refund
    in_call = 0
    both_in = asyncio.Event()  # both forwarders are in the call before either records it

    async def held(request_id, entry_id, amount, description):  # type: ignore[no-untyped-def]
        nonlocal in_call
        in_call += 1
        if in_call == 2:
            both_in.set()
        await asyncio.wait_for(both_in.wait(), BOUND_S)
        return await orig(request_id, entry_id, amount, description)  # the real ledger books

    async def run_once(forwarder: Forwarder) -> None:
        try:
            await forwarder.run_once()
        finally:
            both_in.set()  # a forwarder that found nothing to send holds nobody back

    client.refund = held
    second = Forwarder(rating.rating.app.context)
    await asyncio.gather(run_once(rating.rating.forwarder), run_once(second))
    assert in_call == 2
    amounts = await rating.ledger.amounts()
    bookings = await rating.ledger.bookings()
    assert bookings[next(k for k in amounts if "refund" in k)] == 1
    assert await rows(rating, "select amount, prepaid from charges where event_id = 'l2'") == [
        (Decimal(-3), Decimal(-3))
    ]
    invoice = (
        await rating.stub.GetInvoice(pb.GetInvoiceRequest(customer_id=s.customer_id))
    ).invoice
    assert invoice.prepaid_credits_applied == "2"


async def test_two_forwarders_sending_the_same_debits_book_each_once(rating) -> None:  # type: ignore[no-untyped-def]
    # Without the leadership (as if two processes both thought they led): both rounds read the
    # same PENDING charges and send them; the ledger books each request id once.
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    events = [event(s.customer_id, T, f"twice-{n}", units="1") for n in range(20)]
    await ingest(rating.stub, events)
    first = Recorded(rating.rating.app.context.ledger)
    inner = first.inner
    in_call = 0
    both_in = asyncio.Event()  # both rounds are in the call before either records its answer

    async def held(items):  # type: ignore[no-untyped-def]
        nonlocal in_call
        in_call += 1
        if in_call == 2:
            both_in.set()
        await asyncio.wait_for(both_in.wait(), BOUND_S)
        return await inner.debit_batch(items)

    class Held:
        debit_batch = staticmethod(held)

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(inner, name)

    first.inner = Held()
    rating.rating.app.context.ledger = first
    await asyncio.gather(
        Forwarder(rating.rating.app.context).run_once(),
        Forwarder(rating.rating.app.context).run_once(),
    )
    sends = Counter(r for call in first.calls for r in call)
    assert len(sends) == len(events) and set(sends.values()) == {2}
    bookings = await rating.ledger.bookings()
    assert len(bookings) == len(events) and set(bookings.values()) == {1}
    assert await rating.rating.app.context.read(lambda repo: repo.pending_charges()) == 0
    assert await rows(rating, "select count(*) from charges where status = 'ACKNOWLEDGED'") == [
        (len(events),)
    ]
