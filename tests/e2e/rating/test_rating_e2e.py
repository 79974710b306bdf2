"""Both services over real gRPC on real PostgreSQL: events become ledger debits (with the event id
and a description), refunds, DENY refusals, and an invoice that matches the ledger."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as pb

from billing_common.protoconv import timestamp
from rating_service.app.ports import LedgerUnavailable
from tests.support.ledger import balance, make_grant, make_wallet
from tests.support.rating import event, ingest, setup_customer
from tests.support.servers import START

T = START + timedelta(hours=1)


async def test_events_become_debits_balance_history_and_invoice(both) -> None:  # type: ignore[no-untyped-def]
    ledger = both.ledger.stub
    wallet = await make_wallet(ledger, policy=lpb.OVERAGE_POLICY_ALLOW_OVERAGE)
    await make_grant(ledger, wallet.wallet_id, "5", kind=lpb.GRANT_KIND_PROMOTIONAL)
    await make_grant(ledger, wallet.wallet_id, "100", kind=lpb.GRANT_KIND_PREPAID)
    s = await setup_customer(
        both.stub,
        start=START,
        wallet_id=wallet.wallet_id,
        customer_id=wallet.customer_id,
        fixed_charge="10",
        model=pb.PRICING_MODEL_VOLUME,
        tiers=[pb.Tier(up_to="10", unit_price="2"), pb.Tier(up_to="", unit_price="1")],
    )
    both.ledger.clock.set(T)
    response = await ingest(
        both.stub,
        [
            event(s.customer_id, T + timedelta(minutes=i), f"ev{i}", units=u)
            for i, u in enumerate(["4", "5", "3"])
        ],
    )
    # Volume: 4 -> 8; 9 -> 18 (+10); 12 units fall in tier 2 -> 12 (-6, a refund).
    assert [r.charges[0].amount for r in response.results] == ["8", "10", "-6"]
    await both.drain()

    bal = await balance(ledger, wallet.wallet_id)
    assert Decimal(bal.available) == Decimal(105 - 12)
    entries = (await ledger.ListEntries(lpb.ListEntriesRequest(wallet_id=wallet.wallet_id))).entries
    debits = {e.source_event_id: e for e in entries if e.type == lpb.ENTRY_TYPE_DEBIT}
    assert {k: v.amount for k, v in debits.items()} == {"ev0": "-8", "ev1": "-10"}
    for event_id, entry in debits.items():
        assert f"(event {event_id})" in entry.description
        assert entry.request_id == f"rating:debit:{len(event_id)}:{event_id}:{s.meter.key}"
    refunds = [e for e in entries if e.type == lpb.ENTRY_TYPE_REFUND]
    assert [e.amount for e in refunds] == ["6"]

    invoice = (await both.stub.GetInvoice(pb.GetInvoiceRequest(customer_id=s.customer_id))).invoice
    assert (invoice.usage_total, invoice.total) == ("12", "22")
    assert invoice.lines[0].amount == "12"
    assert [(t.quantity, t.amount) for t in invoice.lines[0].tiers] == [("12", "12")]
    # The promotional grant burns first (burn-down rule 3); the refund went back to prepaid.
    assert (invoice.promotional_credits_applied, invoice.prepaid_credits_applied) == ("5", "7")
    assert invoice.overage_due == "0"
    consumed = Decimal(invoice.promotional_credits_applied) + Decimal(
        invoice.prepaid_credits_applied
    )
    assert consumed == Decimal(105) - Decimal(bal.available)


async def test_sync_mode_against_a_deny_wallet(both) -> None:  # type: ignore[no-untyped-def]
    ledger = both.ledger.stub
    wallet = await make_wallet(ledger, policy=lpb.OVERAGE_POLICY_DENY)
    await make_grant(ledger, wallet.wallet_id, "3")
    s = await setup_customer(
        both.stub, start=START, wallet_id=wallet.wallet_id, customer_id=wallet.customer_id
    )
    both.ledger.clock.set(T)
    response = await ingest(
        both.stub,
        [event(s.customer_id, T, "d1", units="4"), event(s.customer_id, T, "d2", units="4")],
        sync=True,
    )
    assert [r.status for r in response.results] == [pb.EVENT_STATUS_CHARGED, pb.EVENT_STATUS_DENIED]
    assert response.results[0].available_after == "1"
    assert response.results[1].error.reason == "INSUFFICIENT_CREDITS"
    usage = await both.stub.GetUsage(
        pb.GetUsageRequest(
            customer_id=s.customer_id, meter_id=s.meter.meter_id, period_time=timestamp(T)
        )
    )
    assert usage.total == "4"
    await both.drain()
    assert (await balance(ledger, wallet.wallet_id)).available == "1"


async def test_overage_on_the_invoice_follows_ledger_settlement(both) -> None:  # type: ignore[no-untyped-def]
    ledger = both.ledger.stub
    wallet = await make_wallet(ledger, policy=lpb.OVERAGE_POLICY_ALLOW_OVERAGE)
    s = await setup_customer(
        both.stub, start=START, wallet_id=wallet.wallet_id, customer_id=wallet.customer_id
    )
    both.ledger.clock.set(T)
    await ingest(both.stub, [event(s.customer_id, T, "ov1", units="20")])  # 10 credits, no grant
    await both.drain()
    invoice = (await both.stub.GetInvoice(pb.GetInvoiceRequest(customer_id=s.customer_id))).invoice
    assert (invoice.overage_due, invoice.overage_settled) == ("10", "0")
    both.ledger.clock.advance(timedelta(minutes=1))
    await make_grant(ledger, wallet.wallet_id, "4")  # settles 4 of the 10 owed
    both.ledger.clock.advance(timedelta(minutes=1))
    invoice = (await both.stub.GetInvoice(pb.GetInvoiceRequest(customer_id=s.customer_id))).invoice
    assert (invoice.overage_due, invoice.overage_settled) == ("6", "4")
    assert (await balance(ledger, wallet.wallet_id)).overage == "6"


class AnswerLost:
    """The ledger books the first DebitBatch but its answer never reaches us."""

    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self.real = real
        self.lost = False

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.real, name)

    async def debit_batch(self, items):  # type: ignore[no-untyped-def]
        results = await self.real.debit_batch(items)
        if not self.lost:
            self.lost = True
            raise LedgerUnavailable("the answer was lost")
        return results


async def test_a_lost_sync_answer_is_replayed_by_the_forwarder_not_booked_twice(both) -> None:  # type: ignore[no-untyped-def]
    ledger = both.ledger.stub
    wallet = await make_wallet(ledger, policy=lpb.OVERAGE_POLICY_DENY)
    await make_grant(ledger, wallet.wallet_id, "10")
    s = await setup_customer(
        both.stub, start=START, wallet_id=wallet.wallet_id, customer_id=wallet.customer_id
    )
    both.ledger.clock.set(T)
    real = both.rating.app.context.ledger
    both.rating.app.context.ledger = AnswerLost(real)
    try:
        response = await ingest(both.stub, [event(s.customer_id, T, "lost", units="4")], sync=True)
    finally:
        both.rating.app.context.ledger = real
    # The ledger booked it, we did not hear back: accepted, charge still pending.
    assert response.results[0].status == pb.EVENT_STATUS_ACCEPTED
    assert response.results[0].charges[0].status == pb.CHARGE_STATUS_PENDING
    both.ledger.clock.advance(timedelta(minutes=2))  # past the sync hold
    await both.drain()
    entries = (await ledger.ListEntries(lpb.ListEntriesRequest(wallet_id=wallet.wallet_id))).entries
    debits = [e for e in entries if e.type == lpb.ENTRY_TYPE_DEBIT]
    assert [(e.source_event_id, e.amount) for e in debits] == [("lost", "-2")]
    invoice = (await both.stub.GetInvoice(pb.GetInvoiceRequest(customer_id=s.customer_id))).invoice
    assert (invoice.lines[0].amount, invoice.lines[0].pending_amount) == ("2", "0")
    line = await both.stub.ListInvoiceLineEvents(
        pb.ListInvoiceLineEventsRequest(
            invoice_id=invoice.invoice_id, line_id=invoice.lines[0].line_id
        )
    )
    assert line.events[0].charge.ledger_entry_id == debits[0].entry_id
