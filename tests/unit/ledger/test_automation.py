"""Automation as pure functions: blocks bought to cover a debit, whole blocks as an exact ceiling,
alert thresholds reached or dropped below, automatic top-ups strictly below, blocks that end with
the subscription they were bought under."""

from __future__ import annotations

import decimal
import itertools
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing_common.money import MONEY
from billing_common.periods import Cadence
from ledger_service.domain import allotments, automation, ledger
from ledger_service.domain import holds as hold_rules
from ledger_service.domain.errors import InsufficientCredits, ScheduleNotFound
from ledger_service.domain.model import (
    AlertKind,
    AlertRule,
    AllotmentExpiry,
    AllotmentSchedule,
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
    out = automation.cover_shortfall(s, shortfall, T0, new_ids())
    assert out is not None
    (topup,) = out.state.automation.topups.values()
    # The checks' own arithmetic under the money context: any rounding traps.
    with decimal.localcontext(MONEY):
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


# -- blocks bought under a subscription end with it ---------------------------------------------


def subscription(end: datetime | None = None) -> AllotmentSchedule:
    return AllotmentSchedule(
        id="sub",
        wallet_id="w",
        amount=D(100),
        kind=GrantKind.PREPAID,
        priority=0,
        cadence=Cadence.MONTHLY,
        anchor=T0,
        expiry=AllotmentExpiry.END_OF_PERIOD,
        end_time=end,
    )


def with_block(end: datetime | None = None) -> tuple[WalletState, str]:
    """A subscription's 100 included units used up and a block of 500 bought under it for 150."""
    s = with_automation(
        state(), schedules=(subscription(end),), topup_rule=rule(amount="500", schedule_id="sub")
    )
    s = allotments.catch_up(s, T0, new_ids()).state
    out = automation.debit_with_cover(s, T0, new_ids(), amount=D(250), occurred_time=T0)
    (topup,) = out.state.automation.topups.values()
    return out.state, topup.grant_id


def test_a_rule_cannot_buy_under_a_subscription_the_wallet_does_not_have() -> None:
    with pytest.raises(ScheduleNotFound):
        automation.set_topup_rule(state(), rule(schedule_id="elsewhere"))


def test_a_block_bought_under_a_subscription_expires_by_its_end() -> None:
    end = T0 + timedelta(days=40)
    s, block_id = with_block(end)
    assert s.grants[block_id].expire_time == end


def test_the_end_of_a_subscription_voids_its_blocks_and_stops_buying() -> None:
    s, block_id = with_block()
    end = T0 + timedelta(days=3)
    ended = allotments.end_schedule(s, "sub", end, T0, new_ids())
    assert ended.state.grants[block_id].remaining == 350  # until the end
    after = allotments.catch_up(ended.state, end, new_ids())
    assert [(e.type, e.amount, e.related_id) for e in after.entries] == [
        (EntryType.VOID, D(-350), block_id)
    ]
    assert ledger.available(after.state, end) == 0
    with pytest.raises(InsufficientCredits):  # and nothing is bought after the end
        automation.debit_with_cover(after.state, end, new_ids(), amount=D(1), occurred_time=end)


def test_a_block_backing_a_hold_is_voided_once_the_hold_ends() -> None:
    s, block_id = with_block()
    held = hold_rules.create_hold(
        s, hold_id="h", amount=D(50), expire_time=T0 + timedelta(hours=1), now=T0
    )
    # Ending the subscription does not fail the write; the held block waits for its hold.
    ended = allotments.end_schedule(held.state, "sub", T0, T0, new_ids())
    assert ended.state.grants[block_id].remaining == 350
    assert not ended.state.automation.schedules[0].closed
    released = hold_rules.release_hold(ended.state, "h", now=T0)
    later = allotments.catch_up(released.state, T0, new_ids())
    assert later.state.grants[block_id].remaining == 0
    assert later.state.automation.schedules[0].closed
