"""Feature-scoped grants (SPEC "Enterprise controls"; ledger README "Burn-down order"): a grant
naming features is burnt only by usage of one of them, before unscoped grants, and settles no
overage. Allocations are computed by hand; a property checks that the order of creation does not
matter and that no feature ever burns another's grant."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger_service.domain import authorize as authorize_rules
from ledger_service.domain import holds as hold_rules
from ledger_service.domain import ledger
from ledger_service.domain.balance import FeatureView, project
from ledger_service.domain.errors import InsufficientCredits
from ledger_service.domain.model import Allocation, GrantKind, OveragePolicy, WalletState
from tests.unit.ledger.factories import T0, grant, state

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
ALLOW = OveragePolicy.ALLOW_OVERAGE
PROMO = GrantKind.PROMOTIONAL


def _debit(s: WalletState, amount: str, feature: str = "", at=T0) -> ledger.Outcome:
    return ledger.debit(s, amount=D(amount), occurred_time=at, now=at, feature=feature)


def _wallet(policy: OveragePolicy = OveragePolicy.DENY) -> WalletState:
    return state(
        grant("any", "100", kind=PROMO),
        grant("reports", "30", features=("report",)),
        grant("chat", "50", features=("chat",)),
        policy=policy,
    )


def test_a_debit_burns_the_grants_scoped_to_its_feature_before_unscoped_ones() -> None:
    out = _debit(_wallet(), "40", "report")
    assert out.entries[0].allocations == (Allocation("reports", D(-30)), Allocation("any", D(-10)))
    out = _debit(out.state, "10", "chat")
    assert out.entries[0].allocations == (Allocation("chat", D(-10)),)


def test_a_debit_without_a_feature_or_of_another_feature_burns_only_unscoped_grants() -> None:
    for feature in ("", "search"):
        out = _debit(_wallet(), "20", feature)
        assert out.entries[0].allocations == (Allocation("any", D(-20)),)
    with pytest.raises(InsufficientCredits) as refused:
        _debit(_wallet(), "101", "search")  # 180 in the wallet, 100 of them for any feature
    assert refused.value.shortfall == D(1)


def test_a_debit_is_refused_rather_than_burn_another_features_grant() -> None:
    # report may use its 30 and the 100 unscoped; chat's 50 stay out of reach.
    with pytest.raises(InsufficientCredits) as refused:
        _debit(_wallet(), "150", "report")
    assert refused.value.shortfall == D(20)


def test_scoped_before_unscoped_outranks_priority_and_the_usual_order_holds_within_a_group() -> (
    None
):
    s = state(
        grant("cheap", "10", priority=0),
        grant("late", "10", priority=5, features=("report",)),
        grant("soon", "10", priority=5, features=("chat", "report"), expire=T0 + DAY),
        grant("first", "10", priority=1, features=("report",)),
    )
    out = _debit(s, "35", "report")
    assert out.entries[0].allocations == (
        Allocation("first", D(-10)),  # scoped: priority 1
        Allocation("soon", D(-10)),  # scoped: priority 5, expires first
        Allocation("late", D(-10)),  # scoped: priority 5, no expiry
        Allocation("cheap", D(-5)),  # unscoped last, whatever its priority
    )
    out = _debit(s, "15", "chat")  # a grant naming two features serves both
    assert out.entries[0].allocations == (Allocation("soon", D(-10)), Allocation("cheap", D(-5)))


def test_scoped_grants_do_not_settle_overage() -> None:
    s = state(grant("any", "10"), policy=ALLOW)
    out = _debit(s, "25", "report")
    assert out.state.overage == D(15)
    scoped = ledger.grant(out.state, grant("reports", "40", features=("report",)), now=T0 + HOUR)
    assert scoped.state.overage == D(15)
    assert [e.type.value for e in scoped.entries] == ["GRANT"]
    assert scoped.state.grants["reports"].remaining == D(40)
    assert project(scoped.state, T0 + HOUR).overage == D(15)
    unscoped = ledger.grant(scoped.state, grant("more", "20"), now=T0 + HOUR)
    assert unscoped.state.overage == D(0)
    assert unscoped.state.grants["more"].remaining == D(5)
    assert unscoped.state.grants["reports"].remaining == D(40)


def test_a_refund_returns_to_the_scoped_grant_the_debit_came_from() -> None:
    out = _debit(_wallet(), "40", "report")
    record = ledger.DebitRecord("d1", out.entries[0].allocations)
    refunded = ledger.refund(out.state, record, amount=D(35), now=T0 + HOUR)
    assert refunded.entries[0].allocations == (
        Allocation("any", D(10)),  # burnt last, returned first
        Allocation("reports", D(25)),
    )
    assert refunded.state.grants["reports"].remaining == D(25)


def test_a_hold_reserves_from_its_features_grants_and_its_capture_burns_them() -> None:
    s = _wallet(ALLOW)
    held = hold_rules.create_hold(
        s, hold_id="h", amount=D(40), expire_time=T0 + HOUR, now=T0, feature="chat"
    )
    assert held.state.holds["h"].allocations == (Allocation("chat", D(-40)),)
    with pytest.raises(InsufficientCredits):  # chat's 50 and the 100 unscoped, 40 held
        hold_rules.create_hold(
            held.state, hold_id="h2", amount=D(111), expire_time=T0 + HOUR, now=T0, feature="chat"
        )
    captured = hold_rules.capture_hold(held.state, "h", amount=D(55), now=T0 + HOUR / 2)
    assert captured.entries[0].allocations == (
        Allocation("chat", D(-50)),
        Allocation("any", D(-5)),  # beyond the hold: the feature's order, never reports
    )
    assert captured.state.grants["reports"].remaining == D(30)


def test_the_balance_shows_what_each_scoped_feature_and_the_unscoped_credits_may_use() -> None:
    s = state(
        grant("any", "100", kind=PROMO),
        grant("reports", "30", features=("report",), expire=T0 + DAY),
        grant("both", "5", features=("chat", "report")),
    )
    held = hold_rules.create_hold(
        s, hold_id="h", amount=D(10), expire_time=T0 + HOUR, now=T0, feature="report"
    ).state
    view = project(held, T0)
    assert view.available == D(125)
    assert view.unscoped_available == D(100)
    assert view.features == [
        FeatureView("chat", D(105), D(5)),
        FeatureView("report", D(125), D(25)),  # 30 + 5 scoped, 10 of them held
    ]
    later = project(held, T0 + DAY)  # reports expired; the hold timed out long before
    assert later.features == [
        FeatureView("chat", D(105), D(5)),
        FeatureView("report", D(105), D(5)),
    ]
    assert project(state(grant("any", "7")), T0).features == []


def test_authorize_counts_only_the_credits_that_apply_to_the_feature() -> None:
    s = _wallet()
    assert authorize_rules.decide(s, D(130), T0, feature="report").allowed
    denied = authorize_rules.decide(s, D(131), T0, feature="report")
    assert (denied.allowed, denied.available_before, denied.shortfall) == (False, D(130), D(1))
    assert authorize_rules.decide(s, D(100), T0).available_before == D(100)
    decision, placed = authorize_rules.authorize_hold(
        s,
        hold_id="h",
        amount=D(60),
        expire_time=T0 + HOUR,
        now=T0,
        feature="chat",
        new_id=lambda kind: kind,
    )
    assert decision.allowed
    assert placed.state.holds["h"].allocations == (
        Allocation("chat", D(-50)),
        Allocation("any", D(-10)),
    )


# -- property ------------------------------------------------------------------------------

FEATURES = ["a", "b", "c"]
grant_specs = st.lists(
    st.tuples(
        st.integers(0, 2),  # priority
        st.one_of(st.none(), st.integers(1, 3)),  # expiry in days
        st.sampled_from([PROMO, GrantKind.PREPAID]),
        st.integers(-2, 0),  # creation offset in days
        st.integers(1, 40),  # amount
        st.lists(st.sampled_from(FEATURES), max_size=2, unique=True),  # scope
    ),
    min_size=1,
    max_size=10,
)
usages = st.lists(
    st.tuples(st.sampled_from(["", *FEATURES]), st.integers(1, 60)), min_size=1, max_size=8
)


@given(grant_specs, usages, st.randoms(use_true_random=False))
def test_scoped_burn_down_does_not_depend_on_creation_order_and_never_crosses_scopes(
    specs, debits, rnd: random.Random
) -> None:
    grants = [
        grant(
            f"g{i:02d}",
            str(amount),
            priority=p,
            kind=kind,
            expire=None if e is None else T0 + e * DAY,
            created=T0 + c * DAY,
            features=tuple(scope),
        )
        for i, (p, e, kind, c, amount, scope) in enumerate(specs)
    ]
    shuffled = grants[:]
    rnd.shuffle(shuffled)
    one, other = state(*grants, policy=ALLOW), state(*shuffled, policy=ALLOW)
    for feature, amount in debits:
        first, second = _debit(one, str(amount), feature), _debit(other, str(amount), feature)
        assert first.entries == second.entries  # the same allocations whatever the creation order
        assert first.state.grants == second.state.grants
        assert first.state.overage == second.state.overage
        debit, *settlements = first.entries
        burnt = [one.grants[a.grant_id] for a in debit.allocations if a.grant_id]
        assert all(g.applies_to(feature) for g in burnt)  # never another feature's grant
        if any(
            not g.features for g in burnt
        ):  # scoped first: the feature's scoped grants are used up
            scoped = [g for g in ledger.eligible_for_usage(one, T0, T0, feature) if g.features]
            assert all(first.state.grants[g.id].remaining == 0 for g in scoped)
        for settlement in settlements:  # only unscoped grants settle overage
            assert all(
                not one.grants[a.grant_id].features for a in settlement.allocations if a.grant_id
            )
        one, other = first.state, second.state
