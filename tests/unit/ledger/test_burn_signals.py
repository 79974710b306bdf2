"""Consumption signals (domain/burn.py): conditions, defaults, once per episode, re-armed."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from ledger_service.domain import burn
from ledger_service.domain.burn import Signal
from tests.unit.ledger.factories import T0

DAY = timedelta(days=1)
POLICY = burn.SignalPolicy("w")
NOW = T0 + 30 * DAY


def reading(recent: str, baseline: str = "10", depletion: datetime | None = None, now=NOW):
    return burn.Reading(now, T0, Decimal(recent), Decimal(baseline), depletion)


def test_the_defaults_are_3x_a_quarter_and_7_days():
    assert (POLICY.spike_multiple, POLICY.slowdown_fraction, POLICY.depletion_days) == (
        Decimal(3),
        Decimal("0.25"),
        7,
    )


def test_a_spike_is_strictly_above_the_multiple_of_the_baseline():
    assert burn.conditions(POLICY, reading("30")) == set()
    assert burn.conditions(POLICY, reading("30.000001")) == {Signal.BURN_SPIKE}


def test_a_slowdown_is_strictly_below_the_fraction_of_the_baseline():
    assert burn.conditions(POLICY, reading("2.5")) == set()
    assert burn.conditions(POLICY, reading("2.49")) == {Signal.SLOWDOWN}


def test_a_wallet_that_never_burnt_is_not_slowing_down_but_its_first_usage_is_a_spike():
    assert burn.conditions(POLICY, reading("0", "0")) == set()
    assert burn.conditions(POLICY, reading("1", "0")) == {Signal.BURN_SPIKE}


def test_depletion_expected_within_the_policy_days():
    assert burn.conditions(POLICY, reading("10", depletion=NOW + 7 * DAY)) == {
        Signal.DEPLETION_EXPECTED
    }
    assert burn.conditions(POLICY, reading("10", depletion=NOW + 7 * DAY + timedelta(1))) == set()
    assert burn.conditions(POLICY, reading("10", depletion=None)) == set()


def test_no_signal_in_a_wallets_first_14_days():
    young, soon = T0 + 14 * DAY - timedelta(seconds=1), T0 + 15 * DAY
    assert burn.conditions(POLICY, reading("100", "1", soon, now=young)) == set()
    assert burn.conditions(POLICY, reading("100", "1", soon, now=T0 + 14 * DAY)) == {
        Signal.BURN_SPIKE,
        Signal.DEPLETION_EXPECTED,
    }


def test_a_policy_with_no_warm_up_lets_a_new_wallets_signals_fire_at_once():
    minutes_old = T0 + timedelta(minutes=5)
    tomorrow = minutes_old + DAY
    eager = burn.SignalPolicy("w", warm_up_days=0)
    assert burn.conditions(POLICY, reading("100", "0", tomorrow, now=minutes_old)) == set()
    assert burn.conditions(eager, reading("100", "0", tomorrow, now=minutes_old)) == {
        Signal.BURN_SPIKE,
        Signal.DEPLETION_EXPECTED,
    }
    three_days = burn.SignalPolicy("w", warm_up_days=3)
    assert burn.conditions(three_days, reading("100", "0", now=T0 + 2 * DAY)) == set()
    assert burn.conditions(three_days, reading("100", "0", now=T0 + 3 * DAY)) == {Signal.BURN_SPIKE}


def test_a_disabled_policy_raises_nothing_and_closes_open_episodes():
    off = burn.SignalPolicy("w", disabled=True)
    decision = burn.evaluate(off, reading("100"), frozenset({Signal.BURN_SPIKE}))
    assert decision == burn.Decision(open=[], close=[Signal.BURN_SPIKE])


def test_a_signal_fires_once_per_episode_and_re_arms_when_its_condition_clears():
    open_now: frozenset[Signal] = frozenset()
    fired = []
    for recent in ["10", "40", "50", "40", "10", "45", "45"]:
        d = burn.evaluate(POLICY, reading(recent), open_now)
        fired += d.open
        open_now = (open_now | set(d.open)) - set(d.close)
    assert fired == [Signal.BURN_SPIKE, Signal.BURN_SPIKE]  # days 2 and 6 only


def test_a_custom_policy_changes_the_thresholds():
    p = burn.SignalPolicy("w", spike_multiple=Decimal(2), slowdown_fraction=Decimal("0.5"))
    assert burn.conditions(p, reading("21")) == {Signal.BURN_SPIKE}
    assert burn.conditions(p, reading("4.9")) == {Signal.SLOWDOWN}


def test_a_wallet_out_of_credits_is_not_slowing_down_but_may_still_spike_or_deplete():
    out = burn.Reading(NOW, T0, Decimal(0), Decimal(10), NOW + DAY, out_of_credits=True)
    assert burn.conditions(POLICY, out) == {Signal.DEPLETION_EXPECTED}
    assert burn.conditions(POLICY, reading("0")) == {Signal.SLOWDOWN}
