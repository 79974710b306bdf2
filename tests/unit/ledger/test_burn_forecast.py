"""The burn rate and the depletion forecast (domain/burn.py), against hand-computed values."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ledger_service.domain import burn
from ledger_service.domain.model import (
    Automation,
    GrantKind,
    OveragePolicy,
    TopUpPayment,
    TopUpRule,
)
from tests.unit.ledger.factories import T0, grant, state

DAY = timedelta(days=1)
NOW = T0 + 30 * DAY


def days(*amounts: str) -> dict[int, Decimal]:
    """Consumption per day, newest first (day 0 ends now)."""
    return {k: Decimal(a) for k, a in enumerate(amounts)}


def steady(amount: str, n: int = 28) -> dict[int, Decimal]:
    return days(*[amount] * n)


def rule(**fields: object) -> TopUpRule:
    base = TopUpRule(
        wallet_id="w",
        threshold=Decimal(20),
        amount=Decimal(50),
        target=None,
        kind=GrantKind.PREPAID,
        priority=0,
        expire_after=None,
        unit_price=Decimal(0),
        currency="",
        daily_cap=None,
        monthly_cap=None,
        payment=TopUpPayment.IMMEDIATE,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def test_a_steady_burn_is_its_own_ewma_and_range_and_depletes_when_the_credits_are_used():
    f = burn.forecast(state(grant("g", "100")), NOW, steady("10"), 90)
    assert (f.burn.daily, f.burn.low, f.burn.high) == (Decimal(10), Decimal(10), Decimal(10))
    assert f.available == Decimal(100)
    assert f.central.depletion == NOW + 10 * DAY
    assert f.earliest == f.latest == NOW + 10 * DAY
    assert f.central.expiries == [] and f.central.top_ups == [] and f.central.overage == 0


def test_an_accelerating_burn_weighs_the_last_week_more_and_ranges_between_the_means():
    # 20 a day for the last 7 days, 10 a day for the 21 before. With r = 0.5 ** (1/7) the
    # weights of the last 7 days sum to (1 - r**7) / (1 - r) and all 28 to (1 - r**28) / (1 - r),
    # so the last week weighs 0.5 / (15/16) = 8/15: EWMA = 10 + 10 * 8/15 = 15.333...
    f = burn.forecast(state(grant("g", "100")), NOW, days(*["20"] * 7, *["10"] * 21), 90)
    assert f.burn.daily == Decimal("15.333333333333333333")
    assert f.burn.low == Decimal("12.5")  # the 28-day mean: 350 / 28
    assert f.burn.high == Decimal(20)  # the 7-day mean
    # 100 / 15.333... = 6.52 days: 6 whole days leave 8.000000000000000002, used up
    # 8.000000000000000002 / 15.333333333333333333 of a day (45078.26 s) into the 7th.
    assert f.central.depletion == NOW + 6 * DAY + timedelta(seconds=45078)
    assert f.earliest == NOW + 5 * DAY  # 100 / 20
    assert f.latest == NOW + 8 * DAY  # 100 / 12.5


def test_no_usage_forecasts_no_depletion():
    f = burn.forecast(state(grant("g", "100", expire=NOW + 3 * DAY)), NOW, {}, 90)
    assert (f.burn.daily, f.burn.low, f.burn.high) == (0, 0, 0)
    assert f.central.depletion is None and f.earliest is None and f.latest is None
    assert f.central.expiries == [] and f.central.top_ups == []


def test_credits_that_expire_before_depletion_are_listed_and_bring_depletion_forward():
    # a burns first (it expires first): 3 days of 10 leave 20 of it to expire at day 3; then b's
    # 100 last 10 more days.
    s = state(grant("a", "50", expire=NOW + 3 * DAY), grant("b", "100"))
    f = burn.forecast(s, NOW, steady("10"), 90)
    assert f.central.expiries == [burn.Expiry("a", NOW + 3 * DAY, Decimal(20))]
    assert f.central.depletion == NOW + 13 * DAY


def test_a_grant_that_expires_after_depletion_is_not_listed():
    s = state(grant("a", "100", expire=NOW + 40 * DAY))
    f = burn.forecast(s, NOW, steady("10"), 90)
    assert f.central.depletion == NOW + 10 * DAY
    assert f.central.expiries == []


def test_the_top_up_rule_tops_up_once_per_breach_and_keeps_the_wallet_funded():
    # 100 at 10 a day: exactly 20 (the threshold) after 8 days, strictly below it at once:
    # +50 -> 70, above the threshold (re-armed); at 20 again 5 days later, and so on.
    s = replace(state(grant("g", "100")), automation=Automation(topup_rule=rule()))
    f = burn.forecast(s, NOW, steady("10"), 20)
    assert f.central.top_ups == [
        burn.ForecastTopUp(NOW + 8 * DAY, Decimal(50)),
        burn.ForecastTopUp(NOW + 13 * DAY, Decimal(50)),
        burn.ForecastTopUp(NOW + 18 * DAY, Decimal(50)),
    ]
    assert f.central.depletion is None


def test_a_monthly_cap_that_stops_the_top_ups_lets_the_wallet_deplete():
    # The first top-up (day 8) fills the month's cap: at the threshold again 5 days later,
    # none fits, and the last 20 last 2 days.
    s = replace(
        state(grant("g", "100")),
        automation=Automation(topup_rule=rule(monthly_cap=Decimal(50))),
    )
    f = burn.forecast(s, T0 + 2 * DAY, steady("10"), 25)
    assert f.central.top_ups == [burn.ForecastTopUp(T0 + 10 * DAY, Decimal(50))]
    assert f.central.depletion == T0 + 17 * DAY


def test_allow_overage_without_a_top_up_runs_up_overage_after_depletion():
    s = state(grant("g", "30"), policy=OveragePolicy.ALLOW_OVERAGE)
    f = burn.forecast(s, NOW, steady("10"), 5)
    assert f.central.depletion == NOW + 3 * DAY
    assert f.central.overage == Decimal(20)


def test_a_deny_wallet_runs_up_no_overage():
    f = burn.forecast(state(grant("g", "30")), NOW, steady("10"), 5)
    assert f.central.depletion == NOW + 3 * DAY
    assert f.central.overage == 0


def test_a_day_with_more_refunds_than_usage_counts_as_no_burn():
    assert burn.series(days("-5", "10"), 2) == [Decimal(0), Decimal(10)]


amounts = st.integers(min_value=1, max_value=500).map(Decimal)


@given(
    st.lists(
        st.tuples(amounts, st.none() | st.integers(min_value=1, max_value=60)),
        min_size=1,
        max_size=5,
    ),
    amounts,
    amounts,
    st.booleans(),
)
def test_more_burn_never_gives_a_later_depletion(grants, b1, b2, allow):
    policy = OveragePolicy.ALLOW_OVERAGE if allow else OveragePolicy.DENY
    s = state(
        *[
            grant(f"g{i}", str(a), expire=None if e is None else NOW + e * DAY)
            for i, (a, e) in enumerate(grants)
        ],
        policy=policy,
    )
    low, high = sorted((b1, b2))
    slow = burn.walk(s, NOW, low, 90).depletion
    fast = burn.walk(s, NOW, high, 90).depletion
    if slow is not None:
        assert fast is not None and fast <= slow


def test_days_before_the_wallet_existed_take_no_part_in_its_burn():
    # Created 4.5 days ago: 5 trailing days cover its life, 10 a day: the burn is 10, not
    # 10 * 5/28 (as if it had used nothing for the 23 days before).
    assert burn.age_days(NOW - 4 * DAY - DAY / 2, NOW) == 5
    assert burn.burn(steady("10", 5), known_days=5) == burn.Burn(
        Decimal(10), Decimal(10), Decimal(10)
    )
    assert burn.burn({}, skip=1, known_days=1) == burn.Burn(Decimal(0), Decimal(0), Decimal(0))


def test_a_top_up_bought_mid_day_covers_the_rest_of_that_days_burn():
    # Blocks of 50 bought when the credits run out (threshold 0, as block pricing): 15 last a
    # day and a half; the block bought then covers the rest of day 1 and 4.5 more days.
    s = replace(
        state(grant("g", "15")), automation=Automation(topup_rule=rule(threshold=Decimal(0)))
    )
    f = burn.forecast(s, NOW, steady("10"), 7)
    assert f.central.top_ups == [
        burn.ForecastTopUp(NOW + DAY + DAY / 2, Decimal(50)),
        burn.ForecastTopUp(NOW + 6 * DAY + DAY / 2, Decimal(50)),
    ]
    assert f.central.depletion is None


def test_a_burn_far_above_the_top_up_amount_tops_up_several_times_a_day():
    # 35 a day against blocks of 50 bought below 20: 100 -> 20 after 80 (2 days and 10/35
    # of a day), +50 -> 70, 20 again 50/35 of a day later, and so on: never depleted.
    s = replace(state(grant("g", "100")), automation=Automation(topup_rule=rule()))
    f = burn.forecast(s, NOW, steady("35"), 5)
    assert [t.time for t in f.central.top_ups[:2]] == [
        NOW + 2 * DAY + timedelta(seconds=int(Decimal(10) * 86400 / 35)),
        NOW + 3 * DAY + timedelta(seconds=int(Decimal(25) * 86400 / 35)),
    ]
    assert f.central.depletion is None
    assert sum(t.amount for t in f.central.top_ups) == 50 * len(f.central.top_ups)


def test_a_burn_of_several_top_ups_a_day_keeps_a_funded_wallet_from_depleting():
    # 200 a day against 50 bought below 20, no caps: the rule tops up four times a day
    # (at 80, 130, 180 of the day's 200 burnt, then at 30 the next day...), the balance never
    # reaches zero.
    s = replace(state(grant("g", "100")), automation=Automation(topup_rule=rule()))
    f = burn.forecast(s, NOW, steady("200"), 3)
    assert f.central.depletion is None and f.earliest is None
    assert [t.time for t in f.central.top_ups[:3]] == [
        NOW + timedelta(seconds=int(Decimal(80) * 86400 / 200)),
        NOW + timedelta(seconds=int(Decimal(130) * 86400 / 200)),
        NOW + timedelta(seconds=int(Decimal(180) * 86400 / 200)),
    ]


def test_the_walks_work_grows_linearly_with_the_horizon_however_many_top_ups_it_makes(
    monkeypatch,
):
    # 1000 a day against blocks of 11 bought below 1: about 90 top-ups a day. Credits a top-up
    # bought and the burn used up must not stay on the path: kept, each later day walks all of
    # them (a 366-day forecast took minutes of CPU, on the event loop, for a read-scope call).
    looked = 0
    usable = burn._Credit.usable

    def counted(self: burn._Credit, at: object) -> bool:
        nonlocal looked
        looked += 1
        return usable(self, at)  # type: ignore[arg-type]

    monkeypatch.setattr(burn._Credit, "usable", counted)
    s = replace(
        state(grant("g", "100")),
        automation=Automation(topup_rule=rule(amount=Decimal(11), threshold=Decimal(1))),
    )
    work = []
    for horizon in (10, 20):
        looked = 0
        w = burn.walk(s, NOW, Decimal(1000), horizon)
        assert w.depletion is None and len(w.top_ups) > 85 * horizon
        work.append(looked)
    assert work[1] <= 2.2 * work[0]


def test_the_walks_bound_on_top_ups_is_per_day_and_the_next_day_tops_up_again():
    # 300 a day against blocks of 1 bought below 20: 80 burnt, 100 bought and burnt, then the
    # walk's bound (100 top-ups a day) stops the top-ups and the last 20 deplete the wallet
    # 200/300 into the day (the rest of the day's burn is refused, not forgotten). Day 1 is a
    # new day: the rule buys again (a block per shortfall), up to the bound, and so on.
    s = replace(
        state(grant("g", "100")),
        automation=Automation(topup_rule=rule(amount=Decimal(1), threshold=Decimal(20))),
    )
    w = burn.walk(s, NOW, Decimal(300), 3)
    assert w.depletion == NOW + timedelta(seconds=200 * 86400 // 300)
    per_day = [
        sum(1 for t in w.top_ups if NOW + d * DAY <= t.time < NOW + (d + 1) * DAY) for d in range(3)
    ]
    assert per_day == [burn.TOP_UPS_PER_DAY_MAX] * 3


def test_a_deny_wallets_shortfall_buys_a_whole_block_within_the_cap_or_nothing():
    # DENY, no credits, blocks of 50 bought when a debit is short (threshold 0: a DENY balance
    # never goes below it), daily cap 70, 100 a day. The ledger buys 50 at once; at noon the
    # next block (50) exceeds the cap's room (20), so the debit is refused: depleted at noon.
    # No top-up of the 20 left (automation.cover_shortfall never buys part of a block).
    capped = rule(amount=Decimal(50), threshold=Decimal(0), daily_cap=Decimal(70))
    s = replace(state(), automation=Automation(topup_rule=capped))
    w = burn.walk(s, NOW, Decimal(100), 1)
    assert w.top_ups == [burn.ForecastTopUp(NOW, Decimal(50))]
    assert w.depletion == NOW + DAY / 2


def test_an_allow_overage_wallet_runs_up_overage_while_its_rule_is_disarmed():
    # ALLOW_OVERAGE, 10 credits, the rule disarmed (it re-arms only when the balance is back at
    # its threshold, 20): a debit the credits do not cover becomes overage, it buys nothing
    # (only a DENY debit's shortfall buys). 100 a day: depleted after 10, 90 overage.
    s = replace(
        state(grant("g", "10"), policy=OveragePolicy.ALLOW_OVERAGE),
        automation=Automation(topup_rule=rule(armed=False)),
    )
    w = burn.walk(s, NOW, Decimal(100), 1)
    assert w.top_ups == []
    assert w.depletion == NOW + DAY / 10
    assert w.overage == Decimal(90)


def test_a_disarmed_rule_re_arms_while_the_balance_is_above_its_threshold():
    # ALLOW_OVERAGE, 50 credits, the rule disarmed in the wallet's state: the ledger's next
    # write re-arms it (50 >= 20), so at 40 a day the balance crosses 20 at 18:00 and the rule
    # buys its 50 there (the walk kept it disarmed all day and forecast overage instead).
    s = replace(
        state(grant("g", "50"), policy=OveragePolicy.ALLOW_OVERAGE),
        automation=Automation(topup_rule=rule(armed=False)),
    )
    w = burn.walk(s, NOW, Decimal(40), 1)
    assert w.top_ups == [burn.ForecastTopUp(NOW + DAY * 3 / 4, Decimal(50))]
    assert w.depletion is None and w.overage == 0


def test_a_threshold_of_zero_never_fires_since_the_available_balance_never_goes_below_it():
    # ALLOW_OVERAGE, 10 credits, blocks of 50 below 0: usage past the credits is overage (the
    # available balance stays 0, never below), so the rule never buys: 90 overage a day of 100.
    s = replace(
        state(grant("g", "10"), policy=OveragePolicy.ALLOW_OVERAGE),
        automation=Automation(topup_rule=rule(threshold=Decimal(0))),
    )
    w = burn.walk(s, NOW, Decimal(100), 1)
    assert w.top_ups == []
    assert w.depletion == NOW + DAY / 10 and w.overage == Decimal(90)
