"""The reports' input checks and conversion (GetConsumptionReport, GetRevenueReport)."""

from __future__ import annotations

from collections.abc import Mapping

from billing.ledger.v1 import ledger_pb2 as pb

from billing_common.enums import EnumMap
from billing_common.errors import InvalidArgument
from billing_common.money import format_amount
from billing_common.protoconv import timestamp, to_datetime
from ledger_service import limits
from ledger_service.app.reports import CustomerRevenue, ReportRange
from ledger_service.domain.reports import (
    Bucket,
    Consumption,
    ConsumptionReport,
    RevenueFigures,
    RevenuePeriod,
    periods,
)

CONSUMPTION_BUCKET = EnumMap(Bucket, pb.ReportBucket, "REPORT_BUCKET_", [Bucket.DAY, Bucket.WEEK])
REVENUE_BUCKET = EnumMap(Bucket, pb.ReportBucket, "REPORT_BUCKET_", [Bucket.DAY, Bucket.MONTH])


def report_range(
    r: pb.GetConsumptionReportRequest | pb.GetRevenueReportRequest,
    buckets: EnumMap[Bucket, pb.ReportBucket],
) -> ReportRange:
    """start_time and end_time required, end after start, at most REPORT_BUCKETS_MAX buckets."""
    start = to_datetime(r, "start_time")
    end = to_datetime(r, "end_time")
    if start is None:
        raise InvalidArgument.field("start_time", "is required", "MISSING_FIELD")
    if end is None:
        raise InvalidArgument.field("end_time", "is required", "MISSING_FIELD")
    if end <= start:
        raise InvalidArgument.field("end_time", "must be after start_time", "INVALID_TIME_RANGE")
    bucket = buckets.required(r.bucket, "bucket")
    if len(periods(start, end, bucket)) > limits.REPORT_BUCKETS_MAX:
        raise InvalidArgument.field(
            "end_time",
            f"at most {limits.REPORT_BUCKETS_MAX} buckets after start_time",
            "REPORT_RANGE_TOO_LONG",
        )
    return ReportRange(start, end, bucket)


def consumption(c: Consumption) -> pb.Consumption:
    return pb.Consumption(
        prepaid=format_amount(c.prepaid),
        promotional=format_amount(c.promotional),
        overage=format_amount(c.overage),
        total=format_amount(c.total),
    )


def features(found: Mapping[str, Consumption]) -> list[pb.FeatureConsumption]:
    return [
        pb.FeatureConsumption(feature=name, consumption=consumption(c)) for name, c in found.items()
    ]


def wallet_consumption(
    wallet_id: str, customer_id: str, unit: str, report: ConsumptionReport
) -> pb.WalletConsumption:
    return pb.WalletConsumption(
        wallet_id=wallet_id,
        customer_id=customer_id,
        unit=unit,
        buckets=[
            pb.ConsumptionBucket(
                start_time=timestamp(b.start),
                end_time=timestamp(b.end),
                consumption=consumption(b.consumption),
                features=features(b.features),
            )
            for b in report.buckets
        ],
        total=consumption(report.total),
        features=features(report.features),
        burn_rate_per_day=format_amount(report.burn_rate_per_day),
        burn_rate_per_week=format_amount(report.burn_rate_per_week),
    )


def figures(currency: str, unit: str, f: RevenueFigures) -> pb.RevenueFigures:
    return pb.RevenueFigures(
        currency=currency,
        unit=unit,
        prepaid_consumed=format_amount(f.prepaid_consumed),
        revenue_recognized=format_amount(f.revenue_recognized),
        prepaid_expired=format_amount(f.prepaid_expired),
        breakage=format_amount(f.breakage),
        prepaid_voided=format_amount(f.prepaid_voided),
        voided_value=format_amount(f.voided_value),
        prepaid_granted=format_amount(f.prepaid_granted),
        granted_value=format_amount(f.granted_value),
        prepaid_unused=format_amount(f.prepaid_unused),
        deferred_revenue=format_amount(f.deferred_revenue),
        promotional_consumed=format_amount(f.promotional_consumed),
        promotional_cost=format_amount(f.promotional_cost),
    )


def revenue_periods(found: list[RevenuePeriod]) -> list[pb.RevenuePeriod]:
    return [
        pb.RevenuePeriod(
            start_time=timestamp(p.start),
            end_time=timestamp(p.end),
            figures=[figures(currency, unit, f) for (currency, unit), f in p.figures.items()],
        )
        for p in found
    ]


def customer_revenue(c: CustomerRevenue) -> pb.CustomerRevenue:
    return pb.CustomerRevenue(customer_id=c.customer_id, periods=revenue_periods(c.periods))
