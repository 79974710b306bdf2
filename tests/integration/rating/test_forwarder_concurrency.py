"""The forwarder sends several DebitBatch calls at once, each for its own wallets, and a wallet's
charges still reach the ledger in their order, each booked once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from billing.ledger.v1 import ledger_pb2 as lpb

from rating_service.app.ports import DebitItem
from tests.conftest import START
from tests.integration.rating.helpers import event, ingest

T = START + timedelta(hours=1)


async def test_wallets_go_in_parallel_and_each_wallets_charges_in_order(rating) -> None:  # type: ignore[no-untyped-def]
    forwarder = rating.rating.forwarder
    # Three calls at once, two charges per call: each wallet's five charges take three calls.
    forwarder.policy = replace(forwarder.policy, concurrency=3, batch_size_max=2)
    setups = [await rating.setup_customer(start=START) for _ in range(4)]
    rating.clock.set(T)
    for i in range(5):  # usage of every customer interleaved, as it arrives
        await ingest(
            rating.stub,
            [event(s.customer_id, T, f"{s.customer_id}-e{i}", units="1") for s in setups],
        )
    port = forwarder.app.ledger
    sent = port.debit_batch
    in_flight = peak = 0

    async def counted(items: list[DebitItem]):  # type: ignore[no-untyped-def]
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await sent(items)
        finally:
            in_flight -= 1

    port.debit_batch = counted
    try:
        await rating.drain()
    finally:
        port.debit_batch = sent
    assert peak == 3, peak  # the parts went at once
    for s in setups:
        entries = await rating.ledger.entries([s.wallet_id], types=[lpb.ENTRY_TYPE_DEBIT])
        # ListEntries lists newest first: reversed, the order the ledger booked them in.
        in_journal = [e.source_event_id for e in reversed(entries)]
        assert in_journal == [f"{s.customer_id}-e{i}" for i in range(5)]
    assert all(n == 1 for n in (await rating.ledger.bookings()).values())
