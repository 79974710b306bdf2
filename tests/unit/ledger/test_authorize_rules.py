"""Authorize's decision (domain/authorize.py): a table of cases, and properties over random
wallets: the answer agrees with what a debit or a hold would do at the same instant."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_service.domain import automation, ledger
from ledger_service.domain import holds as hold_rules
from ledger_service.domain.authorize import AuthorizeReason, authorize_hold, decide
from ledger_service.domain.errors import InsufficientCredits
from ledger_service.domain.model import (
    EntryType,
    GrantKind,
    OveragePolicy,
    TopUp,
    TopUpPayment,
    TopUpRule,
    TopUpState,
    WalletState,
)
from tests.unit.ledger.factories import T0, grant, state
from tests.unit.ledger.test_automation import new_ids, rule, with_automation

D = Decimal
DENY = OveragePolicy.DENY
OVERAGE = OveragePolicy.ALLOW_OVERAGE
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def _held(s: WalletState, amount: str) -> WalletState:
    return hold_rules.create_hold(
        s, hold_id="earlier", amount=D(amount), expire_time=T0 + HOUR, now=T0
    ).state


@pytest.mark.parametrize(
    ("policy", "amount", "allowed", "reason", "after", "overage", "shortfall"),
    [
        (DENY, "60", True, AuthorizeReason.ALLOWED, "40", "0", "0"),
        (DENY, "100", True, AuthorizeReason.ALLOWED, "0", "0", "0"),
        (DENY, "100.5", False, AuthorizeReason.INSUFFICIENT_CREDITS, "100", "0", "0.5"),
        (OVERAGE, "100", True, AuthorizeReason.ALLOWED, "0", "0", "0"),
        (OVERAGE, "130", True, AuthorizeReason.ALLOWED_WITH_OVERAGE, "0", "30", "0"),
    ],
)
def test_a_check_compares_the_amount_with_the_credits_available_now(
    policy: OveragePolicy,
    amount: str,
    allowed: bool,
    reason: AuthorizeReason,
    after: str,
    overage: str,
    shortfall: str,
) -> None:
    d = decide(state(grant("a", "100"), policy=policy), D(amount), T0)
    assert (d.allowed, d.reason, d.available_before) == (allowed, reason, D(100))
    assert (d.available_after, d.overage, d.shortfall) == (D(after), D(overage), D(shortfall))


def test_credits_reserved_by_an_active_hold_are_not_available_to_authorize() -> None:
    s = _held(state(grant("a", "100")), "70")
    d = decide(s, D(40), T0)
    assert (d.allowed, d.reason, d.available_before, d.shortfall) == (
        False,
        AuthorizeReason.INSUFFICIENT_CREDITS,
        D(30),
        D(10),
    )


def test_a_hold_is_denied_when_the_credits_it_needs_end_before_it_times_out() -> None:
    # "soon" is written off at T0 + 30 min + 1 h grace: available now, not for a 2 h hold.
    s = state(grant("soon", "50", expire=T0 + timedelta(minutes=30)), grant("later", "20"))
    assert decide(s, D(60), T0).allowed
    d = decide(s, D(60), T0, hold_until=T0 + 2 * HOUR)
    assert (d.allowed, d.reason, d.available_before, d.shortfall) == (
        False,
        AuthorizeReason.CREDITS_END_BEFORE_HOLD,
        D(70),
        D(40),
    )
    # A shorter hold can count on them.
    assert decide(s, D(60), T0, hold_until=T0 + HOUR).allowed


def test_an_allowed_hold_reserves_the_amount_and_a_denied_one_changes_nothing() -> None:
    s = state(grant("a", "100"))
    d, out = authorize_hold(
        s, hold_id="h", amount=D(60), expire_time=T0 + HOUR, now=T0, new_id=new_ids()
    )
    assert d.allowed and out.state.holds["h"].amount == D(60)
    assert ledger.available(out.state, T0) == d.available_after == D(40)
    d2, out2 = authorize_hold(
        out.state, hold_id="h2", amount=D(60), expire_time=T0 + HOUR, now=T0, new_id=new_ids()
    )
    assert not d2.allowed and out2.entries == [] and out2.state is out.state


def test_an_overage_wallet_holds_what_credits_cover_and_is_allowed_beyond() -> None:
    s = state(grant("a", "25"), policy=OVERAGE)
    d, out = authorize_hold(
        s, hold_id="h", amount=D(40), expire_time=T0 + HOUR, now=T0, new_id=new_ids()
    )
    assert (d.allowed, d.reason, d.overage) == (
        True,
        AuthorizeReason.ALLOWED_WITH_OVERAGE,
        D(15),
    )
    assert out.state.holds["h"].amount == D(25)
    # Nothing left: the hold reserves 0, and capturing the whole amount is still allowed.
    d2, out2 = authorize_hold(
        out.state, hold_id="h2", amount=D(5), expire_time=T0 + HOUR, now=T0, new_id=new_ids()
    )
    assert d2.allowed and out2.state.holds["h2"].amount == 0
    captured = hold_rules.capture_hold(out2.state, "h2", amount=D(5), now=T0)
    assert captured.state.overage == D(5)


amounts = st.decimals(min_value=D("0.01"), max_value=D(200), places=2)


@st.composite
def wallets(draw: st.DrawFn) -> WalletState:
    policy = draw(st.sampled_from([DENY, OVERAGE]))
    sizes = draw(st.lists(amounts, max_size=4))
    expiries = draw(st.lists(st.sampled_from([None, 10, 90, 300]), min_size=4, max_size=4))
    grants = [
        grant(
            f"g{i}",
            str(size),
            expire=None if e is None else T0 + timedelta(minutes=e),
        )
        for i, (size, e) in enumerate(zip(sizes, expiries, strict=False))
    ]
    s = state(*grants, policy=policy)
    reserve = draw(st.none() | amounts)
    if reserve is not None and reserve <= hold_rules.holdable(s, T0, T0 + HOUR):
        s = _held(s, str(reserve))
    return s


@settings(max_examples=200, deadline=None)
@given(s=wallets(), amount=amounts)
def test_a_check_allows_exactly_what_a_debit_now_would_book(
    s: WalletState, amount: Decimal
) -> None:
    d = decide(s, amount, T0)
    try:
        debited = ledger.debit(s, amount=amount, occurred_time=T0, now=T0)
    except InsufficientCredits:
        assert not d.allowed and d.shortfall > 0 and d.available_after == d.available_before
        return
    assert d.allowed
    assert ledger.available(debited.state, T0) == d.available_after >= 0
    assert debited.state.overage - s.overage == d.overage


@settings(max_examples=200, deadline=None)
@given(s=wallets(), amount=amounts, minutes=st.integers(min_value=1, max_value=600))
def test_an_allowed_hold_never_reserves_more_than_was_available(
    s: WalletState, amount: Decimal, minutes: int
) -> None:
    until = T0 + timedelta(minutes=minutes)
    d, out = authorize_hold(
        s, hold_id="h", amount=amount, expire_time=until, now=T0, new_id=new_ids()
    )
    if not d.allowed:
        assert out.state is s and s.wallet.overage_policy is DENY
        return
    held = out.state.holds["h"].amount
    assert held == d.covered <= d.available_before
    assert held + d.overage == amount
    assert ledger.available(out.state, T0) == d.available_after >= 0
    assert hold_rules.uncovered_holds(out.state, T0) == []


# -- the top-up a debit would buy ------------------------------------------------------------


def test_a_deny_wallet_whose_rule_would_buy_the_shortfall_is_allowed_and_nothing_is_bought() -> (
    None
):
    s = with_automation(state(grant("a", "10")), topup_rule=rule(amount="100"))
    d = decide(s, D(25), T0)
    assert (d.allowed, d.reason, d.top_up, d.available_before, d.available_after) == (
        True,
        AuthorizeReason.ALLOWED_WITH_TOP_UP,
        D(100),  # one block covers the 15 missing
        D(10),
        D(85),
    )
    assert s.automation.topups == {}


@pytest.mark.parametrize(
    "why",
    ["paused", "pending payment", "cap reached", "no rule"],
)
def test_a_rule_that_cannot_buy_now_leaves_the_check_denied(why: str) -> None:
    fields: dict[str, object] = {
        "paused": {"enabled": False},
        "pending payment": {"payment": TopUpPayment.ON_CONFIRMATION},
        "cap reached": {"daily_cap": D(50)},
        "no rule": {},
    }[why]
    base = state(grant("a", "10"))
    s = base if why == "no rule" else with_automation(base, topup_rule=replace(rule(), **fields))
    d = decide(s, D(25), T0)
    assert (d.allowed, d.reason, d.shortfall) == (
        False,
        AuthorizeReason.INSUFFICIENT_CREDITS,
        D(15),
    )


def test_a_hold_buys_the_top_up_in_the_same_step_and_holds_the_whole_amount() -> None:
    s = with_automation(state(grant("a", "10")), topup_rule=rule(amount="100"))
    d, out = authorize_hold(
        s, hold_id="h", amount=D(25), expire_time=T0 + HOUR, now=T0, new_id=new_ids()
    )
    assert (d.allowed, d.reason, d.top_up) == (True, AuthorizeReason.ALLOWED_WITH_TOP_UP, D(100))
    assert out.state.holds["h"].amount == D(25)
    assert [t.amount for t in out.state.automation.topups.values()] == [D(100)]
    assert ledger.available(out.state, T0) == d.available_after == D(85)
    assert [e.type for e in out.entries][-1] is EntryType.HOLD


def test_a_hold_is_denied_when_the_credits_the_top_up_buys_end_before_it_times_out() -> None:
    # The rule's blocks last 30 minutes (and are written off an hour after): not for a 3 h hold.
    s = with_automation(
        state(grant("a", "10")), topup_rule=replace(rule(amount="100"), expire_after=30 * MINUTE)
    )
    d, out = authorize_hold(
        s, hold_id="h", amount=D(25), expire_time=T0 + 3 * HOUR, now=T0, new_id=new_ids()
    )
    assert not d.allowed and out.entries == [] and out.state is s
    assert decide(s, D(25), T0).reason is AuthorizeReason.ALLOWED_WITH_TOP_UP


rules = st.none() | st.builds(
    lambda amount, cap, enabled: replace(rule(amount=str(amount)), daily_cap=cap, enabled=enabled),
    amounts,
    st.none() | amounts,
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(s=wallets(), amount=amounts, topup_rule=rules)
def test_a_check_with_a_top_up_rule_allows_exactly_what_a_debit_with_cover_would_book(
    s: WalletState, amount: Decimal, topup_rule: TopUpRule | None
) -> None:
    s = with_automation(s, topup_rule=topup_rule)
    d = decide(s, amount, T0)
    try:
        debited = automation.debit_with_cover(s, T0, new_ids(), amount=amount, occurred_time=T0)
    except InsufficientCredits:
        assert not d.allowed and d.shortfall > 0
        return
    assert d.allowed
    assert ledger.available(debited.state, T0) == d.available_after >= 0
    bought = sum((t.amount for t in debited.state.automation.topups.values()), D(0))
    assert bought == d.top_up


def _pending_top_up() -> TopUp:
    return TopUp(
        id="p",
        wallet_id="w",
        amount=D(100),
        unit_price=D("0.9"),
        currency="USD",
        state=TopUpState.PENDING,
        create_time=T0,
        kind=GrantKind.PREPAID,
        priority=1,
        expire_time=None,
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"topups": {"p": _pending_top_up()}},  # a payment in flight
        {"topup_rule": replace(rule(amount="100"), retry_after=T0 + HOUR)},  # backing off
        {"topped_up_day": D(100), "topup_rule": replace(rule(amount="100"), daily_cap=D(150))},
    ],
    ids=["a top-up pending", "backing off after a failed payment", "the day's cap used"],
)
def test_a_rule_whose_state_forbids_a_top_up_now_leaves_the_check_denied(
    changes: dict[str, object],
) -> None:
    s = with_automation(state(grant("a", "10")), topup_rule=rule(amount="100"))
    s = with_automation(s, **changes)
    d = decide(s, D(25), T0)
    assert (d.allowed, d.reason, d.top_up, d.shortfall) == (
        False,
        AuthorizeReason.INSUFFICIENT_CREDITS,
        D(0),
        D(15),
    )


@st.composite
def wallets_with_rules(draw: st.DrawFn) -> WalletState:
    """Random wallets whose rule and automation state vary in everything `cover_shortfall`
    looks at: blocks or a target, payment, paused, back-off, credits that expire, caps partly
    used, a payment pending."""
    block = draw(st.none() | st.decimals(min_value=D("0.5"), max_value=D(150), places=1))
    topup_rule = replace(
        rule(amount="1" if block is None else str(block)),
        amount=block,
        target=D(300) if block is None else None,
        daily_cap=draw(st.none() | st.decimals(min_value=D(0), max_value=D(400), places=0)),
        enabled=draw(st.booleans()),
        payment=draw(st.sampled_from(list(TopUpPayment))),
        retry_after=draw(st.sampled_from([None, T0, T0 + HOUR])),
        expire_after=draw(st.sampled_from([None, 5 * MINUTE, 24 * HOUR])),
    )
    return with_automation(
        draw(wallets()),
        topup_rule=topup_rule,
        topped_up_day=draw(st.decimals(min_value=D(0), max_value=D(400), places=0)),
        topups={"p": _pending_top_up()} if draw(st.booleans()) else {},
    )


def _bought(before: WalletState, after: WalletState) -> Decimal:
    return sum(
        (t.amount for i, t in after.automation.topups.items() if i not in before.automation.topups),
        D(0),
    )


@settings(max_examples=300, deadline=None)
@given(s=wallets_with_rules(), amount=amounts)
def test_a_check_allows_exactly_what_a_debit_with_cover_books_whatever_the_rule_state(
    s: WalletState, amount: Decimal
) -> None:
    d = decide(s, amount, T0)
    try:
        debited = automation.debit_with_cover(s, T0, new_ids(), amount=amount, occurred_time=T0)
    except InsufficientCredits:
        assert not d.allowed and d.top_up == 0 and d.shortfall > 0
        return
    assert d.allowed
    assert d.top_up == _bought(s, debited.state)
    assert (d.reason is AuthorizeReason.ALLOWED_WITH_TOP_UP) == (d.top_up > 0)
    assert ledger.available(debited.state, T0) == d.available_after >= 0


@settings(max_examples=300, deadline=None)
@given(s=wallets_with_rules(), amount=amounts, minutes=st.integers(min_value=1, max_value=600))
def test_an_allowed_hold_on_a_deny_wallet_holds_the_whole_amount_and_its_capture_succeeds(
    s: WalletState, amount: Decimal, minutes: int
) -> None:
    until = T0 + timedelta(minutes=minutes)
    d, out = authorize_hold(
        s, hold_id="h", amount=amount, expire_time=until, now=T0, new_id=new_ids()
    )
    if not d.allowed:
        assert out.state is s and out.entries == [] and d.top_up == 0
        return
    assert d.top_up == _bought(s, out.state)
    assert ledger.available(out.state, T0) == d.available_after >= 0
    assert hold_rules.uncovered_holds(out.state, T0) == []
    if s.wallet.overage_policy is DENY:
        assert out.state.holds["h"].amount == amount
        captured = hold_rules.capture_hold(out.state, "h", amount=amount, now=T0)
        assert captured.state.overage == s.overage
