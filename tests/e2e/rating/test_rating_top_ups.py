"""Block top-ups on the invoice: credits the ledger bought automatically during the period (the
blocks of block top-up pricing) are listed on the rating service's invoice, and kept when it
closes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as pb

from billing_common.protoconv import timestamp
from tests.support.ledger import balance, make_grant, make_wallet, rid
from tests.support.rating import event, ingest, setup_customer
from tests.support.servers import START

T = START + timedelta(hours=1)


async def test_blocks_bought_during_the_period_are_on_the_invoice(both) -> None:  # type: ignore[no-untyped-def]
    ledger = both.ledger.stub
    wallet = await make_wallet(ledger)  # DENY: usage beyond the credits buys blocks
    await make_grant(ledger, wallet.wallet_id, "10")
    await ledger.SetTopUpRule(
        lpb.SetTopUpRuleRequest(
            request_id=rid(),
            rule=lpb.TopUpRule(
                wallet_id=wallet.wallet_id,
                threshold="0",
                amount="100",
                kind=lpb.GRANT_KIND_PREPAID,
                unit_price="0.45",
                currency="USD",
                payment=lpb.TOP_UP_PAYMENT_IMMEDIATE,
            ),
        )
    )
    s = await setup_customer(
        both.stub, start=START, wallet_id=wallet.wallet_id, customer_id=wallet.customer_id
    )  # 0.5 per unit
    both.ledger.clock.set(T)
    await ingest(both.stub, [event(s.customer_id, T, "e1", units="50")])  # 25 > 10: one block
    await ingest(both.stub, [event(s.customer_id, T, "e2", units="200")])  # 100 > 85: one more
    await both.drain()

    invoice = (await both.stub.GetInvoice(pb.GetInvoiceRequest(customer_id=s.customer_id))).invoice
    assert invoice.usage_total == "125"
    assert [(t.credits, t.unit_price, t.currency, t.price) for t in invoice.top_ups] == [
        ("100", "0.45", "USD", "45"),
        ("100", "0.45", "USD", "45"),
    ]
    # Closed after the period: the final invoice keeps them.
    both.ledger.clock.set(START + timedelta(days=40))
    closed = await both.stub.CloseBillingPeriod(
        pb.CloseBillingPeriodRequest(
            request_id=rid(),
            customer_id=s.customer_id,
            period_time=invoice.period_start_time,
        )
    )
    assert closed.invoice.status == pb.INVOICE_STATUS_FINAL
    assert [t.top_up_id for t in closed.invoice.top_ups] == [t.top_up_id for t in invoice.top_ups]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_usage_past_the_included_units_buys_a_block_that_covers_it(both, sync: bool) -> None:  # type: ignore[no-untyped-def]
    """Block top-up pricing through the rating service: 100 included units a month, then blocks
    of 50. Rated events reach the ledger after they occurred (here 2 s later): the block bought
    for an event covers that event (CHARGED, not DENIED) and the rest of the block carries on."""
    ledger, clock = both.ledger.stub, both.ledger.clock
    wallet = await make_wallet(ledger)  # DENY
    w = wallet.wallet_id
    await ledger.CreateAllotmentSchedule(
        lpb.CreateAllotmentScheduleRequest(
            request_id=rid(),
            schedule=lpb.AllotmentSchedule(
                wallet_id=w,
                amount="100",
                kind=lpb.GRANT_KIND_PREPAID,
                priority=0,
                cadence=lpb.ALLOTMENT_CADENCE_MONTHLY,
                anchor_time=timestamp(START),
                expiry=lpb.ALLOTMENT_EXPIRY_END_OF_PERIOD,
            ),
        )
    )
    await ledger.SetTopUpRule(
        lpb.SetTopUpRuleRequest(
            request_id=rid(),
            rule=lpb.TopUpRule(
                wallet_id=w,
                threshold="0",
                amount="50",
                kind=lpb.GRANT_KIND_PREPAID,
                priority=1,
                unit_price="2",
                currency="USD",
                payment=lpb.TOP_UP_PAYMENT_IMMEDIATE,
            ),
        )
    )
    s = await setup_customer(  # one credit per unit
        both.stub,
        start=START,
        wallet_id=w,
        customer_id=wallet.customer_id,
        model=pb.PRICING_MODEL_PER_UNIT,
        unit_price="1",
    )
    booked = START + timedelta(hours=1)
    occurred = booked - timedelta(seconds=2)
    clock.set(booked)

    first = await ingest(both.stub, [event(s.customer_id, occurred, "e1", units="90")], sync=sync)
    second = await ingest(both.stub, [event(s.customer_id, occurred, "e2", units="30")], sync=sync)
    await both.drain()
    if sync:  # 90 of the included 100, then 10 included + 20 of a block
        assert [r.status for r in (*first.results, *second.results)] == [
            pb.EVENT_STATUS_CHARGED,
            pb.EVENT_STATUS_CHARGED,
        ]
    invoice = (await both.stub.GetInvoice(pb.GetInvoiceRequest(customer_id=s.customer_id))).invoice
    assert [(ln.amount, ln.denied_amount, ln.pending_amount) for ln in invoice.lines] == [
        ("120", "0", "0")
    ]
    topups = (await ledger.ListTopUps(lpb.ListTopUpsRequest(wallet_id=w))).top_ups
    assert [(t.amount, t.state) for t in topups] == [("50", lpb.TOP_UP_STATE_COMPLETED)]
    assert [(t.credits, t.price) for t in invoice.top_ups] == [("50", "100")]
    assert (await balance(ledger, w)).available == "30"  # the rest of the block carries on

    # The rest of the block is used before another block is bought.
    clock.advance(timedelta(minutes=1))
    third = await ingest(
        both.stub,
        [event(s.customer_id, clock.now() - timedelta(seconds=1), "e3", units="30")],
        sync=sync,
    )
    await both.drain()
    if sync:
        assert [r.status for r in third.results] == [pb.EVENT_STATUS_CHARGED]
    assert (await balance(ledger, w)).available == "0"
    assert len((await ledger.ListTopUps(lpb.ListTopUpsRequest(wallet_id=w))).top_ups) == 1
    assert (await ledger.VerifyWallet(lpb.VerifyWalletRequest(wallet_id=w))).consistent
