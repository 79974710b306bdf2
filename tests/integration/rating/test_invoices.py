"""Invoices: lines equal their events' charges, tier breakdown, closing is final and idempotent."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import grpc
import pytest
from billing.rating.v1 import rating_pb2 as pb

from billing_common.protoconv import timestamp
from tests.conftest import START
from tests.integration.rating.helpers import event, ingest, rid
from tests.integration.rating.test_ingest import reason_of

T = START + timedelta(hours=1)
GRADUATED = {
    "model": pb.PRICING_MODEL_GRADUATED,
    "tiers": [
        pb.Tier(up_to="10", unit_price="1"),
        pb.Tier(up_to="", unit_price="0.5", flat_price="2"),
    ],
}


async def test_invoice_lines_match_events_and_close_is_final(rating) -> None:  # type: ignore[no-untyped-def]
    # Usage is paid from a prepaid grant (prepaid_credits_applied below).
    wallet = await rating.ledger.wallet(credits="100")
    s = await rating.setup_customer(start=START, wallet_id=wallet, fixed_charge="20", **GRADUATED)
    rating.clock.set(T)
    await ingest(rating.stub, [event(s.customer_id, T, f"i{i}", units="3") for i in range(5)])
    await rating.drain()
    draft = (
        await rating.stub.GetInvoice(
            pb.GetInvoiceRequest(customer_id=s.customer_id, period_time=timestamp(T))
        )
    ).invoice
    assert draft.status == pb.INVOICE_STATUS_DRAFT
    # 15 units: 10 * 1 + 5 * 0.5 + 2 flat = 14.5; plus the fixed 20.
    [line] = draft.lines
    assert (line.quantity, line.amount) == ("15", "14.5")
    assert [(t.quantity, t.amount) for t in line.tiers] == [("10", "10"), ("5", "4.5")]
    assert (draft.usage_total, draft.total, draft.prepaid_credits_applied) == (
        "14.5",
        "34.5",
        "14.5",
    )
    listed = await rating.stub.ListInvoiceLineEvents(
        pb.ListInvoiceLineEventsRequest(
            invoice_id=draft.invoice_id, line_id=line.line_id, page_size=3
        )
    )
    more = await rating.stub.ListInvoiceLineEvents(
        pb.ListInvoiceLineEventsRequest(
            invoice_id=draft.invoice_id, line_id=line.line_id, page_token=listed.next_page_token
        )
    )
    behind = [*listed.events, *more.events]
    assert [e.event.event_id for e in behind] == [f"i{i}" for i in range(5)]
    assert sum(Decimal(e.charge.amount) for e in behind) == Decimal(line.amount)

    # Not before the period ends.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await rating.stub.CloseBillingPeriod(
            pb.CloseBillingPeriodRequest(
                request_id=rid(), customer_id=s.customer_id, period_time=timestamp(T)
            )
        )
    assert reason_of(err.value)[0] == "PERIOD_NOT_ENDED"

    rating.clock.set(START + timedelta(days=31, hours=1))  # January is over
    closed = (
        await rating.stub.CloseBillingPeriod(
            pb.CloseBillingPeriodRequest(
                request_id=rid(), customer_id=s.customer_id, period_time=timestamp(T)
            )
        )
    ).invoice
    assert closed.status == pb.INVOICE_STATUS_FINAL
    assert closed.invoice_id == draft.invoice_id
    assert (closed.total, closed.lines[0].amount) == ("34.5", "14.5")
    # Closing again (another request id) returns the same final invoice.
    again = (
        await rating.stub.CloseBillingPeriod(
            pb.CloseBillingPeriodRequest(
                request_id=rid(), customer_id=s.customer_id, period_time=timestamp(T)
            )
        )
    ).invoice
    assert again == closed
    # Late events for the closed period are refused; the invoice does not move.
    late = await ingest(
        rating.stub, [event(s.customer_id, START + timedelta(days=30), "late", units="1")]
    )
    assert late.results[0].error.reason == "PERIOD_CLOSED"
    read = (
        await rating.stub.GetInvoice(pb.GetInvoiceRequest(invoice_id=closed.invoice_id))
    ).invoice
    assert read == closed
    listed_invoices = await rating.stub.ListInvoices(
        pb.ListInvoicesRequest(customer_id=s.customer_id, status=pb.INVOICE_STATUS_FINAL)
    )
    assert [i.invoice_id for i in listed_invoices.invoices] == [closed.invoice_id]


async def test_close_waits_for_pending_charges(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(START + timedelta(days=30))
    await ingest(rating.stub, [event(s.customer_id, START + timedelta(days=30), "p", units="1")])
    rating.clock.set(START + timedelta(days=31, hours=1))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await rating.stub.CloseBillingPeriod(
            pb.CloseBillingPeriodRequest(
                request_id=rid(), customer_id=s.customer_id, period_time=timestamp(T)
            )
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(err.value)[0] == "CHARGES_PENDING"
    await rating.drain()
    closed = await rating.stub.CloseBillingPeriod(
        pb.CloseBillingPeriodRequest(
            request_id=rid(), customer_id=s.customer_id, period_time=timestamp(T)
        )
    )
    assert closed.invoice.lines[0].amount == "0.5"


async def test_package_invoice_shows_blocks_bought(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(
        start=START,
        model=pb.PRICING_MODEL_PACKAGE,
        package_size="100",
        package_price="3",
        included="50",
    )
    rating.clock.set(T)
    response = await ingest(
        rating.stub,
        [event(s.customer_id, T, f"k{i}", units=u) for i, u in enumerate(["40", "20", "100"])],
    )
    # 50 included: 40 -> 0; 60 -> 10 billable = 1 block; 160 -> 110 = 2 blocks.
    assert [r.charges[0].amount for r in response.results] == ["0", "3", "3"]
    invoice = (
        await rating.stub.GetInvoice(pb.GetInvoiceRequest(customer_id=s.customer_id))
    ).invoice
    assert (invoice.lines[0].blocks, invoice.lines[0].amount) == ("2", "6")


async def test_list_invoices_newest_period_first_in_pages(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    feb = START + timedelta(days=32)
    rating.clock.set(feb)
    # February's invoice row is created first, January's (a late event) after it.
    await ingest(rating.stub, [event(s.customer_id, feb, "feb", units="1")])
    await ingest(rating.stub, [event(s.customer_id, feb - timedelta(days=2), "jan", units="1")])
    first = await rating.stub.ListInvoices(
        pb.ListInvoicesRequest(customer_id=s.customer_id, page_size=1)
    )
    second = await rating.stub.ListInvoices(
        pb.ListInvoicesRequest(customer_id=s.customer_id, page_token=first.next_page_token)
    )
    starts = [i.period_start_time.ToDatetime().month for i in [*first.invoices, *second.invoices]]
    assert starts == [2, 1]
    assert second.next_page_token == ""
