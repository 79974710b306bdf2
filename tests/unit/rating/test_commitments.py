"""A plan's minimum commitment (domain/commitments.py): per billing period, or per commitment
year settled once on the invoice of the period that closes the year (seed 003's annual
true-up)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from billing_common.periods import Cadence, Period
from rating_service.domain.commitments import (
    closes_span,
    commitment_of,
    commitment_span,
    earlier_periods,
)
from rating_service.domain.model import Assignment, CommitmentPeriod, Plan, billing_period

START = datetime(2026, 1, 15, tzinfo=UTC)


def plan(
    period: CommitmentPeriod = CommitmentPeriod.ANNUAL,
    commitment: str = "1200",
    cadence: Cadence = Cadence.MONTHLY,
    anchor: datetime | None = None,
) -> Plan:
    return Plan(
        "p", "Pro", cadence, anchor, D(0), (), minimum_commitment=D(commitment),
        commitment_period=period,
    )  # fmt: skip


def periods(p: Plan, a: Assignment, until: datetime) -> list[Period]:
    out: list[Period] = []
    at = a.start_time
    while at < until and (a.end_time is None or at < a.end_time):
        out.append(billing_period(p, a, at))
        at = out[-1].end
    return out


def test_per_period_each_period_is_its_own_span_and_settles_its_own_shortfall() -> None:
    p = plan(CommitmentPeriod.PER_PERIOD, "100")
    a = Assignment("a", "c", "p", "w", START)
    first = billing_period(p, a, START)
    assert commitment_span(p, a, first) == first
    assert earlier_periods(p, a, first) == []
    c = commitment_of(p, a, first, D(30))
    assert c is not None and (c.used, c.remaining, c.true_up) == (D(30), D(70), D(70))


def test_no_commitment_no_standing() -> None:
    a = Assignment("a", "c", "p", "w", START)
    p = plan(CommitmentPeriod.PER_PERIOD, "0")
    assert commitment_of(p, a, billing_period(p, a, START), D(5)) is None


def test_an_annual_commitment_on_a_monthly_plan_settles_once_on_the_twelfth_invoice() -> None:
    p = plan()
    a = Assignment("a", "c", "p", "w", START)
    months = periods(p, a, datetime(2027, 1, 15, tzinfo=UTC))
    assert len(months) == 12
    year = Period(START, datetime(2027, 1, 15, tzinfo=UTC))
    assert {commitment_span(p, a, m) for m in months} == {year}
    assert [closes_span(year, m) for m in months] == [False] * 11 + [True]
    # March: January and February count before it.
    assert earlier_periods(p, a, months[2]) == months[:2]
    mid = commitment_of(p, a, months[2], D(100), earlier_usage=D(200))
    assert mid is not None and (mid.used, mid.remaining, mid.true_up) == (D(300), D(900), D(0))
    last = commitment_of(p, a, months[11], D(50), earlier_usage=D(1000))
    assert last is not None and (last.used, last.true_up) == (D(1050), D(150))
    # The second year starts over.
    after = billing_period(p, a, datetime(2027, 1, 15, tzinfo=UTC))
    assert commitment_span(p, a, after).start == datetime(2027, 1, 15, tzinfo=UTC)
    assert earlier_periods(p, a, after) == []


def test_years_follow_the_assignment_not_the_billing_anchor() -> None:
    p = plan(anchor=datetime(2026, 1, 1, tzinfo=UTC))
    a = Assignment("a", "c", "p", "w", START)
    first = billing_period(p, a, START)  # the partial period 15 Jan to 1 Feb
    assert first == Period(START, datetime(2026, 2, 1, tzinfo=UTC))
    assert commitment_span(p, a, first) == Period(START, datetime(2027, 1, 15, tzinfo=UTC))
    # The period 1 Jan 2027 to 1 Feb 2027 starts in the first year: it closes it.
    closing = billing_period(p, a, datetime(2027, 1, 1, tzinfo=UTC))
    assert closes_span(commitment_span(p, a, closing), closing)
    assert not closes_span(
        commitment_span(p, a, first), billing_period(p, a, datetime(2026, 12, 1, tzinfo=UTC))
    )


def test_a_year_cut_short_by_the_assignment_end_is_owed_in_full_on_its_last_invoice() -> None:
    p = plan()
    end = datetime(2026, 6, 15, tzinfo=UTC)
    a = Assignment("a", "c", "p", "w", START, end)
    months = periods(p, a, end)
    assert len(months) == 5
    span = commitment_span(p, a, months[-1])
    assert span == Period(START, end)
    last = commitment_of(p, a, months[-1], D(10), earlier_usage=D(90))
    assert last is not None and last.true_up == D(1100)  # not prorated


@settings(max_examples=60, deadline=None)
@given(
    usage=st.lists(
        st.decimals(min_value=0, max_value=400, places=2, allow_nan=False), min_size=12, max_size=12
    ),
    commitment=st.decimals(min_value=0, max_value=3000, places=2, allow_nan=False),
)
def test_over_a_year_the_true_ups_add_up_to_the_years_shortfall_once(
    usage: list[D], commitment: D
) -> None:
    p = plan(commitment=str(commitment))
    a = Assignment("a", "c", "p", "w", START)
    months = periods(p, a, datetime(2027, 1, 15, tzinfo=UTC))
    settled = D(0)
    for i, month in enumerate(months):
        c = commitment_of(p, a, month, usage[i], earlier_usage=sum(usage[:i], D(0)))
        if commitment == 0:
            assert c is None
            continue
        assert c is not None
        assert c.remaining == max(D(0), commitment - sum(usage[: i + 1], D(0)))
        settled += c.true_up
    assert settled == max(D(0), commitment - sum(usage, D(0)))
