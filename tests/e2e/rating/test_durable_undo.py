"""A synchronous event refused on one meter is undone on every meter, durably: the decision and
the refunds it owes for the debits the ledger booked on the other meters are committed together,
and whatever refund the ledger could not take at once is completed by the forwarder, so the
ledger's journal and the rating charges always end up agreeing, whatever the ledger's outages."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as pb

from billing_common.protoconv import timestamp
from tests.support.rating import (
    event,
    ingest,
    make_meter,
    make_price,
    rid,
    rows,
)
from tests.support.servers import START

T = START + timedelta(hours=1)


async def customer_with_meters(rating, unit_prices: list[str], credits: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A customer on a plan with one PER_UNIT meter per price (all counting `units` of the same
    events), drawing on a new DENY wallet holding `credits`."""
    customer = "cust-" + rid()[:6]
    wallet = await rating.ledger.wallet(deny=True, credits=credits, customer_id=customer)
    prices = []
    for unit_price in unit_prices:
        meter = await make_meter(rating.stub, pb.AGGREGATION_SUM, "units")
        prices.append(
            await make_price(
                rating.stub,
                meter.meter_id,
                START,
                model=pb.PRICING_MODEL_PER_UNIT,
                unit_price=unit_price,
            )
        )
    plan = (
        await rating.stub.CreatePlan(
            pb.CreatePlanRequest(
                request_id=rid(),
                name="p",
                cadence=pb.CADENCE_MONTHLY,
                billing_anchor_time=timestamp(START),
                unit="CREDITS",
                prices=[pb.PlanPrice(price_id=p.price_id) for p in prices],
            )
        )
    ).plan
    await rating.stub.AssignPlan(
        pb.AssignPlanRequest(
            request_id=rid(),
            customer_id=customer,
            plan_id=plan.plan_id,
            wallet_id=wallet,
            start_time=timestamp(START),
        )
    )
    return customer, wallet


async def assert_converged(rating, wallet: str, credits: str) -> None:  # type: ignore[no-untyped-def]
    """The ledger's journal of the wallet (debits and refunds) adds up to minus what the rating
    service holds as charged, and the wallet has its credits less that."""
    booked = sum((Decimal(e.amount) for e in await rating.ledger.entries([wallet])), Decimal(0))
    [(charged,)] = await rows(
        rating,
        f"select coalesce(sum(amount), 0) from charges where wallet_id = '{wallet}' "
        "and status = 'ACKNOWLEDGED'",
    )
    assert booked == -charged
    assert await rating.ledger.balance(wallet) == Decimal(credits) - charged


async def test_an_undo_cut_off_by_a_ledger_outage_is_completed_after_it(rating) -> None:  # type: ignore[no-untyped-def]
    """Meters A and C are booked (2 + 2 of 4 credits), B's 10 is refused. A's debit is refunded,
    then the ledger becomes unreachable before C's refund: it used to stay so for ever (A
    refunded in the ledger while the event stayed accepted here with A charged)."""
    customer, wallet = await customer_with_meters(rating, ["1", "5", "1"], credits="4")
    rating.clock.set(T)
    client = rating.ledger.client  # the rating service's real ledger client, spied on
    refund = client.refund

    async def first_then_outage(*args):  # type: ignore[no-untyped-def]
        answer = await refund(*args)
        client.refund = refund
        rating.ledger.pause()  # the ledger is unreachable from now on
        return answer

    client.refund = first_then_outage
    r = await ingest(rating.stub, [event(customer, T, "p1", units="2")], sync=True)
    assert r.results[0].status == pb.EVENT_STATUS_DENIED
    assert r.results[0].error.reason == "INSUFFICIENT_CREDITS"
    # Decided and recorded here: the event counts nowhere; one refund is still owed.
    assert await rows(rating, "select id, status from events") == [("p1", "DENIED")]
    assert await rows(rating, "select count(*) from charges") == [(0,)]
    assert await rows(rating, "select status from undo_refunds order by id") == [
        ("DONE",),
        ("PENDING",),
    ]
    assert await rating.ledger.balance(wallet) == Decimal(2)  # only A's refund got through
    await rating.ledger.resume()
    await rating.drain()
    assert await rows(rating, "select status from undo_refunds order by id") == [
        ("DONE",),
        ("DONE",),
    ]
    await assert_converged(rating, wallet, "4")
    assert await rating.ledger.balance(wallet) == Decimal(4)
    undone = [k for k in await rating.ledger.bookings() if k.startswith("rating:undo:")]
    assert len(undone) == 2
    assert all(n == 1 for n in (await rating.ledger.bookings()).values())
    inv = (await rating.stub.GetInvoice(pb.GetInvoiceRequest(customer_id=customer))).invoice
    assert inv.usage_total == "0"
    # Sent again, the event is still DENIED, and nothing more reaches the ledger.
    again = await ingest(rating.stub, [event(customer, T, "p1", units="2")], sync=True)
    assert again.results[0].status == pb.EVENT_STATUS_DENIED
    await rating.drain()
    await assert_converged(rating, wallet, "4")


async def test_an_undo_the_ledger_cannot_take_at_all_is_left_to_the_forwarder(rating) -> None:  # type: ignore[no-untyped-def]
    """The ledger answers the debits (A booked, B denied) and then becomes unreachable: the event
    is still DENIED here, and the forwarder refunds A once the ledger is back."""
    customer, wallet = await customer_with_meters(rating, ["1", "5"], credits="2")
    rating.clock.set(T)
    client = rating.ledger.client
    kinds = client.grant_kinds

    async def then_gone(grant_ids):  # type: ignore[no-untyped-def]
        answer = await kinds(grant_ids)
        client.grant_kinds = kinds
        rating.ledger.pause()
        return answer

    client.grant_kinds = then_gone
    r = await ingest(rating.stub, [event(customer, T, "p1", units="2")], sync=True)
    assert r.results[0].status == pb.EVENT_STATUS_DENIED
    assert await rows(rating, "select status from undo_refunds") == [("PENDING",)]
    await rating.drain()  # still unreachable: the refund waits, nothing is lost
    assert await rows(rating, "select status from undo_refunds") == [("PENDING",)]
    await rating.ledger.resume()
    rating.clock.advance(timedelta(seconds=rating.rating.forwarder.policy.backoff_max_s))
    await rating.drain()
    assert await rows(rating, "select status from undo_refunds") == [("DONE",)]
    await assert_converged(rating, wallet, "2")
    [refund] = await rating.ledger.entries([wallet], [lpb.ENTRY_TYPE_REFUND])
    assert refund.request_id.startswith("rating:undo:")
