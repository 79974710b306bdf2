"""Synchronous ingest, against the real ledger and under races: a refusal never throws away usage
someone was told about, never undoes what already reached the ledger, and undoes an event on
every meter or on none; synchronous calls in flight are bounded below the connection pool."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as pb

from billing_common.protoconv import timestamp
from tests.support.errors import reason_of
from tests.support.ledger import balance, make_grant, make_wallet
from tests.support.rating import (
    event,
    ingest,
    make_meter,
    make_price,
    rid,
    rows,
)
from tests.support.servers import START
from tests.support.waiting import until

T = START + timedelta(hours=1)


async def two_meter_customer(  # type: ignore[no-untyped-def]
    rating,
    model_a: dict,  # type: ignore[type-arg]
    price_b: str,
    *,
    deny: bool = False,
    credits: str | None = None,
) -> tuple[str, str]:
    """A customer on a plan with two meters, on a new real wallet (DENY with `credits` when
    `deny`)."""
    stub = rating.stub
    customer = "cust-" + rid()[:6]
    wallet = await rating.ledger.wallet(deny=deny, credits=credits, customer_id=customer)
    ma = await make_meter(stub, pb.AGGREGATION_SUM, "units")
    mb = await make_meter(stub, pb.AGGREGATION_SUM, "units")
    pa = await make_price(stub, ma.meter_id, START, **model_a)
    pbb = await make_price(
        stub, mb.meter_id, START, model=pb.PRICING_MODEL_PER_UNIT, unit_price=price_b
    )
    plan = (
        await stub.CreatePlan(
            pb.CreatePlanRequest(
                request_id=rid(),
                name="p",
                cadence=pb.CADENCE_MONTHLY,
                billing_anchor_time=timestamp(START),
                unit="CREDITS",
                prices=[pb.PlanPrice(price_id=pa.price_id), pb.PlanPrice(price_id=pbb.price_id)],
            )
        )
    ).plan
    await stub.AssignPlan(
        pb.AssignPlanRequest(
            request_id=rid(),
            customer_id=customer,
            plan_id=plan.plan_id,
            wallet_id=wallet,
            start_time=timestamp(START),
        )
    )
    return customer, wallet


async def test_a_retry_during_the_ledger_call_is_told_to_retry_and_no_usage_is_lost(rating) -> None:  # type: ignore[no-untyped-def]
    """A retry while the first call waits on the ledger is told to retry, not DUPLICATE (which
    would be stored as the request's answer while the first call then denies and deletes the
    event)."""
    s = await rating.setup_customer(start=START, wallet_id=await rating.ledger.wallet(deny=True))
    rating.clock.set(T)
    led = rating.ledger.client  # the rating service's real ledger client, spied on
    request_id = rid()
    ev = event(s.customer_id, T, "e1", units="4")
    orig = led.debit_batch
    seen: dict[str, object] = {}

    async def slow(items):  # type: ignore[no-untyped-def]
        led.debit_batch = orig
        # The client's deadline expired; it retries the same request meanwhile.
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ingest(rating.stub, [ev], sync=True, request_id=request_id)
        seen["retry"] = err.value
        # Another producer sends the same event in its own request.
        seen["other"] = await ingest(rating.stub, [ev])
        return await orig(items)  # the real ledger denies (no credits)

    led.debit_batch = slow
    first = await ingest(rating.stub, [ev], sync=True, request_id=request_id)
    assert first.results[0].status == pb.EVENT_STATUS_DENIED
    retry = seen["retry"]
    assert isinstance(retry, grpc.aio.AioRpcError)
    assert retry.code() == grpc.StatusCode.UNAVAILABLE
    assert reason_of(retry)[0] == "REQUEST_IN_PROGRESS"
    other = seen["other"]
    assert isinstance(other, pb.IngestEventsResponse)
    assert other.results[0].status == pb.EVENT_STATUS_REJECTED
    assert other.results[0].error.reason == "EVENT_IN_PROGRESS"
    assert other.results[0].error.code == grpc.StatusCode.UNAVAILABLE.value[0]
    # Now that it is decided: the replay and any duplicate say DENIED, never DUPLICATE.
    replay = await ingest(rating.stub, [ev], sync=True, request_id=request_id)
    assert replay.results[0].status == pb.EVENT_STATUS_DENIED
    again = await ingest(rating.stub, [ev])
    assert again.results[0].status == pb.EVENT_STATUS_DENIED
    assert await rows(rating, "select id, status from events") == [("e1", "DENIED")]
    assert await rows(rating, "select count(*) from charges") == [(0,)]
    usage = await rating.stub.GetUsage(
        pb.GetUsageRequest(customer_id=s.customer_id, meter_id=s.meter.meter_id)
    )
    assert usage.total == "0"


async def test_another_request_reusing_an_in_flight_request_id_writes_nothing(rating) -> None:  # type: ignore[no-untyped-def]
    """A different request reusing the in-flight request_id is told REQUEST_ID_CONFLICT and
    none of its events is charged."""
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    request_id = rid()
    led = rating.ledger.client  # the rating service's real ledger client, spied on
    orig = led.debit_batch
    seen: dict[str, grpc.aio.AioRpcError] = {}

    async def slow(items):  # type: ignore[no-untyped-def]
        led.debit_batch = orig
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ingest(
                rating.stub,
                [event(s.customer_id, T, "other", units="6")],
                sync=True,
                request_id=request_id,
            )
        seen["conflict"] = err.value
        return await orig(items)

    led.debit_batch = slow
    first = await ingest(
        rating.stub, [event(s.customer_id, T, "e1", units="4")], sync=True, request_id=request_id
    )
    assert first.results[0].status == pb.EVENT_STATUS_CHARGED
    assert reason_of(seen["conflict"])[0] == "REQUEST_ID_CONFLICT"
    assert await rows(rating, "select id from events") == [("e1",)]
    assert await rating.ledger.balance(s.wallet_id) == Decimal(-2)


async def test_a_deny_does_not_undo_a_refund_the_forwarder_could_send(rating) -> None:  # type: ignore[no-untyped-def]
    """The event's negative charge is held during the ledger call: the forwarder cannot refund
    it meanwhile, so the DENY restores the aggregate with nothing refunded."""
    cust, wallet = await two_meter_customer(
        rating,
        {
            "model": pb.PRICING_MODEL_VOLUME,
            "tiers": [pb.Tier(up_to="10", unit_price="2"), pb.Tier(up_to="", unit_price="1")],
        },
        "0.5",
        deny=True,
        credits="25",
    )
    rating.clock.set(T)
    await ingest(rating.stub, [event(cust, T, "e1", units="10")])  # A: +20, B: +5
    await rating.drain()
    assert await rating.ledger.balance(wallet) == Decimal(0)
    led = rating.ledger.client  # the rating service's real ledger client, spied on
    orig = led.debit_batch

    async def racing(items):  # type: ignore[no-untyped-def]
        led.debit_batch = orig
        result = await orig(items)  # B's +0.5 is refused (balance 0)
        await rating.rating.forwarder.run_once()  # the forwarder runs meanwhile
        return result

    led.debit_batch = racing
    r = await ingest(rating.stub, [event(cust, T, "e2", units="1")], sync=True)  # A: -9, B: +0.5
    led.debit_batch = orig
    assert r.results[0].status == pb.EVENT_STATUS_DENIED
    await rating.drain()
    # Nothing of e2 reached the ledger, and the rating side agrees.
    assert not [k for k in await rating.ledger.amounts() if "refund" in k]
    assert await rating.ledger.balance(wallet) == Decimal(0)
    inv = (await rating.stub.GetInvoice(pb.GetInvoiceRequest(customer_id=cust))).invoice
    assert Decimal(inv.usage_total) == Decimal(25)
    assert await rows(rating, "select count(*) from refund_parts") == [(0,)]
    assert sorted(await rows(rating, "select quantity from aggregates")) == [
        (Decimal(10),),
        (Decimal(10),),
    ]


async def test_a_deny_after_the_forwarder_took_the_refund_over_undoes_nothing(rating) -> None:  # type: ignore[no-untyped-def]
    """When a charge of the event has left PENDING (or has refund parts) by the time the
    refusal comes back, the event is kept as in asynchronous mode."""
    cust, wallet = await two_meter_customer(
        rating,
        {
            "model": pb.PRICING_MODEL_VOLUME,
            "tiers": [pb.Tier(up_to="10", unit_price="2"), pb.Tier(up_to="", unit_price="1")],
        },
        "0.5",
        deny=True,
        credits="25",
    )
    rating.clock.set(T)
    await ingest(rating.stub, [event(cust, T, "e1", units="10")])
    await rating.drain()
    led = rating.ledger.client  # the rating service's real ledger client, spied on
    orig = led.debit_batch

    async def slow(items):  # type: ignore[no-untyped-def]
        led.debit_batch = orig
        result = await orig(items)
        # The synchronous caller was slower than sync_hold: the forwarder took the refund over.
        rating.clock.advance(timedelta(minutes=2))
        await rating.rating.forwarder.run_once()
        return result

    led.debit_batch = slow
    r = await ingest(rating.stub, [event(cust, T, "e2", units="1")], sync=True)
    led.debit_batch = orig
    await rating.drain()
    # The refund was booked, so the event stays (usage kept, B's charge DENIED on the invoice).
    assert r.results[0].status == pb.EVENT_STATUS_DENIED
    assert len(r.results[0].charges) == 2
    assert [k for k in await rating.ledger.amounts() if "refund" in k]
    assert await rows(rating, "select id, status from events order by id") == [
        ("e1", "ACCEPTED"),
        ("e2", "ACCEPTED"),
    ]
    inv = (await rating.stub.GetInvoice(pb.GetInvoiceRequest(customer_id=cust))).invoice
    assert Decimal(inv.usage_total) - sum(Decimal(ln.denied_amount) for ln in inv.lines) == (
        Decimal(25) - await rating.ledger.balance(wallet)
    )


async def test_a_partial_deny_undoes_the_event_on_every_meter(rating) -> None:  # type: ignore[no-untyped-def]
    """Meter A's debit is booked, B's refused: the event is DENIED with A's debit refunded,
    no aggregate changed and nothing recorded."""
    cust, wallet = await two_meter_customer(
        rating,
        {"model": pb.PRICING_MODEL_PER_UNIT, "unit_price": "1"},
        "5",
        deny=True,
        credits="2",  # covers A's 2, not B's 10
    )
    rating.clock.set(T)
    r = await ingest(rating.stub, [event(cust, T, "p1", units="2")], sync=True)
    assert r.results[0].status == pb.EVENT_STATUS_DENIED
    assert r.results[0].error.reason == "INSUFFICIENT_CREDITS"
    # A's debit was refunded: the wallet is back where it was, nothing is left on our side.
    assert await rating.ledger.balance(wallet) == Decimal(2)
    assert [k for k in await rating.ledger.amounts() if k.startswith("rating:undo:")]
    assert await rows(rating, "select quantity from aggregates") in ([], [(0,), (0,)])
    assert await rows(rating, "select count(*) from charges") == [(0,)]
    again = await ingest(rating.stub, [event(cust, T, "p1", units="2")], sync=True)
    assert again.results[0].status == pb.EVENT_STATUS_DENIED
    await rating.drain()
    assert await rating.ledger.balance(wallet) == Decimal(2)


async def test_synchronous_calls_in_flight_are_bounded_below_the_pool(rating) -> None:  # type: ignore[no-untyped-def]
    """Each synchronous event holds a pooled connection across its ledger call; at
    most pool_size - 3 do at once, so the rest of the service (and the forwarder, which holds one
    while it leads) keeps connections. (Six customers: one customer's events wait for each other
    on its aggregate, which would keep all but one call out whatever the bound.)"""
    customers = [await rating.setup_customer(start=START) for _ in range(6)]
    s = customers[0]
    rating.clock.set(T)
    led = rating.ledger.client  # the rating service's real ledger client, spied on
    orig = led.debit_batch
    entered, now_in, most = 0, 0, 0

    async def counting(items):  # type: ignore[no-untyped-def]
        nonlocal entered, now_in, most
        entered += 1
        now_in += 1
        most = max(most, now_in)
        # Held until as many calls are in as the bound allows (or no other can come), so one
        # beyond the bound would be counted in `most`.
        await until(lambda: now_in >= 2 or entered == 6, "the synchronous slots are full")
        # Meanwhile an ordinary read still gets a connection.
        await rating.stub.GetUsage(
            pb.GetUsageRequest(customer_id=s.customer_id, meter_id=s.meter.meter_id)
        )
        now_in -= 1
        return await orig(items)

    led.debit_batch = counting
    results = await asyncio.gather(
        *(
            ingest(rating.stub, [event(c.customer_id, T, f"c{i}", units="1")], sync=True)
            for i, c in enumerate(customers)
        )
    )
    assert all(r.results[0].status == pb.EVENT_STATUS_CHARGED for r in results)
    assert most == 2  # the bound is reached, never passed
    assert rating.rating.app.ingest.policy.sync_concurrency_max == 2  # pool_size 5 in these tests


async def test_a_partial_deny_is_refunded_in_the_ledger_and_undone_here(both) -> None:  # type: ignore[no-untyped-def]
    ledger = both.ledger.stub
    wallet = await make_wallet(ledger, policy=lpb.OVERAGE_POLICY_DENY, customer_id="cust-e2e")
    await make_grant(ledger, wallet.wallet_id, "2")
    stub = both.stub
    ma = await make_meter(stub, pb.AGGREGATION_SUM, "units")
    mb = await make_meter(stub, pb.AGGREGATION_SUM, "units")
    pa = await make_price(stub, ma.meter_id, START, model=pb.PRICING_MODEL_PER_UNIT, unit_price="1")
    pbb = await make_price(
        stub, mb.meter_id, START, model=pb.PRICING_MODEL_PER_UNIT, unit_price="5"
    )
    plan = (
        await stub.CreatePlan(
            pb.CreatePlanRequest(
                request_id=rid(),
                name="p",
                cadence=pb.CADENCE_MONTHLY,
                billing_anchor_time=timestamp(START),
                unit="CREDITS",
                prices=[pb.PlanPrice(price_id=pa.price_id), pb.PlanPrice(price_id=pbb.price_id)],
            )
        )
    ).plan
    await stub.AssignPlan(
        pb.AssignPlanRequest(
            request_id=rid(),
            customer_id="cust-e2e",
            plan_id=plan.plan_id,
            wallet_id=wallet.wallet_id,
            start_time=timestamp(START),
        )
    )
    both.ledger.clock.set(T)
    r = await ingest(stub, [event("cust-e2e", T, "p1", units="2")], sync=True)  # A 2 ok, B 10 no
    assert r.results[0].status == pb.EVENT_STATUS_DENIED
    await both.drain()
    assert (await balance(ledger, wallet.wallet_id)).available == "2"
    entries = (await ledger.ListEntries(lpb.ListEntriesRequest(wallet_id=wallet.wallet_id))).entries
    undo = [e for e in entries if e.request_id.startswith("rating:undo:")]
    assert len(undo) == 1 and Decimal(undo[0].amount) == Decimal(2)
    invoice = (await stub.GetInvoice(pb.GetInvoiceRequest(customer_id="cust-e2e"))).invoice
    assert invoice.usage_total == "0"
