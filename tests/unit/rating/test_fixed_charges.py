"""Fixed charges per period and the minimum commitment's true-up (domain/fixed_charges.py)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from billing_common.periods import Cadence, Period
from rating_service.domain.commitments import true_up
from rating_service.domain.fixed_charges import (
    debits_fixed_charge,
    fixed_request_id,
    periods_started,
)
from rating_service.domain.model import Assignment, FixedChargeCollection, Plan, billing_period

T0 = datetime(2026, 1, 31, 10, tzinfo=UTC)


def plan(cadence: Cadence, anchor: datetime | None = None) -> Plan:
    return Plan("plan1", "Pro", cadence, anchor, D(10), (), FixedChargeCollection.DEBIT)


def all_periods(p: Plan, a: Assignment, now: datetime) -> list[Period]:
    """Every period of the assignment started by `now`, walked one period after another."""
    out: list[Period] = []
    at = a.start_time
    while at <= now and (a.end_time is None or at < a.end_time):
        period = billing_period(p, a, at)
        out.append(period)
        at = period.end
    return out


def test_only_a_debit_plan_with_a_fixed_charge_is_debited() -> None:
    assert debits_fixed_charge(plan(Cadence.MONTHLY))
    assert not debits_fixed_charge(Plan("p", "n", Cadence.MONTHLY, None, D(10), ()))
    free = Plan("p", "n", Cadence.MONTHLY, None, D(0), (), FixedChargeCollection.DEBIT)
    assert not debits_fixed_charge(free)


def test_the_first_period_is_due_at_the_assignment_start_and_every_missed_one_after_downtime() -> (
    None
):
    p = plan(Cadence.MONTHLY)
    a = Assignment("a1", "c", "plan1", "w", T0)
    assert periods_started(p, a, T0 - timedelta(seconds=1)) == []
    assert [x.start for x in periods_started(p, a, T0)] == [T0]
    # Down for three months: every period started since, once, in order; month-end clamped.
    later = periods_started(p, a, datetime(2026, 4, 30, 10, tzinfo=UTC), since=T0)
    assert [x.start.date().isoformat() for x in later] == ["2026-02-28", "2026-03-31", "2026-04-30"]


def test_an_anchored_plan_charges_the_partial_first_period_from_the_assignment_start() -> None:
    p = plan(Cadence.MONTHLY, datetime(2026, 1, 1, tzinfo=UTC))
    a = Assignment("a1", "c", "plan1", "w", datetime(2026, 1, 15, tzinfo=UTC))
    got = periods_started(p, a, datetime(2026, 2, 1, tzinfo=UTC))
    assert [(x.start.day, x.end.month, x.end.day) for x in got] == [(15, 2, 1), (1, 3, 1)]


def test_an_ended_assignment_charges_no_period_that_starts_at_or_after_its_end() -> None:
    p = plan(Cadence.DAILY)
    a = Assignment("a1", "c", "plan1", "w", T0, end_time=T0 + timedelta(days=2))
    got = periods_started(p, a, T0 + timedelta(days=30))
    assert [x.start for x in got] == [T0, T0 + timedelta(days=1)]
    ends_on_a_boundary = Assignment("a1", "c", "plan1", "w", T0, end_time=T0 + timedelta(hours=36))
    assert len(periods_started(p, ends_on_a_boundary, T0 + timedelta(days=30))) == 2


def test_the_request_id_names_the_assignment_and_the_period_start() -> None:
    period = Period(T0, T0 + timedelta(days=1))
    assert fixed_request_id("a1", period) == "rating:fixed:2:a1:2026-01-31T10:00:00+00:00"
    assert fixed_request_id("a1", period) != fixed_request_id("a11", period)
    long = fixed_request_id("a" * 200, period)
    assert long.startswith("rating:sha256:") and len(long) <= 128


def test_true_up_is_the_shortfall_under_the_commitment_and_never_negative() -> None:
    assert true_up(D("100"), D("30.5")) == D("69.5")
    assert true_up(D("100"), D("130")) == 0
    assert true_up(D("0"), D("0")) == 0


@settings(max_examples=200, deadline=None)
@given(
    cadence=st.sampled_from(list(Cadence)),
    anchored=st.booleans(),
    end_days=st.none() | st.integers(min_value=1, max_value=900),
    offsets_h=st.lists(st.integers(min_value=-48, max_value=24 * 800), min_size=1, max_size=12),
    limit=st.integers(min_value=1, max_value=4),
)
def test_no_period_is_missed_or_charged_twice_over_any_sequence_of_nows(
    cadence: Cadence,
    anchored: bool,
    end_days: int | None,
    offsets_h: list[int],
    limit: int,
) -> None:
    """A job books what `periods_started` returns after the last booked start, whatever the
    clock does (including going back): each period at most once, always a gap-free prefix of
    the periods started by the latest `now`, and all of them once it catches up."""
    p = plan(cadence, datetime(2025, 12, 31, 23, tzinfo=UTC) if anchored else None)
    end = None if end_days is None else T0 + timedelta(days=end_days, hours=5)
    a = Assignment("a1", "c", "plan1", "w", T0, end_time=end)
    booked: list[Period] = []
    latest = T0 - timedelta(days=10)
    for h in offsets_h:
        now = T0 + timedelta(hours=h)
        latest = max(latest, now)
        since = booked[-1].start if booked else None
        booked += periods_started(p, a, now, since, limit)
        ids = [fixed_request_id(a.id, x) for x in booked]
        assert len(set(ids)) == len(ids)
        assert booked == all_periods(p, a, latest)[: len(booked)]
    while more := periods_started(p, a, latest, booked[-1].start if booked else None, limit):
        booked += more
    assert booked == all_periods(p, a, latest)
