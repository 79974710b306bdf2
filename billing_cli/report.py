"""Report commands: consumption (per day or week, by kind and feature, with the burn rate),
revenue (recognised, breakage, deferred, promotional credits consumed, per day or month) and a
wallet's depletion forecast."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from billing.ledger.v1 import ledger_pb2 as pb
from google.protobuf import timestamp_pb2

from billing_cli import parse
from billing_cli.ledger import more
from billing_cli.render import pairs, short, table, when
from billing_cli.state import State, state_of, to_dict

report = typer.Typer(
    help="Consumption, revenue and forecasts from the ledger's journal.", no_args_is_help=True
)

PAGE_MAX = 500  # the ledger's page size cap


class ConsumptionBucket(StrEnum):
    day = "day"
    week = "week"

    @property
    def proto(self) -> pb.ReportBucket:
        return {
            ConsumptionBucket.day: pb.REPORT_BUCKET_DAY,
            ConsumptionBucket.week: pb.REPORT_BUCKET_WEEK,
        }[self]


class RevenueBucket(StrEnum):
    day = "day"
    month = "month"

    @property
    def proto(self) -> pb.ReportBucket:
        return {
            RevenueBucket.day: pb.REPORT_BUCKET_DAY,
            RevenueBucket.month: pb.REPORT_BUCKET_MONTH,
        }[self]


Start = Annotated[str, typer.Option("--start", help="ISO time, inclusive (UTC without offset).")]
End = Annotated[str, typer.Option("--end", help="ISO time, exclusive.")]
Limit = Annotated[int, typer.Option(min=1, help="At most this many wallets or customers.")]
PageToken = Annotated[str, typer.Option(help="Continue from a previous report.")]

CONSUMPTION_COLUMNS = ["Start", "Prepaid", "Promotional", "Overage", "Total"]
FEATURE_COLUMNS = ["Feature", "Prepaid", "Promotional", "Overage", "Total"]
REVENUE_COLUMNS = ["Period", "Currency", "Unit", "Revenue", "Breakage", "Deferred", "Promo used"]


def _day(ts: timestamp_pb2.Timestamp) -> str:
    return ts.ToDatetime().strftime("%Y-%m-%d")


def _split(c: pb.Consumption) -> list[object]:
    return [c.prepaid, c.promotional, c.overage, c.total]


def _show_wallet(state: State, w: pb.WalletConsumption) -> None:
    state.out.print(
        table(
            f"Wallet {short(w.wallet_id)} ({short(w.customer_id)}, {w.unit})",
            CONSUMPTION_COLUMNS,
            [
                *([_day(b.start_time), *_split(b.consumption)] for b in w.buckets),
                ["total", *_split(w.total)],
            ],
        )
    )
    if w.features:
        state.out.print(
            table(
                None,
                FEATURE_COLUMNS,
                [[f.feature or "(none)", *_split(f.consumption)] for f in w.features],
            )
        )
    state.out.print(
        pairs(
            None, [("Burn per day", w.burn_rate_per_day), ("Burn per week", w.burn_rate_per_week)]
        )
    )


@report.command("consumption")
def consumption(
    ctx: typer.Context,
    start: Start,
    end: End,
    wallet: Annotated[str, typer.Option(help="One wallet.")] = "",
    customer: Annotated[str, typer.Option(help="Every wallet of one customer.")] = "",
    bucket: Annotated[ConsumptionBucket, typer.Option(help="Bucket length.")] = (
        ConsumptionBucket.day
    ),
    limit: Limit = 50,
    page_token: PageToken = "",
) -> None:
    """Credits consumed per bucket, prepaid / promotional / overage and by feature, and the
    burn rate; of one wallet, one customer, or (admin) every wallet."""
    state = state_of(ctx)
    found: list[pb.WalletConsumption] = []
    token = page_token
    while len(found) < limit:
        request = pb.GetConsumptionReportRequest(
            wallet_id=wallet,
            customer_id=customer,
            bucket=bucket.proto,
            page_size=min(limit - len(found), PAGE_MAX),
            page_token=token,
        )
        request.start_time.CopyFrom(parse.timestamp(start, name="--start"))
        request.end_time.CopyFrom(parse.timestamp(end, name="--end"))
        page: pb.GetConsumptionReportResponse = state.call(
            state.ledger.GetConsumptionReport, request, name="GetConsumptionReport"
        )
        found.extend(page.wallets)
        token = page.next_page_token
        if not token:
            break

    def show() -> None:
        for w in found:
            _show_wallet(state, w)

    state.emit({"wallets": [to_dict(w) for w in found], "next_page_token": token}, show)
    more(state, token)


def _revenue_rows(periods: list[pb.RevenuePeriod]) -> list[list[object]]:
    return [
        [
            _day(p.start_time),
            f.currency or "-",
            f.unit,
            f.revenue_recognized,
            f.breakage,
            f.deferred_revenue,
            f.promotional_consumed,
        ]
        for p in periods
        for f in p.figures
    ]


@report.command("revenue")
def revenue(
    ctx: typer.Context,
    start: Start,
    end: End,
    customer: Annotated[str, typer.Option(help="One customer; default (admin): every one.")] = "",
    bucket: Annotated[RevenueBucket, typer.Option(help="Period length.")] = RevenueBucket.month,
    limit: Limit = 50,
    page_token: PageToken = "",
) -> None:
    """Revenue recognised, breakage and deferred revenue at each grant's cost basis, and the
    promotional credits consumed, per period: per customer and in total."""
    state = state_of(ctx)
    customers: list[pb.CustomerRevenue] = []
    total: list[pb.RevenuePeriod] = []
    token = page_token
    while len(customers) < limit:
        request = pb.GetRevenueReportRequest(
            customer_id=customer,
            bucket=bucket.proto,
            page_size=min(limit - len(customers), PAGE_MAX),
            page_token=token,
        )
        request.start_time.CopyFrom(parse.timestamp(start, name="--start"))
        request.end_time.CopyFrom(parse.timestamp(end, name="--end"))
        page: pb.GetRevenueReportResponse = state.call(
            state.ledger.GetRevenueReport, request, name="GetRevenueReport"
        )
        customers.extend(page.customers)
        total = list(page.total)
        token = page.next_page_token
        if not token:
            break

    def show() -> None:
        for c in customers:
            title = f"Customer {short(c.customer_id)}"
            state.out.print(table(title, REVENUE_COLUMNS, _revenue_rows(list(c.periods))))
        if not customer:
            state.out.print(table("Every customer", REVENUE_COLUMNS, _revenue_rows(total)))

    state.emit(
        {
            "customers": [to_dict(c) for c in customers],
            "total": [to_dict(p) for p in total],
            "next_page_token": token,
        },
        show,
    )
    more(state, token)


@report.command("forecast")
def report_forecast(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    horizon: Annotated[
        str | None,
        typer.Option("--horizon", help="How far ahead, in whole days (30d; default 90d)."),
    ] = None,
) -> None:
    """When the available balance reaches zero at the recent burn, with its range, the
    expiries that come first and the top-ups and overage it implies."""
    state = state_of(ctx)
    request = pb.GetDepletionForecastRequest(wallet_id=wallet_id)
    if horizon is not None:
        request.horizon.CopyFrom(parse.duration(horizon, name="--horizon"))
    f: pb.GetDepletionForecastResponse = state.call(
        state.ledger.GetDepletionForecast, request, name="GetDepletionForecast"
    )

    def show() -> None:
        never = "not within the horizon"
        state.out.print(
            pairs(
                "Depletion forecast",
                [
                    ("Wallet", f.wallet_id),
                    ("As of", when(f, "as_of_time")),
                    ("Available", f.available),
                    ("Daily burn", f"{f.daily_burn} ({f.daily_burn_low} to {f.daily_burn_high})"),
                    ("Depletion", when(f, "depletion_time") or never),
                    ("Earliest", when(f, "depletion_earliest_time") or never),
                    ("Latest", when(f, "depletion_latest_time") or never),
                    ("Overage", f.overage),
                    ("Horizon end", when(f, "horizon_end_time")),
                ],
            )
        )
        if f.expiries:
            rows = [[e.grant_id, when(e, "expire_time"), e.amount] for e in f.expiries]
            state.out.print(table("Expiring unused", ["Grant", "Expires", "Amount"], rows))
        if f.top_ups:
            rows = [[when(t, "time"), t.amount] for t in f.top_ups]
            state.out.print(table("Top-ups the rule would make", ["When", "Amount"], rows))

    state.emit(to_dict(f), show)
