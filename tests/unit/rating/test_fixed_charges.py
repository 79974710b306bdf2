"""Fixed charges per period and the minimum commitment's true-up (domain/fixed_charges.py)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from billing_common.periods import Cadence, Period
from rating_service.domain.commitments import true_up
from rating_service.domain.fixed_charges import (
    debits_fixed_charge,
    fixed_charge_of,
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


def test_a_prorating_plan_charges_a_first_period_cut_by_the_start_its_share_of_the_time() -> None:
    """January has 31 days: from the 22nd, 10 of them; 10 x 10/31 = 3.2258... -> 3.23. The
    next period is whole, and a plan that does not prorate charges all of the cut period."""
    p = replace(plan(Cadence.MONTHLY, datetime(2026, 1, 1, tzinfo=UTC)), prorate_fixed_charge=True)
    a = Assignment("a1", "c", "plan1", "w", datetime(2026, 1, 22, tzinfo=UTC))
    first, second = periods_started(p, a, datetime(2026, 2, 1, tzinfo=UTC))
    assert fixed_charge_of(p, a, first) == D("3.23")
    assert fixed_charge_of(p, a, second) == D(10)
    assert fixed_charge_of(replace(p, prorate_fixed_charge=False), a, first) == D(10)
    # The fixed charge's own decimals are kept: 10.125 x 10/31 = 3.266129... -> 3.266.
    finer = replace(p, fixed_charge=D("10.125"))
    assert fixed_charge_of(finer, a, first) == D("3.266")


def test_a_period_cut_by_the_end_pays_the_whole_charge_and_no_anchor_means_no_cut() -> None:
    p = replace(plan(Cadence.MONTHLY, datetime(2026, 1, 1, tzinfo=UTC)), prorate_fixed_charge=True)
    ended = Assignment(
        "a1", "c", "plan1", "w", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 5, tzinfo=UTC)
    )
    (only,) = periods_started(p, ended, datetime(2026, 1, 2, tzinfo=UTC))
    assert only.end == datetime(2026, 1, 5, tzinfo=UTC)
    assert fixed_charge_of(p, ended, only) == D(10)
    unanchored = replace(p, billing_anchor=None)
    a = Assignment("a1", "c", "plan1", "w", datetime(2026, 1, 22, 13, tzinfo=UTC))
    (first,) = periods_started(unanchored, a, a.start_time)
    assert fixed_charge_of(unanchored, a, first) == D(10)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    cadence=st.sampled_from(list(Cadence)),
    fixed=st.decimals(min_value=D("0.01"), max_value=D(100000), places=2),
)
def test_a_prorated_first_period_is_never_more_than_the_charge_and_shrinks_with_the_time_left(
    start: datetime, cadence: Cadence, fixed: D
) -> None:
    """For any start, cadence and charge: 0 <= prorated <= the charge, exactly 2 decimals, and
    an assignment starting later in the same period never pays more."""
    p = replace(
        plan(cadence, datetime(2025, 6, 15, 12, tzinfo=UTC)),
        fixed_charge=fixed,
        prorate_fixed_charge=True,
    )
    a = Assignment("a1", "c", "plan1", "w", start)
    (first,) = periods_started(p, a, start, limit=1)
    charged = fixed_charge_of(p, a, first)
    assert D(0) <= charged <= fixed
    assert charged.as_tuple().exponent == -2
    halfway = start + (first.end - start) / 2
    later = Assignment("a2", "c", "plan1", "w", halfway)
    (then,) = periods_started(p, later, halfway, limit=1)
    assert fixed_charge_of(p, later, then) <= charged
