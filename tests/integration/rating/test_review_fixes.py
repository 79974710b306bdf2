"""Review findings 3, 4, 6, 7, 8, 9 and 11: charges the ledger can never book, prices and plans
in the past, invoice reads and closes, refund splits with two forwarders, limits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as pb
from sqlalchemy import text

from billing_common.protoconv import timestamp
from rating_service.app.forwarder import Forwarder
from tests.conftest import START
from tests.integration.rating.helpers import (
    event,
    ingest,
    make_meter,
    make_price,
    rid,
)
from tests.integration.rating.test_ingest import reason_of

T = START + timedelta(hours=1)


async def rows(rating, sql: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    async with rating.rating.app.context.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(sql))]


async def close(rating, customer_id: str, at: datetime) -> pb.Invoice:  # type: ignore[no-untyped-def]
    response = await rating.stub.CloseBillingPeriod(
        pb.CloseBillingPeriodRequest(
            request_id=rid(), customer_id=customer_id, period_time=timestamp(at)
        )
    )
    return response.invoice


# -- finding 3 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit_price", "units"),
    [
        ("0.000000001", "0.0000000001"),  # 19 fractional digits
        ("1.000000000000000001", "123456789012345678901"),  # 39 significant digits
    ],
)
async def test_a_charge_money_cannot_hold_is_rejected_and_nothing_written(  # type: ignore[no-untyped-def]
    rating, unit_price: str, units: str
) -> None:
    s = await rating.setup_customer(
        start=START, model=pb.PRICING_MODEL_PER_UNIT, unit_price=unit_price
    )
    rating.clock.set(T)
    r = await ingest(
        rating.stub,
        [event(s.customer_id, T, "big", units=units), event(s.customer_id, T, "ok", units="1")],
    )
    assert r.results[0].status == pb.EVENT_STATUS_REJECTED
    assert r.results[0].error.reason == "CHARGE_OUT_OF_RANGE"
    assert r.results[0].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert r.results[1].status == pb.EVENT_STATUS_ACCEPTED
    assert await rows(rating, "select id from events") == [("ok",)]
    assert await rows(rating, "select event_id from charges") == [("ok",)]
    assert await rows(rating, "select quantity from aggregates") == [(Decimal(1),)]
    # Sent again (for example once the price is fixed) it is not a duplicate.
    again = await ingest(rating.stub, [event(s.customer_id, T, "big", units=units)], sync=True)
    assert again.results[0].error.reason == "CHARGE_OUT_OF_RANGE"


async def test_a_permanent_ledger_refusal_fails_the_charge_and_the_period_closes(rating) -> None:  # type: ignore[no-untyped-def]
    """The forwarder retried every refusal but a DENY forever, so CloseBillingPeriod never
    passed CHARGES_PENDING."""
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    # The wallet is gone from the ledger after the plan was assigned (removed by an operator):
    # the real ledger refuses every debit to it with NOT_FOUND / WALLET_NOT_FOUND.
    await rating.ledger.remove_wallet(s.wallet_id)
    await ingest(rating.stub, [event(s.customer_id, T, "e1", units="4")])
    await rating.drain()
    rating.clock.advance(timedelta(hours=2))
    await rating.drain()
    assert await rows(rating, "select status, attempts, last_error from charges") == [
        ("FAILED", 0, f"WALLET_NOT_FOUND: wallet {s.wallet_id!r} does not exist")
    ]
    rating.clock.set(START + timedelta(days=32))
    invoice = await close(rating, s.customer_id, T)
    assert invoice.status == pb.INVOICE_STATUS_FINAL
    assert invoice.lines[0].failed_amount == "2"
    assert invoice.lines[0].pending_amount == "0"


async def test_a_permanent_refund_refusal_fails_the_refund(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START, aggregation=pb.AGGREGATION_LATEST, prop="seats")
    rating.clock.set(T)
    await ingest(rating.stub, [event(s.customer_id, T, "l1", seats="10")])
    await rating.drain()  # the debit is booked
    await ingest(rating.stub, [event(s.customer_id, T + timedelta(minutes=1), "l2", seats="4")])
    # Someone else refunds l1's whole debit on the ledger first: the rating service's refund of
    # 3 then exceeds what is left, and the real ledger refuses it with REFUND_EXCEEDS_DEBIT.
    [debit] = await rating.ledger.entries(types=[lpb.ENTRY_TYPE_DEBIT])
    await rating.ledger.stub.RefundDebit(
        lpb.RefundDebitRequest(request_id=rid(), entry_id=debit.entry_id, amount="5")
    )
    await rating.drain()
    assert await rows(rating, "select event_id, status from charges order by id") == [
        ("l1", "ACKNOWLEDGED"),
        ("l2", "FAILED"),
    ]


# -- finding 4 --------------------------------------------------------------------------------


async def test_prices_and_plans_never_take_effect_in_the_past(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T + timedelta(hours=1))
    await ingest(rating.stub, [event(s.customer_id, T, "at-T", units="1")])
    for effective in (T - timedelta(minutes=1), T + timedelta(minutes=59)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await make_price(
                rating.stub,
                "",
                effective,
                price_id=s.price.price_id,
                model=pb.PRICING_MODEL_PER_UNIT,
                unit_price="2",
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason_of(err.value) == ("EFFECTIVE_TIME_IN_PAST", ["effective_time"])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await make_price(rating.stub, s.meter.meter_id, T, model=pb.PRICING_MODEL_PER_UNIT)
    assert reason_of(err.value)[0] == "EFFECTIVE_TIME_IN_PAST"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await rating.stub.AssignPlan(
            pb.AssignPlanRequest(
                request_id=rid(),
                customer_id=s.customer_id,
                plan_id=s.plan.plan_id,
                wallet_id=s.wallet_id,
                start_time=timestamp(T + timedelta(minutes=30)),
            )
        )
    assert reason_of(err.value) == ("EFFECTIVE_TIME_IN_PAST", ["start_time"])
    # An event accepted up to future_skew ahead also blocks a version starting before it.
    now = rating.clock.now()
    await ingest(
        rating.stub, [event(s.customer_id, now + timedelta(minutes=4), "ahead", units="1")]
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await make_price(
            rating.stub,
            "",
            now + timedelta(minutes=2),
            price_id=s.price.price_id,
            model=pb.PRICING_MODEL_PER_UNIT,
            unit_price="2",
        )
    assert reason_of(err.value)[0] == "EFFECTIVE_TIME_IN_PAST"
    # Now or later is fine, and nothing above was written.
    later = await make_price(
        rating.stub,
        "",
        now + timedelta(minutes=10),
        price_id=s.price.price_id,
        model=pb.PRICING_MODEL_PER_UNIT,
        unit_price="2",
    )
    assert later.version == 2


# -- finding 6 --------------------------------------------------------------------------------


async def test_overage_is_asked_with_the_ledgers_now_and_outside_invoice_locks(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)  # ALLOW_OVERAGE wallet, no grants
    rating.clock.set(T)
    await ingest(rating.stub, [event(s.customer_id, T, "e1", units="4")])
    await rating.drain()
    async with rating.rating.app.context.engine.begin() as conn:
        await conn.execute(text("update charges set overage = amount"))
    # The debit of 2 went to overage; a grant of 0.5 settles part of it: 1.5 stays owed.
    await rating.ledger.grant(s.wallet_id, "0.5")
    calls: list[tuple[datetime | None, bool]] = []
    client = rating.ledger.client
    asked = client.outstanding_overage

    async def outstanding(wallet_id, as_of):  # type: ignore[no-untyped-def]
        # Would fail if a transaction held the invoice row (CloseBillingPeriod: FOR UPDATE).
        async with rating.rating.app.context.engine.begin() as conn:
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
    final = await close(rating, s.customer_id, T)
    assert (final.overage_due, final.overage_settled) == ("1.5", "0.5")
    assert calls[1:] == [(end, True)]


# -- finding 7 --------------------------------------------------------------------------------


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
        await close(rating, s.customer_id, late)
    assert reason_of(err.value)[0] == "CHARGES_PENDING"
    await rating.drain()
    assert (await close(rating, s.customer_id, late)).status == pb.INVOICE_STATUS_FINAL


# -- finding 8 --------------------------------------------------------------------------------


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


# -- finding 9 --------------------------------------------------------------------------------


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

    async def slow(request_id, entry_id, amount, description):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.05)  # both forwarders are in the call before either records it
        return await orig(request_id, entry_id, amount, description)  # the real ledger books

    client.refund = slow
    second = Forwarder(rating.rating.app.context)
    await asyncio.gather(rating.rating.forwarder.run_once(), second.run_once())
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


# -- finding 11 -------------------------------------------------------------------------------


async def test_event_type_has_one_limit_and_reason(rating) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await make_meter(rating.stub, pb.AGGREGATION_COUNT, event_type="t" * 129)
    assert reason_of(err.value) == ("INVALID_ID", ["event_type"])
    meter = await make_meter(rating.stub, pb.AGGREGATION_COUNT, event_type="t" * 128)
    assert meter.event_type == "t" * 128
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    r = await ingest(
        rating.stub,
        [
            event(s.customer_id, T, "x" * 129, units="1"),
            event(s.customer_id, T, "ok", type_="t" * 129),
        ],
    )
    assert [x.error.reason for x in r.results] == ["INVALID_ID", "INVALID_ID"]
