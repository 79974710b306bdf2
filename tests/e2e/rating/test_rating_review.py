"""Review fixes against the real ledger over gRPC: an event denied on one meter is undone on all
of them (the other meter's debit refunded in the ledger), and a charge money cannot hold never
reaches the ledger."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as pb

from billing_common.protoconv import timestamp
from tests.conftest import START
from tests.integration.rating.helpers import event, ingest, make_meter, make_price, rid
from tests.ledger_helpers import balance, make_grant, make_wallet

T = START + timedelta(hours=1)


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


async def test_a_charge_with_too_many_digits_is_rejected_not_retried_forever(both) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.rating.helpers import setup_customer

    ledger = both.ledger.stub
    wallet = await make_wallet(ledger, policy=lpb.OVERAGE_POLICY_ALLOW_OVERAGE)
    await make_grant(ledger, wallet.wallet_id, "100")
    s = await setup_customer(
        both.stub,
        start=START,
        wallet_id=wallet.wallet_id,
        customer_id=wallet.customer_id,
        model=pb.PRICING_MODEL_PER_UNIT,
        unit_price="0.000000001",
    )
    both.ledger.clock.set(T)
    r = await ingest(both.stub, [event(s.customer_id, T, "tiny", units="0.0000000001")])
    assert r.results[0].error.reason == "CHARGE_OUT_OF_RANGE"
    await both.drain()
    both.ledger.clock.set(START + timedelta(days=32))
    closed = await both.stub.CloseBillingPeriod(
        pb.CloseBillingPeriodRequest(
            request_id=rid(), customer_id=s.customer_id, period_time=timestamp(T)
        )
    )
    assert closed.invoice.status == pb.INVOICE_STATUS_FINAL
