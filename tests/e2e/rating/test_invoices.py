"""Invoices: lines equal their events' charges, tier breakdown, closing is final and idempotent
and waits for pending charges (even ones adding up to zero); reading an invoice writes nothing;
overage is asked of the ledger at its own now, outside the invoice's locks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest
from billing.rating.v1 import rating_pb2 as pb
from sqlalchemy import text

from billing_common.protoconv import timestamp
from tests.support.errors import reason_of
from tests.support.rating import (
    close_period,
    event,
    ingest,
    rid,
    rows,
)
from tests.support.servers import START

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


async def test_overage_is_asked_with_the_ledgers_now_and_outside_invoice_locks(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)  # ALLOW_OVERAGE wallet, no grants
    rating.clock.set(T)
    await ingest(rating.stub, [event(s.customer_id, T, "e1", units="4")])
    await rating.drain()
    async with rating.rating.engine.begin() as conn:
        await conn.execute(text("update charges set overage = amount"))
    # The debit of 2 went to overage; a grant of 0.5 settles part of it: 1.5 stays owed.
    await rating.ledger.grant(s.wallet_id, "0.5")
    calls: list[tuple[datetime | None, bool]] = []
    client = rating.ledger.client
    asked = client.outstanding_overage

    async def outstanding(wallet_id, as_of):  # type: ignore[no-untyped-def]
        # Would fail if a transaction held the invoice row (CloseBillingPeriod: FOR UPDATE).
        async with rating.rating.engine.begin() as conn:
            locked = await conn.execute(text("select id from invoices for update nowait"))
            free = bool(locked.all())
        calls.append((as_of, free))
        return await asked(wallet_id, as_of)  # the real ledger answers

    client.outstanding_overage = outstanding
    draft = (await rating.stub.GetInvoice(pb.GetInvoiceRequest(customer_id=s.customer_id))).invoice
    assert (draft.overage_due, draft.overage_settled) == ("1.5", "0.5")
    assert calls == [(None, True)]  # open period: no as_of, the ledger's own now
    end = START + timedelta(days=31)
    rating.clock.set(end + timedelta(hours=1))
    final = await close_period(rating.stub, s.customer_id, T)
    assert (final.overage_due, final.overage_settled) == ("1.5", "0.5")
    assert calls[1:] == [(end, True)]


async def test_close_waits_for_pending_charges_that_add_up_to_zero(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START, aggregation=pb.AGGREGATION_LATEST, prop="seats")
    late = START + timedelta(days=30)
    rating.clock.set(late)
    rating.ledger.pause()
    await ingest(rating.stub, [event(s.customer_id, late, "n1", seats="10")])
    await ingest(rating.stub, [event(s.customer_id, late + timedelta(minutes=1), "n2", seats="0")])
    await rating.drain()  # the outage: both charges (+5 and -5) stay pending
    # Closing asks the ledger for the period's top-ups first, so the outage has to be over for
    # the close to get as far as the pending charges (the real ledger answers while the
    # forwarder has not caught up yet).
    await rating.ledger.resume()
    rating.clock.set(START + timedelta(days=31, hours=1))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await close_period(rating.stub, s.customer_id, late)
    assert reason_of(err.value)[0] == "CHARGES_PENDING"
    await rating.drain()
    assert (await close_period(rating.stub, s.customer_id, late)).status == pb.INVOICE_STATUS_FINAL


async def test_reading_an_invoice_writes_nothing(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    for year in (2026, 2100, 8000):
        invoice = (
            await rating.stub.GetInvoice(
                pb.GetInvoiceRequest(
                    customer_id=s.customer_id,
                    period_time=timestamp(datetime(year, 1, 5, tzinfo=UTC)),
                )
            )
        ).invoice
        assert invoice.status == pb.INVOICE_STATUS_DRAFT
        assert invoice.invoice_id == ""
        assert invoice.total == "0"
    assert await rows(rating, "select count(*) from invoices") == [(0,)]
    listed = await rating.stub.ListInvoices(pb.ListInvoicesRequest(customer_id=s.customer_id))
    assert list(listed.invoices) == []
    # Usage creates the row; reading it then shows its id.
    await ingest(rating.stub, [event(s.customer_id, T, "e1", units="2")])
    invoice = (
        await rating.stub.GetInvoice(pb.GetInvoiceRequest(customer_id=s.customer_id))
    ).invoice
    assert invoice.invoice_id and invoice.usage_total == "1"
