"""Pooled wallets' rules (ledger README "Pooled wallets"), pure: a member's budget periods in
UTC, share budgets fixed for a period, DENY refusals that change nothing, ALLOW's over-budget
part, holds reserved against the budget, captures and refunds; and a property: whatever
sequence of debits, holds, captures and releases members ask for, a DENY member's spend plus
what it holds never exceeds its budget, and its spend is the sum of its entries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_service.domain import authorize as authorize_rules
from ledger_service.domain import automation, ledger, pool
from ledger_service.domain import holds as hold_rules
from ledger_service.domain.errors import MemberBudgetExceeded, MemberNotFound
from ledger_service.domain.model import (
    AlertKind,
    AlertRule,
    Automation,
    EntryType,
    EventType,
    WalletState,
)
from ledger_service.domain.pool import (
    BudgetPeriod,
    BudgetPolicy,
    MemberUsage,
    PoolMember,
)
from tests.unit.ledger.factories import T0, grant, state

HOUR = timedelta(hours=1)


def member(
    member_id: str = "m",
    *,
    amount: str | None = None,
    share: str | None = None,
    policy: BudgetPolicy = BudgetPolicy.DENY,
    period: BudgetPeriod = BudgetPeriod.DAY,
) -> PoolMember:
    return PoolMember(
        wallet_id="w",
        member_id=member_id,
        policy=policy,
        create_time=T0,
        update_time=T0,
        budget_amount=None if amount is None else D(amount),
        budget_share=None if share is None else D(share),
        budget_period=period,
    )


def with_member(s: WalletState, m: PoolMember, spent: str = "0", at: datetime = T0) -> WalletState:
    start = pool.period_start(m.budget_period, at)
    return pool.with_usage(s, MemberUsage(m, start, D(spent)), ledger.available(s, at))


def debit(s: WalletState, member_id: str, amount: str, at: datetime = T0) -> ledger.Outcome:
    return pool.debit(
        s,
        member_id,
        D(amount),
        at,
        lambda x: ledger.debit(x, amount=D(amount), occurred_time=at, now=at),
    )


def hold(s: WalletState, member_id: str, hold_id: str, amount: str) -> ledger.Outcome:
    return pool.hold(
        s,
        member_id,
        hold_id,
        D(amount),
        T0,
        lambda x: hold_rules.create_hold(
            x, hold_id=hold_id, amount=D(amount), expire_time=T0 + HOUR, now=T0
        ),
    )


def test_budget_periods_start_at_the_utc_day_the_monday_and_the_first_of_the_month() -> None:
    at = datetime(2026, 3, 19, 17, 45, tzinfo=UTC)  # a Thursday
    assert pool.period_start(BudgetPeriod.DAY, at) == datetime(2026, 3, 19, tzinfo=UTC)
    assert pool.period_start(BudgetPeriod.WEEK, at) == datetime(2026, 3, 16, tzinfo=UTC)
    assert pool.period_start(BudgetPeriod.MONTH, at) == datetime(2026, 3, 1, tzinfo=UTC)
    assert pool.period_start(BudgetPeriod.NONE, at) is None


def test_a_deny_member_past_its_budget_is_refused_with_what_remains() -> None:
    s = with_member(state(grant("g", "100")), member(amount="30"), spent="25")
    with pytest.raises(MemberBudgetExceeded) as refused:
        debit(s, "m", "6")
    assert refused.value.remaining == D(5)
    done = debit(s, "m", "5")
    (entry,) = done.entries
    assert (entry.member_id, entry.over_budget) == ("m", D(0))
    assert done.state.members["m"].spent == D(30)
    assert done.state.grants["g"].remaining == D(95)


def test_an_allow_member_goes_on_and_the_entry_records_the_part_over_budget() -> None:
    s = with_member(
        state(grant("g", "100")), member(amount="10", policy=BudgetPolicy.ALLOW), spent="8"
    )
    done = debit(s, "m", "5")
    assert done.entries[0].over_budget == D(3)
    assert debit(done.state, "m", "2").entries[0].over_budget == D(2)
    assert pool.remaining(done.state, "m", T0) == D(-3)


def test_a_member_not_loaded_is_not_found_and_a_debit_naming_none_is_unchanged() -> None:
    s = state(grant("g", "100"))
    with pytest.raises(MemberNotFound):
        debit(s, "ghost", "1")
    plain = debit(s, "", "7")
    assert plain == ledger.debit(s, amount=D(7), occurred_time=T0, now=T0)


def test_an_active_hold_reserves_the_members_budget_until_captured_or_released() -> None:
    s = with_member(state(grant("g", "100")), member(amount="20"))
    held = hold(s, "m", "h", "15")
    assert held.state.holds["h"].member_id == "m"
    assert pool.remaining(held.state, "m", T0) == D(5)
    with pytest.raises(MemberBudgetExceeded):
        debit(held.state, "m", "6")
    # A capture up to the hold is never refused, even if the budget was cut meanwhile.
    cut = replace(held.state, members={"m": replace(held.state.members["m"], spent=D(10))})
    captured = pool.capture(
        cut, "h", D(15), T0, lambda x: hold_rules.capture_hold(x, "h", amount=D(15), now=T0)
    )
    capture_entry = next(e for e in captured.entries if e.type is EntryType.CAPTURE)
    assert (capture_entry.member_id, capture_entry.over_budget) == ("m", D(5))
    assert captured.state.members["m"].spent == D(25)
    released = hold_rules.release_hold(held.state, "h", now=T0)
    assert pool.remaining(released.state, "m", T0) == D(20)


def test_a_refund_gives_budget_back_only_for_a_debit_of_the_current_period() -> None:
    s = with_member(state(grant("g", "100")), member(amount="20"), spent="20")
    debit_entry = ledger.debit(s, amount=D(20), occurred_time=T0, now=T0).entries[0]
    record = ledger.DebitRecord("d", debit_entry.allocations)
    spent_state = ledger.debit(s, amount=D(20), occurred_time=T0, now=T0).state

    def refund(booked: datetime) -> ledger.Outcome:
        return pool.refund(
            spent_state, "m", booked, lambda x: ledger.refund(x, record, amount=D(8), now=T0)
        )

    this_period = refund(T0 + HOUR)
    assert this_period.entries[0].member_id == "m"
    assert this_period.state.members["m"].spent == D(12)
    last_period = refund(T0 - HOUR)
    assert last_period.state.members["m"].spent == D(20)


def test_a_share_budget_resolves_on_the_pool_then_and_stays_for_the_period() -> None:
    m = member(share="25", period=BudgetPeriod.MONTH)
    s = with_member(state(grant("g", "80")), m)
    assert pool.budget(s.members["m"].member) == D(20)
    after = debit(s, "m", "20").state
    # Others spending the pool does not shrink the member's budget this period.
    smaller = ledger.debit(after, amount=D(50), occurred_time=T0, now=T0).state
    again = pool.with_usage(smaller, smaller.members["m"], ledger.available(smaller, T0))
    assert pool.budget(again.members["m"].member) == D(20)
    # Next month it resolves again, on the pool as it stands then (10 left: 2.5).
    next_month = datetime(2026, 2, 1, tzinfo=UTC)
    fresh = MemberUsage(again.members["m"].member, next_month, D(0))
    renewed = pool.with_usage(again, fresh, ledger.available(again, next_month))
    assert pool.budget(renewed.members["m"].member) == D("2.5")


@pytest.mark.parametrize(
    ("available", "share", "resolved"),
    [
        ("0.000000000000000003", "50", "0.000000000000000001"),
        ("1.000000000000000001", "33.333333333333333333", "0.333333333333333333"),
        ("1", "0.000000000000000001", "0"),
        ("80", "25", "20"),
    ],
)
def test_a_share_budget_is_an_amount_rounded_down_to_18_fractional_digits(
    available: str, share: str, resolved: str
) -> None:
    m = member(share=share, period=BudgetPeriod.MONTH)
    budget = pool.budget(pool.resolve_share(m, T0, D(available)))
    assert budget is not None
    assert (budget, budget.as_tuple().exponent >= -18) == (D(resolved), True)


def test_authorize_denies_a_deny_member_past_its_budget_before_the_wallet_decides() -> None:
    s = with_member(state(grant("g", "100")), member(amount="10"), spent="7")
    denied = authorize_rules.decide(s, D(5), T0, member_id="m")
    assert (denied.allowed, denied.reason) == (
        False,
        authorize_rules.AuthorizeReason.MEMBER_BUDGET_EXCEEDED,
    )
    assert (denied.member_remaining, denied.shortfall) == (D(3), D(2))
    allowed = authorize_rules.decide(s, D(3), T0, member_id="m")
    assert (allowed.allowed, allowed.member_remaining) == (True, D(3))


ASK = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["debit", "hold", "capture", "release"]),
    st.integers(min_value=1, max_value=15),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(ASK, max_size=40), st.integers(min_value=0, max_value=30))
def test_a_deny_members_spend_and_holds_never_exceed_its_budget(
    asks: list[tuple[str, str, int]], budget: int
) -> None:
    s = state(grant("g", "1000"))
    for name in "abc":
        s = with_member(s, member(name, amount=str(budget)))
    entries: list = []
    holds: dict[str, str] = {}  # hold id -> member
    for n, (name, kind, amount) in enumerate(asks):
        try:
            if kind == "debit":
                done = debit(s, name, str(amount))
            elif kind == "hold":
                done = hold(s, name, f"h{n}", str(amount))
                holds[f"h{n}"] = name
            else:
                mine = [h for h, who in holds.items() if who == name and h in s.holds]
                if not mine:
                    continue
                h = mine[0]
                if kind == "capture":
                    take = min(D(amount), s.holds[h].amount)
                    done = pool.capture(
                        s,
                        h,
                        take,
                        T0,
                        lambda x, h=h, t=take: hold_rules.capture_hold(x, h, amount=t, now=T0),
                    )
                else:
                    done = hold_rules.release_hold(s, h, now=T0)
                del holds[h]
        except MemberBudgetExceeded:
            continue
        s = done.state
        entries += done.entries
        for who in "abc":
            assert s.members[who].spent + pool.held(s, who, T0) <= budget
    for who in "abc":
        spent = -sum(
            (
                e.amount
                for e in entries
                if e.member_id == who and e.type in (EntryType.DEBIT, EntryType.CAPTURE)
            ),
            D(0),
        )
        assert s.members[who].spent == spent


def test_an_alert_rule_on_a_member_fires_on_its_budget_left_not_on_the_pools_balance() -> None:
    rules = (
        AlertRule("r1", "w", "half left", AlertKind.PERCENT, D(50), member_id="m"),
        AlertRule("r2", "w", "spent", AlertKind.DEPLETED, D(0), member_id="m"),
        AlertRule("r3", "w", "other", AlertKind.PERCENT, D(50), member_id="not-loaded"),
    )
    s = with_member(state(grant("g", "1000")), member(amount="20"))
    s = replace(s, automation=Automation(alert_rules=rules))
    quiet = automation.evaluate_alerts(debit(s, "m", "9").state, T0)
    assert quiet.events == []
    half = automation.evaluate_alerts(debit(s, "m", "10").state, T0)
    assert [(e.type, e.data["rule_id"]) for e in half.events] == [(EventType.ALERT_FIRED, "r1")]
    assert half.events[0].data["remaining"] == "10"
    spent = automation.evaluate_alerts(debit(half.state, "m", "10").state, T0)
    assert [e.data["rule_id"] for e in spent.events] == ["r2"]
    assert [r.armed for r in spent.state.automation.alert_rules] == [False, False, True]
