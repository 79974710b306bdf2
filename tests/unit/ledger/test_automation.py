"""Automation as pure functions: blocks bought to cover a debit, whole blocks as an exact ceiling,
alert thresholds reached or dropped below, automatic top-ups strictly below."""

from __future__ import annotations

import decimal
import itertools
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_service.domain import automation, ledger
from ledger_service.domain.model import (
    AlertKind,
    AlertRule,
    EntryType,
    EventType,
    GrantKind,
    TopUpPayment,
    TopUpRule,
    WalletState,
)
from tests.unit.ledger.factories import T0, grant, state


def new_ids():  # type: ignore[no-untyped-def]
    counter = itertools.count()
    return lambda: f"id{next(counter)}"


def rule(threshold: str = "0", amount: str = "100", **fields: object) -> TopUpRule:
    return TopUpRule(
        wallet_id="w",
        threshold=D(threshold),
        amount=D(amount),
        target=None,
        kind=GrantKind.PREPAID,
        priority=1,
        expire_after=None,
        unit_price=D("0.9"),
        currency="USD",
        daily_cap=None,
        monthly_cap=None,
        payment=TopUpPayment.IMMEDIATE,
        **fields,  # type: ignore[arg-type]
    )


def with_automation(s: WalletState, **changes: object) -> WalletState:
    return replace(s, automation=replace(s.automation, **changes))  # type: ignore[arg-type]


# -- a block bought to cover a debit covers it ------------------------------------------------


def test_a_block_bought_for_a_debit_covers_it_though_the_usage_occurred_before_booking() -> None:
    s = with_automation(state(grant("included", "10")), topup_rule=rule(amount="100"))
    booked = T0 + timedelta(hours=1)
    occurred = booked - timedelta(seconds=2)  # rated, then booked a moment later

    out = automation.debit_with_cover(
        s, booked, new_ids(), amount=D(25), occurred_time=occurred, feature="api"
    )

    (topup,) = out.state.automation.topups.values()
    block = out.state.grants[topup.grant_id]
    # Usable by the usage it was bought for, booked (and paid) now.
    assert (block.effective_time, block.create_time, topup.create_time) == (
        occurred,
        booked,
        booked,
    )
    (debit,) = [e for e in out.entries if e.type is EntryType.DEBIT]
    assert {(a.grant_id, a.amount) for a in debit.allocations} == {
        ("included", D(-10)),
        (block.id, D(-15)),
    }
    assert ledger.available(out.state, booked) == 85  # the rest of the block carries on


def test_a_block_bought_for_future_dated_usage_takes_effect_when_booked() -> None:
    s = with_automation(state(), topup_rule=rule(amount="100"))
    out = automation.debit_with_cover(
        s, T0, new_ids(), amount=D(1), occurred_time=T0 + timedelta(minutes=1)
    )
    (topup,) = out.state.automation.topups.values()
    assert out.state.grants[topup.grant_id].effective_time == T0


def test_a_top_up_below_the_threshold_takes_effect_when_booked() -> None:
    s = with_automation(state(grant("a", "150")), topup_rule=rule(threshold="100", amount="500"))
    now = T0 + timedelta(hours=1)
    out = automation.then_automate(
        ledger.debit(s, amount=D(60), occurred_time=now - timedelta(minutes=1), now=now),
        now,
        new_ids(),
    )
    (topup,) = out.state.automation.topups.values()
    assert out.state.grants[topup.grant_id].effective_time == now


# -- whole blocks are an exact ceiling ----------------------------------------------------------


def _amount(digits: int, scale: int) -> D:
    return D(f"{digits}E-{scale}")  # the constructor is exact, whatever the context


amounts = st.builds(_amount, st.integers(1, 10**20), st.integers(0, 18))
block_sizes = st.one_of(
    st.sampled_from([D(3), D(7), D("0.3"), D("0.000000000000000007"), D("1E-18"), D(1)]),
    amounts,
)


@settings(max_examples=300, deadline=None)
@given(shortfall=amounts, size=block_sizes)
def test_blocks_bought_for_a_shortfall_are_its_exact_ceiling(shortfall: D, size: D) -> None:
    s = with_automation(state(), topup_rule=rule(amount=str(size)))
    # As in the service: any rounding of a money value traps.
    with decimal.localcontext(prec=100, traps=[decimal.Inexact, decimal.InvalidOperation]):
        out = automation.cover_shortfall(s, shortfall, T0, new_ids())
        assert out is not None
        (topup,) = out.state.automation.topups.values()
        blocks = topup.amount / size  # exact: a whole number of blocks
    assert blocks == blocks.to_integral_value() and blocks >= 1
    assert blocks * size >= shortfall
    assert (blocks - 1) * size < shortfall


def test_a_shortfall_of_one_with_blocks_of_three_buys_one_block() -> None:
    s = with_automation(state(), topup_rule=rule(amount="3"))
    with decimal.localcontext(prec=100, traps=[decimal.Inexact]):
        out = automation.debit_with_cover(s, T0, new_ids(), amount=D(1), occurred_time=T0)
    assert [t.amount for t in out.state.automation.topups.values()] == [D(3)]
    assert ledger.available(out.state, T0) == 2


# -- alert thresholds: reached or dropped below -------------------------------------------------


def alert_state(available: str, *rules: AlertRule, granted: str = "1000") -> WalletState:
    g = grant("a", granted)
    g = replace(g, remaining=D(available))
    return with_automation(state(g), alert_rules=rules)


def fired(outcome: ledger.Outcome) -> list[tuple[EventType, str]]:
    return [(e.type, e.data["name"]) for e in outcome.events]


def test_an_absolute_alert_fires_when_the_balance_reaches_its_threshold() -> None:
    r = AlertRule("r", "w", "at 500", AlertKind.ABSOLUTE, D(500))
    assert fired(automation.evaluate_alerts(alert_state("501", r), T0)) == []
    at = automation.evaluate_alerts(alert_state("500", r), T0)
    assert fired(at) == [(EventType.ALERT_FIRED, "at 500")]
    assert not at.state.automation.alert_rules[0].armed


def test_a_percent_alert_fires_when_exactly_that_share_remains() -> None:
    r = AlertRule("r", "w", "25% left", AlertKind.PERCENT, D(25))
    assert fired(automation.evaluate_alerts(alert_state("250", r), T0)) == [
        (EventType.ALERT_FIRED, "25% left")
    ]
    assert fired(automation.evaluate_alerts(alert_state("250.000001", r), T0)) == []


def test_an_alert_re_arms_only_above_its_threshold() -> None:
    r = AlertRule("r", "w", "at 500", AlertKind.ABSOLUTE, D(500), armed=False)
    back_at = automation.evaluate_alerts(alert_state("500", r), T0)
    assert fired(back_at) == [] and not back_at.state.automation.alert_rules[0].armed
    above = automation.evaluate_alerts(alert_state("500.01", r), T0)
    assert fired(above) == [(EventType.ALERT_RECOVERED, "at 500")]
    assert above.state.automation.alert_rules[0].armed


def test_a_percent_alert_of_nothing_granted_neither_fires_nor_re_arms() -> None:
    armed = AlertRule("r", "w", "50% left", AlertKind.PERCENT, D(50))
    disarmed = replace(armed, armed=False)
    empty = with_automation(state(), alert_rules=(armed,))
    assert fired(automation.evaluate_alerts(empty, T0)) == []
    empty = with_automation(state(), alert_rules=(disarmed,))
    assert fired(automation.evaluate_alerts(empty, T0)) == []


def test_an_automatic_top_up_waits_until_the_balance_falls_below_its_threshold() -> None:
    at = with_automation(state(grant("a", "100")), topup_rule=rule(threshold="100"))
    assert automation.automate(at, T0, new_ids()).state.automation.topups == {}
    below = with_automation(state(grant("a", "99.99")), topup_rule=rule(threshold="100"))
    assert len(automation.automate(below, T0, new_ids()).state.automation.topups) == 1
