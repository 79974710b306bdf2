"""The consumption and revenue reports over real gRPC on real PostgreSQL, against a journal
computed by hand: prepaid and promotional grants at their cost basis, debits across them by
feature, a partial refund, expiry after partial use, a void after partial use, overage and the
grant that settles it. Then both ways of summing agree: the reports against the journal's
allocations read back entry by entry."""

from __future__ import annotations

from decimal import Decimal

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc
from google.protobuf.message import Message

from billing_common.protoconv import timestamp
from tests.support.errors import reason_of
from tests.support.ledger import make_wallet, rid
from tests.support.principals import tenant_channel
from tests.support.reports import DAY, book_journal
from tests.support.servers import START

D = Decimal
WEEK_END = START + 7 * DAY


def _set(request: Message, fields: dict[str, object]) -> None:
    for name, value in fields.items():
        if isinstance(value, Message):
            getattr(request, name).CopyFrom(value)
        else:
            setattr(request, name, value)


def consumption_request(**fields: object) -> pb.GetConsumptionReportRequest:
    request = pb.GetConsumptionReportRequest(
        start_time=timestamp(START), end_time=timestamp(WEEK_END), bucket=pb.REPORT_BUCKET_DAY
    )
    _set(request, fields)
    return request


def revenue_request(**fields: object) -> pb.GetRevenueReportRequest:
    request = pb.GetRevenueReportRequest(
        start_time=timestamp(START),
        end_time=timestamp(START + 31 * DAY),
        bucket=pb.REPORT_BUCKET_MONTH,
    )
    _set(request, fields)
    return request


def split(c: pb.Consumption) -> tuple[str, str, str, str]:
    return (c.prepaid, c.promotional, c.overage, c.total)


async def test_consumption_per_day_and_feature_matches_the_hand_computed_journal(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    journal = await book_journal(stub, ledger_server.clock)
    reply = await stub.GetConsumptionReport(consumption_request(wallet_id=journal.wallet.wallet_id))
    (report,) = reply.wallets
    assert (report.wallet_id, report.customer_id, report.unit) == (
        journal.wallet.wallet_id,
        journal.wallet.customer_id,
        "CREDITS",
    )
    # prepaid, promotional, overage, total per day: the refund un-consumes on day 1, expiry and
    # the void are not consumption, the settlement moves day 4's overage to prepaid on day 5.
    assert [split(b.consumption) for b in report.buckets] == [
        ("10", "20", "0", "30"),
        ("20", "0", "0", "20"),
        ("20", "0", "0", "20"),
        ("10", "0", "0", "10"),
        ("0", "0", "15", "15"),
        ("15", "0", "-15", "0"),
        ("0", "0", "0", "0"),
    ]
    assert [b.start_time.ToDatetime().day for b in report.buckets] == [1, 2, 3, 4, 5, 6, 7]
    assert split(report.total) == ("75", "20", "0", "95")
    assert {f.feature: split(f.consumption) for f in report.features} == {
        "": ("15", "0", "-15", "0"),
        "chat": ("40", "20", "0", "60"),
        "search": ("20", "0", "15", "35"),  # the refund counts for the refunded debit's feature
    }
    assert {f.feature: split(f.consumption) for f in report.buckets[1].features} == {
        "search": ("20", "0", "0", "20")
    }
    # 95 credits over 7 days, to 18 fractional digits (half-even); weekly is 7 times that.
    assert report.burn_rate_per_day == "13.571428571428571429"
    assert report.burn_rate_per_week == "95.000000000000000003"

    weekly = await stub.GetConsumptionReport(
        consumption_request(wallet_id=journal.wallet.wallet_id, bucket=pb.REPORT_BUCKET_WEEK)
    )
    # Weeks start on Monday: Thursday 1 to Monday 5 (cut by the range), then Monday 5 on.
    assert [
        (b.start_time.ToDatetime().day, b.end_time.ToDatetime().day)
        for b in weekly.wallets[0].buckets
    ] == [(1, 5), (5, 8)]
    assert [split(b.consumption) for b in weekly.wallets[0].buckets] == [
        ("60", "20", "0", "80"),
        ("15", "0", "0", "15"),
    ]


async def test_revenue_breakage_and_deferred_revenue_match_the_hand_computed_journal(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    journal = await book_journal(stub, ledger_server.clock)
    customer = journal.wallet.customer_id
    reply = await stub.GetRevenueReport(revenue_request(customer_id=customer))
    (mine,) = reply.customers
    assert mine.customer_id == customer
    (january,) = mine.periods
    figures = {(f.currency, f.unit): f for f in january.figures}
    usd = figures[("USD", "CREDITS")]
    # Sold: P1 100 x 0.5 + P2 50 x 0.4 + P3 40 x 0.25 = 80 USD for 190 credits.
    assert (usd.prepaid_granted, usd.granted_value) == ("190", "80")
    # Recognised: P1 10 + 25 - 5 + 20 = 50 x 0.5, P2 10 x 0.4, P3 15 x 0.25 (the settlement).
    assert (usd.prepaid_consumed, usd.revenue_recognized) == ("75", "32.75")
    # Breakage: P1's 50 left when it expired, x 0.5.
    assert (usd.prepaid_expired, usd.breakage) == ("50", "25")
    # Voided: P2's 40 left, x 0.4.
    assert (usd.prepaid_voided, usd.voided_value) == ("40", "16")
    # Deferred: P3's 25 left, x 0.25.
    assert (usd.prepaid_unused, usd.deferred_revenue) == ("25", "6.25")
    free = figures[("", "CREDITS")]
    assert (free.promotional_consumed, free.promotional_cost, free.revenue_recognized) == (
        "20",
        "0",
        "0",
    )
    assert list(reply.total) == list(mine.periods)

    daily = await stub.GetRevenueReport(
        revenue_request(
            customer_id=customer, end_time=timestamp(WEEK_END), bucket=pb.REPORT_BUCKET_DAY
        )
    )
    deferred = [
        next(f.deferred_revenue for f in p.figures if f.currency == "USD")
        for p in daily.customers[0].periods
    ]
    # Day 0: P1 90 x 0.5 + P2 50 x 0.4; day 1: 65 x 0.5 + 20 after the refund gave 5 back:
    # 70 x 0.5 + 20; day 2: 50 x 0.5 + 20; day 3: P1 expired, P2 used then voided; day 5: P3.
    assert deferred == ["65", "55", "45", "0", "0", "6.25", "6.25"]


async def test_the_reports_reconcile_with_the_journal_summed_entry_by_entry(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    journal = await book_journal(stub, ledger_server.clock)
    w = journal.wallet.wallet_id
    entries = list(
        (await stub.ListEntries(pb.ListEntriesRequest(wallet_id=w, page_size=500))).entries
    )
    grants = {
        g.grant_id: g
        for g in (await stub.ListGrants(pb.ListGrantsRequest(wallet_id=w, page_size=500))).grants
    }
    consuming = {
        pb.ENTRY_TYPE_DEBIT,
        pb.ENTRY_TYPE_CAPTURE,
        pb.ENTRY_TYPE_REFUND,
        pb.ENTRY_TYPE_OVERAGE_SETTLEMENT,
    }
    consumed = D(0)
    at_cost: dict[int, D] = {}  # entry type -> value at cost basis leaving prepaid grants
    for e in entries:
        for a in e.allocations:
            if e.type in consuming:
                consumed -= D(a.amount)
            g = grants.get(a.grant_id)
            if g is not None and g.kind == pb.GRANT_KIND_PREPAID:
                value = -D(a.amount) * D(g.cost_basis.unit_price)
                at_cost[e.type] = at_cost.get(e.type, D(0)) + value
    paid_granted = sum(
        (
            D(g.amount) * D(g.cost_basis.unit_price)
            for g in grants.values()
            if g.kind == pb.GRANT_KIND_PREPAID
        ),
        D(0),
    )

    report = (await stub.GetConsumptionReport(consumption_request(wallet_id=w))).wallets[0]
    assert D(report.total.total) == consumed

    usd = next(
        f
        for f in (
            await stub.GetRevenueReport(revenue_request(customer_id=journal.wallet.customer_id))
        )
        .total[0]
        .figures
        if f.currency == "USD"
    )
    assert D(usd.revenue_recognized) == sum((at_cost.get(t, D(0)) for t in consuming), D(0))
    assert D(usd.breakage) == at_cost[pb.ENTRY_TYPE_EXPIRY]
    assert D(usd.voided_value) == at_cost[pb.ENTRY_TYPE_VOID]
    assert D(usd.granted_value) == paid_granted == D(80)
    # Everything paid for is recognised, broken, voided or still deferred, to the last digit.
    assert (
        D(usd.revenue_recognized) + D(usd.breakage) + D(usd.voided_value) + D(usd.deferred_revenue)
        == paid_granted
    )


async def test_every_customers_view_is_admin_only_paged_and_totalled(ledger_server) -> None:
    stub = ledger_server.stub
    first = await book_journal(stub, ledger_server.clock)
    ledger_server.clock.set(START)
    second = await book_journal(stub, ledger_server.clock)
    wallets = []
    token = ""
    while True:
        page = await stub.GetConsumptionReport(consumption_request(page_size=1, page_token=token))
        wallets += [r.wallet_id for r in page.wallets]
        token = page.next_page_token
        if not token:
            break
    assert wallets == [first.wallet.wallet_id, second.wallet.wallet_id]

    page = await stub.GetRevenueReport(revenue_request(page_size=1))
    assert [c.customer_id for c in page.customers] == [first.wallet.customer_id]
    usd = next(f for f in page.total[0].figures if f.currency == "USD")
    assert usd.granted_value == "160"  # both customers, on every page
    rest = await stub.GetRevenueReport(
        revenue_request(page_size=1, page_token=page.next_page_token)
    )
    assert [c.customer_id for c in rest.customers] == [second.wallet.customer_id]
    assert rest.next_page_token == ""

    target = ledger_server.target
    _, bound = await tenant_channel(ledger_server.channel, target, [first.wallet.customer_id])
    try:
        tenant = ledger_pb2_grpc.LedgerServiceStub(bound)
        # A tenant sees its own customer; another one's wallet is not there, as for none.
        mine = await tenant.GetConsumptionReport(
            consumption_request(customer_id=first.wallet.customer_id)
        )
        assert [r.wallet_id for r in mine.wallets] == [first.wallet.wallet_id]
        # Its every-customer views (it holds admin) hold its own customer only, totals too.
        every = await tenant.GetConsumptionReport(consumption_request())
        assert [r.wallet_id for r in every.wallets] == [first.wallet.wallet_id]
        revenue = await tenant.GetRevenueReport(revenue_request())
        assert [c.customer_id for c in revenue.customers] == [first.wallet.customer_id]
        usd = next(f for f in revenue.total[0].figures if f.currency == "USD")
        assert usd.granted_value == "80"
        for wallet_id in (second.wallet.wallet_id, "no-such-wallet"):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await tenant.GetConsumptionReport(consumption_request(wallet_id=wallet_id))
            assert raised.value.code() == grpc.StatusCode.NOT_FOUND
            assert reason_of(raised.value)[0] == "WALLET_NOT_FOUND"
        for customer in (second.wallet.customer_id, "no-such-customer"):
            assert not (
                await tenant.GetConsumptionReport(consumption_request(customer_id=customer))
            ).wallets
            revenue = await tenant.GetRevenueReport(revenue_request(customer_id=customer))
            assert not revenue.customers
            assert [list(p.figures) for p in revenue.total] == [[]]
    finally:
        await bound.close()


@pytest.mark.parametrize("missing", ["start_time", "end_time"])
async def test_a_report_without_its_range_is_invalid_argument(ledger_server, missing: str) -> None:
    wallet = await make_wallet(ledger_server.stub)
    for request in (
        consumption_request(wallet_id=wallet.wallet_id),
        revenue_request(customer_id=wallet.customer_id),
    ):
        request.ClearField(missing)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await getattr(ledger_server.stub, type(request).__name__.removesuffix("Request"))(
                request
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason_of(raised.value) == ("MISSING_FIELD", [missing])


async def test_a_capture_consumes_and_holds_and_releases_do_not(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    w = wallet.wallet_id
    await stub.CreateGrant(
        pb.CreateGrantRequest(
            request_id=rid(),
            wallet_id=w,
            kind=pb.GRANT_KIND_PREPAID,
            amount="100",
            cost_basis=pb.CostBasis(unit_price="2", currency="EUR"),
        )
    )
    captured = await stub.CreateHold(
        pb.CreateHoldRequest(request_id=rid(), wallet_id=w, amount="30", feature="jobs")
    )
    released = await stub.CreateHold(
        pb.CreateHoldRequest(request_id=rid(), wallet_id=w, amount="40", feature="jobs")
    )
    await stub.CaptureHold(
        pb.CaptureHoldRequest(request_id=rid(), hold_id=captured.hold.hold_id, amount="12")
    )
    await stub.ReleaseHold(pb.ReleaseHoldRequest(request_id=rid(), hold_id=released.hold.hold_id))

    (report,) = (await stub.GetConsumptionReport(consumption_request(wallet_id=w))).wallets
    assert split(report.total) == ("12", "0", "0", "12")
    assert [(f.feature, f.consumption.total) for f in report.features] == [("jobs", "12")]
    revenue = await stub.GetRevenueReport(revenue_request(customer_id=wallet.customer_id))
    (eur,) = revenue.customers[0].periods[0].figures
    assert (eur.currency, eur.revenue_recognized, eur.deferred_revenue) == ("EUR", "24", "176")
