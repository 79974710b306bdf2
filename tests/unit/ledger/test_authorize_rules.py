"""Authorize's decision (domain/authorize.py): a table of cases, and properties over random
wallets: the answer agrees with what a debit or a hold would do at the same instant."""

from __future__ import annotations

import itertools
from collections.abc import Callable
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
    EventType,
    GrantKind,
    OveragePolicy,
    TopUp,
    TopUpPayment,
    TopUpRule,
    TopUpState,
    WalletState,
)
from tests.unit.ledger.factories import T0, grant, state

D = Decimal
DENY = OveragePolicy.DENY
OVERAGE = OveragePolicy.ALLOW_OVERAGE
HOUR = timedelta(hours=1)


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
        s, hold_id="h", amount=D(60), expire_time=T0 + HOUR, now=T0, new_id=_ids()
    )
    assert d.allowed and out.state.holds["h"].amount == D(60)
    assert ledger.available(out.state, T0) == d.available_after == D(40)
    d2, out2 = authorize_hold(
        out.state, hold_id="h2", amount=D(60), expire_time=T0 + HOUR, now=T0, new_id=_ids()
    )
    assert not d2.allowed and out2.entries == [] and out2.state is out.state


def test_an_overage_wallet_holds_what_credits_cover_and_is_allowed_beyond() -> None:
    s = state(grant("a", "25"), policy=OVERAGE)
    d, out = authorize_hold(
        s, hold_id="h", amount=D(40), expire_time=T0 + HOUR, now=T0, new_id=_ids()
    )
    assert (d.allowed, d.reason, d.overage) == (
        True,
        AuthorizeReason.ALLOWED_WITH_OVERAGE,
        D(15),
    )
    assert out.state.holds["h"].amount == D(25)
    # Nothing left: the hold reserves 0, and capturing the whole amount is still allowed.
    d2, out2 = authorize_hold(
        out.state, hold_id="h2", amount=D(5), expire_time=T0 + HOUR, now=T0, new_id=_ids()
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
    d, out = authorize_hold(s, hold_id="h", amount=amount, expire_time=until, now=T0, new_id=_ids())
    if not d.allowed:
        assert out.state is s and s.wallet.overage_policy is DENY
        return
    held = out.state.holds["h"].amount
    assert held == d.covered <= d.available_before
    assert held + d.overage == amount
    assert ledger.available(out.state, T0) == d.available_after >= 0
    assert hold_rules.uncovered_holds(out.state, T0) == []


# -- the automatic top-up a debit would buy -------------------------------------------------


def _ids() -> Callable[[], str]:
    counter = itertools.count()
    return lambda: f"id{next(counter)}"


def _rule(amount: str | None = "100", **fields: object) -> TopUpRule:
    rule = TopUpRule(
        wallet_id="w",
        threshold=D(0),
        amount=None if amount is None else D(amount),
        target=None if amount is not None else D(300),
        kind=GrantKind.PREPAID,
        priority=1,
        expire_after=None,
        unit_price=D("0.9"),
        currency="USD",
        daily_cap=None,
        monthly_cap=None,
        payment=TopUpPayment.IMMEDIATE,
    )
    return replace(rule, **fields)  # type: ignore[arg-type]


def _automated(s: WalletState, **changes: object) -> WalletState:
    return replace(s, automation=replace(s.automation, **changes))  # type: ignore[arg-type]


def _pending() -> TopUp:
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
    ("rule", "top_up", "after"),
    [
        (_rule("100"), "200", "60"),  # a shortfall of 140 buys two whole blocks
        (_rule(None), "290", "150"),  # up to the target: 300 - 10 available
    ],
)
def test_a_deny_wallet_whose_rule_covers_the_shortfall_is_allowed_with_that_top_up(
    rule: TopUpRule, top_up: str, after: str
) -> None:
    s = _automated(state(grant("a", "10")), topup_rule=rule)
    d = decide(s, D(150), T0)
    assert (d.allowed, d.reason, d.top_up, d.shortfall) == (
        True,
        AuthorizeReason.ALLOWED_WITH_TOP_UP,
        D(top_up),
        D(0),
    )
    assert (d.available_before, d.available_after) == (D(10), D(after))
    debited = automation.debit_with_cover(s, T0, _ids(), amount=D(150), occurred_time=T0)
    assert ledger.available(debited.state, T0) == d.available_after


@pytest.mark.parametrize(
    "changes",
    [
        {"topup_rule": None},
        {"topup_rule": _rule(enabled=False)},  # paused
        {"topup_rule": _rule(payment=TopUpPayment.ON_CONFIRMATION)},
        {"topup_rule": _rule(), "topups": {"p": _pending()}},  # a payment in flight
        {"topup_rule": _rule(daily_cap=D(150)), "topped_up_day": D(100)},  # the cap is reached
        {"topup_rule": _rule(retry_after=T0 + HOUR)},  # backing off after a failed payment
    ],
    ids=["no rule", "paused", "on confirmation", "pending", "cap reached", "backing off"],
)
def test_a_rule_that_cannot_top_up_now_leaves_the_denial(changes: dict[str, object]) -> None:
    s = _automated(state(grant("a", "10")), **changes)
    d = decide(s, D(150), T0)
    assert (d.allowed, d.reason, d.top_up, d.shortfall) == (
        False,
        AuthorizeReason.INSUFFICIENT_CREDITS,
        D(0),
        D(140),
    )


@st.composite
def wallets_with_rules(draw: st.DrawFn) -> WalletState:
    s = draw(wallets())
    block = draw(st.none() | st.decimals(min_value=D("0.5"), max_value=D(150), places=1))
    cap = draw(st.none() | st.decimals(min_value=D(0), max_value=D(400), places=0))
    rule = replace(
        _rule(None if block is None else str(block)),
        daily_cap=cap,
        enabled=draw(st.booleans()),
        payment=draw(st.sampled_from(list(TopUpPayment))),
        retry_after=draw(st.sampled_from([None, T0, T0 + HOUR])),
        expire_after=draw(st.sampled_from([None, timedelta(minutes=5), timedelta(days=1)])),
    )
    used = draw(st.decimals(min_value=D(0), max_value=D(400), places=0))
    topups = {"p": _pending()} if draw(st.booleans()) else {}
    return _automated(s, topup_rule=rule, topped_up_day=used, topups=topups)


@settings(max_examples=300, deadline=None)
@given(s=wallets_with_rules(), amount=amounts)
def test_a_check_allows_exactly_what_a_debit_with_its_top_up_would_book(
    s: WalletState, amount: Decimal
) -> None:
    d = decide(s, amount, T0)
    try:
        debited = automation.debit_with_cover(s, T0, _ids(), amount=amount, occurred_time=T0)
    except InsufficientCredits:
        assert not d.allowed and d.top_up == 0 and d.shortfall > 0
        return
    assert d.allowed
    bought = sum((t.amount for t in debited.state.automation.topups.values()), D(0)) - sum(
        (t.amount for t in s.automation.topups.values()), D(0)
    )
    assert d.top_up == bought
    assert (d.reason is AuthorizeReason.ALLOWED_WITH_TOP_UP) == (bought > 0)
    assert ledger.available(debited.state, T0) == d.available_after >= 0


def test_an_allowed_hold_buys_the_top_up_first_and_holds_the_whole_amount() -> None:
    s = _automated(state(grant("a", "10")), topup_rule=_rule("100"))
    d, out = authorize_hold(
        s, hold_id="h", amount=D(150), expire_time=T0 + HOUR, now=T0, new_id=_ids()
    )
    assert (d.allowed, d.reason, d.top_up) == (True, AuthorizeReason.ALLOWED_WITH_TOP_UP, D(200))
    assert [e.type for e in out.entries] == [EntryType.GRANT, EntryType.HOLD]
    # The same top-up, with the same events, as a debit's cover buys.
    debited = automation.debit_with_cover(s, T0, _ids(), amount=D(150), occurred_time=T0)
    assert [e.type for e in out.events] == [e.type for e in debited.events]
    assert EventType.TOP_UP_COMPLETED in [e.type for e in out.events]
    assert [t.amount for t in out.state.automation.topups.values()] == [
        t.amount for t in debited.state.automation.topups.values()
    ]
    assert out.state.holds["h"].amount == D(150)
    assert ledger.available(out.state, T0) == d.available_after == D(60)
    captured = hold_rules.capture_hold(out.state, "h", amount=D(150), now=T0)
    assert captured.state.overage == 0


def test_a_hold_is_denied_when_the_top_up_would_end_before_it_times_out() -> None:
    # Bought credits expire after 5 minutes; with the wallet's hour of late-event grace a
    # capture may burn them for 65 minutes: not until a 2-hour hold times out.
    rule = _rule("100", expire_after=timedelta(minutes=5))
    s = _automated(state(grant("a", "10")), topup_rule=rule)
    d, out = authorize_hold(
        s, hold_id="h", amount=D(150), expire_time=T0 + 2 * HOUR, now=T0, new_id=_ids()
    )
    assert (d.allowed, d.reason, d.top_up) == (False, AuthorizeReason.INSUFFICIENT_CREDITS, D(0))
    assert out.entries == [] and out.state is s
    # A check (no hold) is allowed: a debit now would buy the block and burn it at once.
    assert decide(s, D(150), T0).reason is AuthorizeReason.ALLOWED_WITH_TOP_UP


@settings(max_examples=300, deadline=None)
@given(s=wallets_with_rules(), amount=amounts, minutes=st.integers(min_value=1, max_value=600))
def test_an_allowed_hold_with_a_top_up_rule_is_covered_and_never_leaves_a_deny_wallet_negative(
    s: WalletState, amount: Decimal, minutes: int
) -> None:
    until = T0 + timedelta(minutes=minutes)
    d, out = authorize_hold(s, hold_id="h", amount=amount, expire_time=until, now=T0, new_id=_ids())
    if not d.allowed:
        assert out.state is s and out.entries == [] and d.top_up == 0
        return
    assert ledger.available(out.state, T0) == d.available_after >= 0
    assert hold_rules.uncovered_holds(out.state, T0) == []
    if s.wallet.overage_policy is DENY:
        assert out.state.holds["h"].amount == amount
        captured = hold_rules.capture_hold(out.state, "h", amount=amount, now=T0)
        assert captured.state.overage == s.overage
