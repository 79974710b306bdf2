"""Ledger rules as pure functions, time passed in: effective/expiry windows, late-event grace,
overage and its settlement, refunds, voids and expiry write-offs."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal as D

import pytest

from ledger_service.domain import expiry as expiry_rules
from ledger_service.domain import holds as hold_rules
from ledger_service.domain import ledger
from ledger_service.domain.balance import project
from ledger_service.domain.errors import (
    CaptureExceedsHold,
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
    HoldNotActive,
    InsufficientCredits,
    RefundExceedsDebit,
)
from ledger_service.domain.model import Allocation, EntryType, GrantKind, HoldState, OveragePolicy
from tests.unit.ledger.factories import T0, grant, state

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
ALLOW = OveragePolicy.ALLOW_OVERAGE


def test_future_grant_is_not_consumed() -> None:
    s = state(grant("later", "100", effective=T0 + DAY))
    with pytest.raises(InsufficientCredits):
        ledger.debit(s, amount=D(1), occurred_time=T0, now=T0)


def test_expired_grant_is_not_consumed_by_usage_after_expiry() -> None:
    s = state(grant("old", "100", expire=T0 + DAY), grant("new", "100"))
    out = ledger.debit(s, amount=D(5), occurred_time=T0 + DAY, now=T0 + DAY)
    assert out.entries[0].allocations == (Allocation("new", D(-5)),)


def test_late_usage_within_grace_burns_the_grant_it_belongs_to() -> None:
    s = state(grant("old", "100", expire=T0 + DAY), grant("new", "100"))
    occurred, arrives = T0 + DAY - timedelta(minutes=1), T0 + DAY + timedelta(minutes=30)
    out = ledger.debit(s, amount=D(5), occurred_time=occurred, now=arrives)
    assert out.entries[0].allocations == (Allocation("old", D(-5)),)


def test_late_usage_after_grace_cannot_burn_the_expired_grant() -> None:
    s = state(grant("old", "100", expire=T0 + DAY), grant("new", "100"))
    occurred, arrives = T0 + DAY - timedelta(minutes=1), T0 + DAY + 2 * HOUR
    out = ledger.debit(s, amount=D(5), occurred_time=occurred, now=arrives)
    assert out.entries[0].allocations == (Allocation("new", D(-5)),)


def test_deny_refuses_whole_debit_and_allow_books_overage() -> None:
    with pytest.raises(InsufficientCredits):
        ledger.debit(state(grant("g", "10")), amount=D(11), occurred_time=T0, now=T0)
    out = ledger.debit(
        state(grant("g", "10"), policy=ALLOW), amount=D(11), occurred_time=T0, now=T0
    )
    (entry,) = out.entries
    assert entry.allocations == (Allocation("g", D(-10)), Allocation(None, D(-1)))
    assert (out.state.overage, entry.available_after, entry.overage_after) == (D(1), D(0), D(1))


def test_next_grant_settles_overage_first() -> None:
    s = ledger.debit(state(policy=ALLOW), amount=D(7), occurred_time=T0, now=T0).state
    out = ledger.grant(s, grant("g", "10", created=T0 + HOUR), now=T0 + HOUR)
    grant_entry, settlement = out.entries
    assert grant_entry.type is EntryType.GRANT
    assert settlement.type is EntryType.OVERAGE_SETTLEMENT
    assert settlement.allocations == (Allocation("g", D(-7)), Allocation(None, D(7)))
    assert (out.state.overage, out.state.grants["g"].remaining, settlement.amount) == (
        D(0),
        D(3),
        D(0),
    )


def test_balance_projects_settlement_by_a_grant_that_became_effective() -> None:
    s = ledger.debit(state(policy=ALLOW), amount=D(7), occurred_time=T0, now=T0).state
    s = ledger.grant(s, grant("g", "10", effective=T0 + DAY), now=T0).state
    assert s.overage == D(7)  # not effective yet: nothing settled
    before = project(s, T0 + HOUR)
    assert (before.available, before.overage, before.pending_grants) == (D(0), D(7), D(10))
    after = project(s, T0 + DAY)
    assert (after.available, after.overage, after.net) == (D(3), D(0), D(3))


def test_refund_unwinds_in_reverse_burn_order() -> None:
    s = state(grant("a", "10", kind=GrantKind.PROMOTIONAL), grant("b", "10"))
    out = ledger.debit(s, amount=D(15), occurred_time=T0, now=T0)
    debit = out.entries[0]
    record = ledger.DebitRecord("d1", debit.allocations)
    refunded = ledger.refund(out.state, record, amount=D(7), now=T0 + HOUR)
    assert refunded.entries[0].allocations == (Allocation("b", D(5)), Allocation("a", D(2)))
    assert refunded.entries[0].related_id == "d1"
    with pytest.raises(RefundExceedsDebit):
        ledger.refund(out.state, record, amount=D(16), now=T0 + HOUR)


def test_refund_to_an_expired_grant_expires_at_once_after_the_grace() -> None:
    s = state(grant("a", "10", expire=T0 + DAY))
    out = ledger.debit(s, amount=D(4), occurred_time=T0, now=T0)
    later = T0 + DAY + 2 * HOUR
    record = ledger.DebitRecord("d", out.entries[0].allocations)
    swept = expiry_rules.expire_due(out.state, later)
    assert [e.amount for e in swept.entries] == [D(-6)]
    refunded = ledger.refund(swept.state, record, amount=None, now=later)
    refund, expiry = refunded.entries
    assert (refund.type, refund.amount, expiry.type, expiry.amount) == (
        EntryType.REFUND,
        D(4),
        EntryType.EXPIRY,
        D(-4),
    )
    assert refunded.state.grants["a"].remaining == 0
    assert refunded.state.grants["a"].expired_amount == D(10)
    # Sweeper not run yet: the refund books the whole overdue write-off, as the sweeper would.
    unswept = ledger.refund(out.state, record, amount=None, now=later)
    assert [(e.type, e.amount) for e in unswept.entries] == [
        (EntryType.REFUND, D(4)),
        (EntryType.EXPIRY, D(-10)),
    ]


def test_refund_of_overage_part_reduces_overage_or_returns_to_the_settling_grant() -> None:
    s = ledger.debit(state(grant("a", "4"), policy=ALLOW), amount=D(10), occurred_time=T0, now=T0)
    debit_allocs = s.entries[0].allocations
    # Unsettled: the overage part reduces outstanding overage.
    r = ledger.refund(s.state, ledger.DebitRecord("d", debit_allocs), amount=D(6), now=T0)
    assert r.entries[0].allocations == (Allocation(None, D(6)),)
    assert r.state.overage == 0
    # Settled by grant b meanwhile: the overage part goes back to b.
    settled = ledger.grant(s.state, grant("b", "100"), now=T0 + HOUR).state
    r = ledger.refund(settled, ledger.DebitRecord("d", debit_allocs), amount=None, now=T0 + HOUR)
    assert r.entries[0].allocations == (Allocation("b", D(6)), Allocation("a", D(4)))
    assert (r.state.grants["b"].remaining, r.state.grants["a"].remaining, r.state.overage) == (
        D(100),
        D(4),
        D(0),
    )


def test_void_removes_remainder_once() -> None:
    s = state(grant("a", "10"))
    out = ledger.void(s, "a", now=T0)
    assert (out.entries[0].type, out.entries[0].amount) == (EntryType.VOID, D(-10))
    with pytest.raises(GrantAlreadyVoided):
        ledger.void(out.state, "a", now=T0)
    consumed = ledger.debit(state(grant("b", "3")), amount=D(3), occurred_time=T0, now=T0).state
    with pytest.raises(GrantAlreadyEnded):
        ledger.void(consumed, "b", now=T0)


def test_expiry_waits_for_the_grace_period_and_balance_is_exact_either_way() -> None:
    s = state(grant("a", "10", expire=T0 + DAY), grant("b", "5"))
    assert expiry_rules.expire_due(s, T0 + DAY + HOUR - timedelta(seconds=1)).entries == []
    view = project(s, T0 + DAY + timedelta(minutes=10))  # expired, not written off yet
    assert (view.available, view.pending_expiry) == (D(5), D(10))
    out = expiry_rules.expire_due(s, T0 + DAY + HOUR)
    (entry,) = out.entries
    assert (entry.type, entry.amount, entry.occurred_time) == (EntryType.EXPIRY, D(-10), T0 + DAY)
    assert project(out.state, T0 + DAY + HOUR).available == D(5)
    assert out.state.grants["a"].expired_amount == D(10)


def test_every_entry_balances_its_allocations() -> None:
    s = state(grant("a", "10"), policy=ALLOW)
    out = ledger.debit(s, amount=D(12), occurred_time=T0, now=T0)
    out2 = ledger.grant(out.state, grant("b", "5"), now=T0)
    for e in out.entries + out2.entries:
        assert e.amount == sum((a.amount for a in e.allocations), D(0))


def _held(s, amount: str, minutes: int = 30, at=T0):  # type: ignore[no-untyped-def]
    return hold_rules.create_hold(
        s,
        hold_id="h",
        amount=D(amount),
        expire_time=at + timedelta(minutes=minutes),
        now=at,
        feature="AI job",
    )


def test_hold_reserves_in_burn_down_order_and_blocks_other_usage() -> None:
    s = state(grant("promo", "30", kind=GrantKind.PROMOTIONAL), grant("paid", "100"))
    out = _held(s, "50")
    assert out.state.holds["h"].allocations == (
        Allocation("promo", D(-30)),
        Allocation("paid", D(-20)),
    )
    assert (out.entries[0].type, out.entries[0].amount, out.entries[0].available_after) == (
        EntryType.HOLD,
        D(0),
        D(80),
    )
    view = project(out.state, T0)
    assert (view.available, view.held, view.promotional_available) == (D(80), D(50), D(0))
    with pytest.raises(InsufficientCredits):
        ledger.debit(out.state, amount=D(81), occurred_time=T0, now=T0)
    with pytest.raises(InsufficientCredits):
        _held(
            state(grant("g", "10"), policy=ALLOW), "11"
        )  # a hold is a guarantee, even with overage


def test_capture_less_burns_reserved_grants_and_frees_the_rest() -> None:
    s = _held(
        state(grant("promo", "30", kind=GrantKind.PROMOTIONAL), grant("paid", "100")), "50"
    ).state
    out = hold_rules.capture_hold(s, "h", amount=D(35), now=T0 + timedelta(minutes=10))
    (entry,) = out.entries
    assert (entry.type, entry.amount, entry.occurred_time) == (EntryType.CAPTURE, D(-35), T0)
    assert entry.allocations == (Allocation("promo", D(-30)), Allocation("paid", D(-5)))
    assert project(out.state, T0 + timedelta(minutes=10)).available == D(95)
    with pytest.raises(HoldNotActive):
        hold_rules.capture_hold(out.state, "h", amount=D(1), now=T0 + timedelta(minutes=11))


def test_capture_more_only_where_overage_is_allowed() -> None:
    with pytest.raises(CaptureExceedsHold):
        hold_rules.capture_hold(
            _held(state(grant("g", "100")), "10").state, "h", amount=D(11), now=T0
        )
    s = _held(state(grant("g", "12"), policy=ALLOW), "10").state
    out = hold_rules.capture_hold(s, "h", amount=D(15), now=T0)
    assert out.entries[0].allocations == (Allocation("g", D(-12)), Allocation(None, D(-3)))
    assert (out.state.overage, out.state.grants["g"].remaining) == (D(3), D(0))


def test_release_and_timeout_free_the_credits() -> None:
    s = _held(state(grant("g", "100")), "60", minutes=30).state
    released = hold_rules.release_hold(s, "h", now=T0 + timedelta(minutes=5))
    assert released.entries[0].type is EntryType.RELEASE
    assert project(released.state, T0 + timedelta(minutes=5)).available == D(100)
    # Timed out: free at read time at once, before the sweeper books the release.
    assert project(s, T0 + timedelta(minutes=29)).available == D(40)
    assert project(s, T0 + timedelta(minutes=30)).available == D(100)
    assert ledger.debit(
        s, amount=D(100), occurred_time=T0 + timedelta(minutes=30), now=T0 + timedelta(minutes=30)
    )
    swept = expiry_rules.expire_due(s, T0 + timedelta(minutes=45))
    (entry,) = swept.entries
    assert (entry.type, entry.occurred_time) == (EntryType.RELEASE, T0 + timedelta(minutes=30))
    assert swept.state.holds["h"].state is HoldState.EXPIRED
    with pytest.raises(HoldNotActive):
        hold_rules.capture_hold(s, "h", amount=D(1), now=T0 + timedelta(minutes=31))


def test_a_grant_backing_a_hold_cannot_be_voided() -> None:
    s = _held(state(grant("g", "100")), "10").state
    with pytest.raises(GrantHeld):
        ledger.void(s, "g", now=T0)


def test_a_write_is_never_booked_before_the_last_write_on_its_wallets() -> None:
    assert ledger.write_time(T0, []) == T0
    assert ledger.write_time(T0, [T0 - HOUR, None]) == T0
    # A clock behind the wallet (another process's clock ahead, or this one stepped back).
    assert ledger.write_time(T0, [T0 - HOUR, T0 + HOUR]) == T0 + HOUR


def test_a_committed_hold_reserves_for_a_write_whose_clock_is_behind_its_creation() -> None:
    # The hold/debit race, and clocks that disagree: a hold committed by a process whose clock
    # is ahead (create_time after this write's now) still reserves its credits.
    s = _held(state(grant("g", "10")), "10", at=T0 + timedelta(seconds=1)).state
    with pytest.raises(InsufficientCredits):
        ledger.debit(s, amount=D(10), occurred_time=T0, now=T0)


def test_a_hold_passes_over_credits_written_off_before_it_times_out() -> None:
    # "soon" is written off at T0 + 30 min + 1 h grace; a hold for 2 h cannot count on it.
    soon = grant("soon", "100", expire=T0 + timedelta(minutes=30))
    s = state(soon, grant("later", "20", expire=T0 + DAY))
    out = _held(s, "15", minutes=120)
    assert out.state.holds["h"].allocations == (Allocation("later", D(-15)),)
    with pytest.raises(InsufficientCredits):
        _held(s, "21", minutes=120)
    # A hold that ends before the write-off may use it, in burn-down order.
    assert _held(s, "15", minutes=90).state.holds["h"].allocations == (Allocation("soon", D(-15)),)
    assert hold_rules.uncovered_holds(out.state, T0) == []


def test_uncovered_holds_are_reported_per_grant_and_per_hold() -> None:
    s = _held(state(grant("g", "10")), "10").state
    assert hold_rules.uncovered_holds(s, T0) == []
    spent = replace(s, grants={"g": replace(s.grants["g"], remaining=D(4))})
    assert hold_rules.uncovered_holds(spent, T0) == [
        ("grant g reserved by active holds", D(10), D(4))
    ]
    voided = replace(s, grants={"g": replace(s.grants["g"], void_time=T0)})
    assert hold_rules.uncovered_holds(voided, T0) == [
        ("grant g reserved by active holds", D(10), D(0))
    ]
    # Written off at T0 + 15 min (expired 45 min ago, 1 h grace): the hold runs to T0 + 30 min.
    short = replace(s, grants={"g": replace(s.grants["g"], expire_time=T0 - timedelta(minutes=45))})
    assert hold_rules.uncovered_holds(short, T0) == [
        ("hold h on grant g written off before the hold times out", D(10), D(0))
    ]
    # Once the hold has timed out it reserves nothing.
    assert hold_rules.uncovered_holds(spent, T0 + timedelta(minutes=30)) == []
