"""The consumption and revenue reports as pure functions (ledger_service/domain/reports.py):
buckets in UTC, how each entry type counts, and the properties that make the figures
trustworthy (buckets sum to the whole, a range split in two adds up, pre-summed movements give
the same report as one movement per allocation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_service.domain.model import EntryType, GrantKind
from ledger_service.domain.reports import (
    Bucket,
    Consumption,
    Movement,
    RevenueFigures,
    bucket_start,
    consumption_report,
    periods,
    revenue_report,
)

T0 = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # a Wednesday
D = Decimal


def move(
    t: datetime,
    entry_type: EntryType,
    kind: GrantKind | None,
    amount: str,
    feature: str = "",
    price: str = "0",
    currency: str = "",
) -> Movement:
    return Movement("w", t, entry_type, kind, D(amount), feature, D(price), currency)


def test_weeks_start_on_monday_and_months_on_the_first_in_utc() -> None:
    assert bucket_start(T0, Bucket.DAY) == datetime(2026, 3, 4, tzinfo=UTC)
    assert bucket_start(T0, Bucket.WEEK) == datetime(2026, 3, 2, tzinfo=UTC)
    assert bucket_start(T0, Bucket.MONTH) == datetime(2026, 3, 1, tzinfo=UTC)


def test_the_first_and_last_buckets_are_cut_by_the_range() -> None:
    spans = periods(T0, T0 + timedelta(days=9), Bucket.WEEK)
    assert spans == [
        (T0, datetime(2026, 3, 9, tzinfo=UTC)),
        (datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 13, 15, 30, tzinfo=UTC)),
    ]
    months = periods(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC), Bucket.MONTH
    )
    assert [e - s for s, e in months] == [
        timedelta(days=31),
        timedelta(days=28),
        timedelta(days=31),
    ]


def test_each_entry_type_counts_as_the_readme_says() -> None:
    start = T0 - timedelta(hours=1)
    journal = [
        move(T0, EntryType.GRANT, GrantKind.PREPAID, "100"),
        move(T0, EntryType.DEBIT, GrantKind.PROMOTIONAL, "-7", "chat"),
        move(T0, EntryType.DEBIT, GrantKind.PREPAID, "-3", "chat"),
        move(T0, EntryType.CAPTURE, None, "-5", "jobs"),
        move(T0, EntryType.REFUND, GrantKind.PREPAID, "1", "chat"),
        # A settlement moves 2 of the overage to the prepaid grant that paid it.
        move(T0, EntryType.OVERAGE_SETTLEMENT, GrantKind.PREPAID, "-2"),
        move(T0, EntryType.OVERAGE_SETTLEMENT, None, "2"),
        move(T0, EntryType.EXPIRY, GrantKind.PREPAID, "-10"),
        move(T0, EntryType.VOID, GrantKind.PROMOTIONAL, "-4"),
    ]
    report = consumption_report(journal, start, start + timedelta(days=1), Bucket.DAY)
    assert report.total == Consumption(prepaid=D(4), promotional=D(7), overage=D(3))
    assert report.features == {
        "": Consumption(prepaid=D(2), overage=D(-2)),
        "chat": Consumption(prepaid=D(2), promotional=D(7)),
        "jobs": Consumption(overage=D(5)),
    }
    assert report.burn_rate_per_day == D(14)
    assert report.burn_rate_per_week == D(98)


def test_the_burn_rate_is_consumption_over_the_range_in_days() -> None:
    journal = [move(T0, EntryType.DEBIT, GrantKind.PREPAID, "-10")]
    report = consumption_report(journal, T0, T0 + timedelta(days=3), Bucket.DAY)
    assert report.burn_rate_per_day == D("3.333333333333333333")
    assert report.burn_rate_per_week == D("23.333333333333333331")
    assert [b.consumption.total for b in report.buckets] == [D(10), D(0), D(0), D(0)]


def test_revenue_breakage_and_deferred_revenue_at_cost_basis() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    feb = datetime(2026, 2, 10, tzinfo=UTC)
    before = [
        (
            move(
                start - timedelta(days=1),
                EntryType.GRANT,
                GrantKind.PREPAID,
                "100",
                price="0.5",
                currency="USD",
            ),
            "CREDITS",
        )
    ]
    journal = [
        (
            move(start, EntryType.DEBIT, GrantKind.PREPAID, "-30", price="0.5", currency="USD"),
            "CREDITS",
        ),
        (move(start, EntryType.DEBIT, GrantKind.PROMOTIONAL, "-8"), "CREDITS"),
        (
            move(feb, EntryType.REFUND, GrantKind.PREPAID, "5", price="0.5", currency="USD"),
            "CREDITS",
        ),
        (
            move(feb, EntryType.EXPIRY, GrantKind.PREPAID, "-75", price="0.5", currency="USD"),
            "CREDITS",
        ),
    ]
    jan, february = revenue_report(
        before, journal, start, datetime(2026, 3, 1, tzinfo=UTC), Bucket.MONTH
    )
    assert jan.figures[("USD", "CREDITS")] == RevenueFigures(
        prepaid_consumed=D(30),
        revenue_recognized=D(15),
        prepaid_unused=D(70),
        deferred_revenue=D(35),
    )
    assert jan.figures[("", "CREDITS")] == RevenueFigures(promotional_consumed=D(8))
    assert february.figures[("USD", "CREDITS")] == RevenueFigures(
        prepaid_consumed=D(-5),
        revenue_recognized=D("-2.5"),
        prepaid_expired=D(75),
        breakage=D("37.5"),
    )


# -- properties -----------------------------------------------------------------------------

amounts = st.decimals(min_value=D("-1000"), max_value=D("1000"), places=6)
offsets = st.integers(min_value=0, max_value=60 * 24 * 40 - 1)  # minutes into the range
# HOLD, RELEASE and ADJUSTMENT entries are booked without allocations.
types = st.sampled_from(
    [t for t in EntryType if t not in (EntryType.HOLD, EntryType.RELEASE, EntryType.ADJUSTMENT)]
)
kinds = st.sampled_from([GrantKind.PREPAID, GrantKind.PROMOTIONAL, None])
features = st.sampled_from(["", "chat", "search"])
prices = st.sampled_from([D(0), D("0.01"), D("1.25")])
movements = st.lists(
    st.builds(
        lambda at, t, k, a, f, p: move(T0 + timedelta(minutes=at), t, k, str(a), f, str(p), "USD"),
        offsets,
        types,
        kinds,
        amounts,
        features,
        prices,
    ),
    max_size=40,
)
END = T0 + timedelta(days=40)


@settings(max_examples=150)
@given(movements, st.sampled_from([Bucket.DAY, Bucket.WEEK]))
def test_buckets_and_features_each_sum_to_the_whole(
    journal: list[Movement], bucket: Bucket
) -> None:
    report = consumption_report(journal, T0, END, bucket)
    assert sum((b.consumption for b in report.buckets), Consumption()) == report.total
    assert sum(report.features.values(), Consumption()) == report.total
    for b in report.buckets:
        assert sum(b.features.values(), Consumption()) == b.consumption


@settings(max_examples=150)
@given(movements, st.integers(min_value=1, max_value=39 * 24), st.sampled_from(list(Bucket)))
def test_a_range_split_in_two_adds_up(journal: list[Movement], cut_h: int, bucket: Bucket) -> None:
    cut = T0 + timedelta(hours=cut_h)
    whole = consumption_report(journal, T0, END, bucket).total
    halves = (
        consumption_report(journal, T0, cut, bucket).total
        + consumption_report(journal, cut, END, bucket).total
    )
    assert halves == whole
    tagged = [(m, "CREDITS") for m in journal]
    first = revenue_report([], tagged, T0, cut, bucket)
    second = revenue_report(
        [(m, "CREDITS") for m in journal if m.time < cut], tagged, cut, END, bucket
    )
    joined = revenue_report([], tagged, T0, END, bucket)
    for key, last in joined[-1].figures.items():
        assert (
            second[-1].figures.get(key, RevenueFigures()).deferred_revenue
        ) == last.deferred_revenue
    moved_whole = sum((f for p in joined for f in p.figures.values()), RevenueFigures())
    moved_parts = sum((f for p in first + second for f in p.figures.values()), RevenueFigures())
    assert moved_parts.revenue_recognized == moved_whole.revenue_recognized
    assert moved_parts.breakage == moved_whole.breakage


@settings(max_examples=150)
@given(movements, st.sampled_from(list(Bucket)))
def test_movements_summed_per_bucket_give_the_same_report(
    journal: list[Movement], bucket: Bucket
) -> None:
    """What the SQL adapter does: sum allocations per bucket and time them at its start."""
    summed: dict[tuple[object, ...], Movement] = {}
    for m in journal:
        at = max(T0, bucket_start(m.time, bucket))
        key = (at, m.entry_type, m.kind, m.feature, m.unit_price)
        old = summed.get(key)
        summed[key] = Movement(
            "w",
            at,
            m.entry_type,
            m.kind,
            m.amount + (old.amount if old else 0),
            m.feature,
            m.unit_price,
            "USD",
        )
    assert consumption_report(summed.values(), T0, END, bucket) == consumption_report(
        journal, T0, END, bucket
    )
    tagged = [(m, "CREDITS") for m in journal]
    assert revenue_report(
        [], [(m, "CREDITS") for m in summed.values()], T0, END, bucket
    ) == revenue_report([], tagged, T0, END, bucket)


@settings(max_examples=150)
@given(movements)
def test_unused_prepaid_is_granted_less_consumed_expired_and_voided(
    journal: list[Movement],
) -> None:
    periods_ = revenue_report([], [(m, "CREDITS") for m in journal], T0, END, Bucket.WEEK)
    moved = sum(
        (p.figures.get(("USD", "CREDITS"), RevenueFigures()) for p in periods_), RevenueFigures()
    )
    last = periods_[-1].figures.get(("USD", "CREDITS"), RevenueFigures())
    assert last.deferred_revenue == (
        moved.granted_value - moved.revenue_recognized - moved.breakage - moved.voided_value
    )
    assert last.prepaid_unused == (
        moved.prepaid_granted
        - moved.prepaid_consumed
        - moved.prepaid_expired
        - moved.prepaid_voided
    )
