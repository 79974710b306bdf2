"""A plan's fixed charge debited per period and its minimum commitment's true-up, with both
services over real gRPC on real PostgreSQL and one fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as pb
from billing.rating.v1 import rating_pb2_grpc

from billing_common.protoconv import timestamp, to_datetime
from rating_service import main as rating_main
from rating_service.config import RatingSettings
from tests.support.channels import admin_key_file, open_channel
from tests.support.rating import event, ingest, make_meter, make_price, rid
from tests.support.servers import START
from tests.support.tls import rating_settings

FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
APR = datetime(2026, 4, 1, tzinfo=UTC)


async def fixed_debits(rating) -> list[lpb.Entry]:  # type: ignore[no-untyped-def]
    entries = await rating.ledger.entries(types=[lpb.ENTRY_TYPE_DEBIT])
    return sorted(
        (e for e in entries if e.request_id.startswith("rating:fixed:")),
        key=lambda e: e.request_id,
    )


async def test_every_period_is_debited_once_across_a_downtime_and_shows_paid(rating) -> None:  # type: ignore[no-untyped-def]
    wallet = await rating.ledger.wallet(credits="100")
    s = await rating.setup_customer(
        wallet_id=wallet,
        start=START,
        fixed_charge="10",
        fixed_charge_collection=pb.FIXED_CHARGE_COLLECTION_DEBIT,
    )
    assert s.plan.fixed_charge_collection == pb.FIXED_CHARGE_COLLECTION_DEBIT
    rating.clock.set(START + timedelta(hours=1))
    await rating.drain()
    await rating.drain()
    assert [e.amount for e in await fixed_debits(rating)] == ["-10"]

    # Downtime: the rating service stops; two more periods start while it is down.
    await rating.rating.close()
    rating.clock.set(MAR + timedelta(days=2))
    restarted = await rating_main.build(
        RatingSettings(
            admin_key_file=admin_key_file(),
            ledger_api_key_file=admin_key_file(),
            database_url=rating.uri,
            listen="127.0.0.1:0",
            migrate=False,
            pool_size=5,
            forward=False,
            ledger_target=rating.ledger.proxy.target,
            **rating_settings(),
        ),
        rating.clock,
    )
    port = await restarted.server.start()
    channel = open_channel(f"127.0.0.1:{port}")
    try:
        for _ in range(3):
            await restarted.forwarder.run_once()
        stub = rating_pb2_grpc.RatingServiceStub(channel)
        for period in (START, FEB, MAR):
            invoice = (
                await stub.GetInvoice(
                    pb.GetInvoiceRequest(customer_id=s.customer_id, period_time=timestamp(period))
                )
            ).invoice
            assert (invoice.fixed_charge, invoice.fixed_charge_paid) == ("10", "10")
    finally:
        await channel.close()
        await restarted.close()

    debits = await fixed_debits(rating)
    assert [e.request_id.split(":", 4)[4][:10] for e in debits] == [
        "2026-01-01",
        "2026-02-01",
        "2026-03-01",
    ]
    assert all(e.amount == "-10" and e.wallet_id == wallet for e in debits)
    assert (await rating.ledger.bookings()).most_common(1)[0][1] == 1  # none booked twice
    assert await rating.ledger.balance(wallet) == Decimal(70)


async def test_a_debited_fixed_charge_shows_paid_and_a_refused_one_unpaid(rating) -> None:  # type: ignore[no-untyped-def]
    paying = await rating.ledger.wallet(credits="100")
    broke = await rating.ledger.wallet(deny=True, credits="3")
    s_paid = await rating.setup_customer(
        wallet_id=paying,
        start=START,
        fixed_charge="10",
        fixed_charge_collection=pb.FIXED_CHARGE_COLLECTION_DEBIT,
    )
    s_unpaid = await rating.setup_customer(
        wallet_id=broke,
        start=START,
        fixed_charge="10",
        fixed_charge_collection=pb.FIXED_CHARGE_COLLECTION_DEBIT,
    )
    rating.clock.set(START + timedelta(hours=1))
    await rating.drain()
    rating.clock.set(FEB + timedelta(hours=1))
    await rating.drain()

    async def close(customer_id: str) -> pb.Invoice:
        return (
            await rating.stub.CloseBillingPeriod(
                pb.CloseBillingPeriodRequest(
                    request_id=rid(), customer_id=customer_id, period_time=timestamp(START)
                )
            )
        ).invoice

    paid = await close(s_paid.customer_id)
    assert (paid.fixed_charge, paid.fixed_charge_paid, paid.total) == ("10", "10", "10")
    unpaid = await close(s_unpaid.customer_id)
    assert (unpaid.fixed_charge, unpaid.fixed_charge_paid, unpaid.total) == ("10", "0", "10")
    assert await rating.ledger.balance(broke) == Decimal(3)  # nothing taken


async def test_a_prorating_plan_debits_and_invoices_a_first_period_cut_by_the_start_by_time(
    rating,  # type: ignore[no-untyped-def]
) -> None:
    """Anchored on the 1st, assigned from January 22nd: 10 of January's 31 days pay
    31 x 10/31 = 10 of the fixed charge 31, debited once and shown on the invoice; February
    pays all 31."""
    jan22 = START + timedelta(days=21)
    rating.clock.set(jan22)
    wallet = await rating.ledger.wallet(credits="100")
    s = await rating.setup_customer(
        wallet_id=wallet,
        start=jan22,
        anchor=START,
        fixed_charge="31",
        fixed_charge_collection=pb.FIXED_CHARGE_COLLECTION_DEBIT,
        prorate_fixed_charge=True,
    )
    await rating.drain()
    invoice = (
        await rating.stub.GetInvoice(pb.GetInvoiceRequest(customer_id=s.customer_id))
    ).invoice
    assert (invoice.fixed_charge, invoice.fixed_charge_paid, invoice.total) == ("10", "10", "10")
    rating.clock.set(FEB + timedelta(hours=1))
    await rating.drain()
    debits = await fixed_debits(rating)
    assert sorted(e.amount for e in debits if e.wallet_id == wallet) == ["-10", "-31"]
    assert await rating.ledger.balance(wallet) == Decimal(59)


async def test_usage_under_the_minimum_commitment_shows_a_true_up(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START, minimum_commitment="50")
    assert s.plan.minimum_commitment == "50"
    at = START + timedelta(hours=1)
    rating.clock.set(at)
    await ingest(rating.stub, [event(s.customer_id, at, units="4")])  # 4 x 0.5 = 2
    await rating.drain()
    rating.clock.set(FEB + timedelta(hours=1))
    closed = (
        await rating.stub.CloseBillingPeriod(
            pb.CloseBillingPeriodRequest(
                request_id=rid(), customer_id=s.customer_id, period_time=timestamp(START)
            )
        )
    ).invoice
    assert (closed.usage_total, closed.true_up, closed.total) == ("2", "48", "50")
    assert [e.amount for e in await fixed_debits(rating)] == []


def month(n: int) -> datetime:
    return datetime(2026 + n // 12, n % 12 + 1, 1, tzinfo=UTC)


async def invoice_at(rating, customer_id: str, at: datetime) -> pb.Invoice:  # type: ignore[no-untyped-def]
    return (
        await rating.stub.GetInvoice(
            pb.GetInvoiceRequest(customer_id=customer_id, period_time=timestamp(at))
        )
    ).invoice


async def test_an_annual_commitment_settles_once_on_the_invoice_that_closes_the_year(
    rating,
) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(
        start=START, minimum_commitment="1200", commitment_period=pb.COMMITMENT_PERIOD_ANNUAL
    )
    assert s.plan.commitment_period == pb.COMMITMENT_PERIOD_ANNUAL
    for m in (0, 1, 11):  # 100 credits of usage in January, February and December
        at = month(m) + timedelta(hours=1)
        rating.clock.set(at)
        await ingest(rating.stub, [event(s.customer_id, at, units="200")])
        await rating.drain()
    feb = await invoice_at(rating, s.customer_id, month(1))
    assert (feb.usage_total, feb.true_up, feb.total) == ("100", "0", "100")
    assert (feb.commitment_used, feb.commitment_remaining) == ("200", "1000")
    assert to_datetime(feb, "commitment_start_time") == START
    assert to_datetime(feb, "commitment_end_time") == month(12)
    june = await invoice_at(rating, s.customer_id, month(5))
    assert (june.usage_total, june.true_up, june.commitment_used) == ("0", "0", "200")
    rating.clock.set(month(12) + timedelta(hours=1))
    closed = (
        await rating.stub.CloseBillingPeriod(
            pb.CloseBillingPeriodRequest(
                request_id=rid(), customer_id=s.customer_id, period_time=timestamp(month(11))
            )
        )
    ).invoice
    assert (closed.usage_total, closed.commitment_used, closed.true_up, closed.total) == (
        "100",
        "300",
        "900",
        "1000",
    )
    # The next year starts over: its first invoice counts only its own usage.
    jan = await invoice_at(rating, s.customer_id, month(12))
    assert (jan.commitment_used, jan.commitment_remaining, jan.true_up) == ("0", "1200", "0")


async def test_an_annual_commitment_needs_a_minimum_commitment(rating) -> None:  # type: ignore[no-untyped-def]
    meter = await make_meter(rating.stub, pb.AGGREGATION_COUNT)
    price = await make_price(
        rating.stub, meter.meter_id, START, model=pb.PRICING_MODEL_PER_UNIT, unit_price="1"
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rating.stub.CreatePlan(
            pb.CreatePlanRequest(
                request_id=rid(),
                name="annual without a commitment",
                cadence=pb.CADENCE_MONTHLY,
                unit="CREDITS",
                prices=[pb.PlanPrice(price_id=price.price_id)],
                commitment_period=pb.COMMITMENT_PERIOD_ANNUAL,
            )
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "minimum_commitment" in (refused.value.details() or "")
