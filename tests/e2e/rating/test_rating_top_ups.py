"""Block top-ups on the invoice: credits the ledger bought automatically during the period (the
blocks of block top-up pricing) are listed on the rating service's invoice, and kept when it
closes."""

from __future__ import annotations

from datetime import timedelta

from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as pb

from tests.conftest import START
from tests.integration.rating.helpers import event, ingest, setup_customer
from tests.ledger_helpers import make_grant, make_wallet, rid

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
