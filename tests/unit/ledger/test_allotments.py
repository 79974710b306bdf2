"""Recurring allotments as pure functions: one grant per period, catch-up, expiry policies,
rollover cap, subscription end."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from billing_common.periods import Cadence
from ledger_service.domain import holds as hold_rules
from ledger_service.domain import ledger
from ledger_service.domain.allotments import grant_due
from ledger_service.domain.balance import project
from ledger_service.domain.model import (
    AllotmentExpiry,
    AllotmentSchedule,
    EntryType,
    GrantKind,
)
from tests.unit.ledger.factories import state

JAN = datetime(2026, 1, 31, tzinfo=UTC)  # an anchor on the 31st: short months clamp


def schedule(
    expiry: AllotmentExpiry = AllotmentExpiry.END_OF_PERIOD, **fields
) -> AllotmentSchedule:  # type: ignore[no-untyped-def]
    return AllotmentSchedule(
        id="s",
        wallet_id="w",
        amount=D(100),
        kind=GrantKind.PROMOTIONAL,
        priority=0,
        cadence=Cadence.MONTHLY,
        anchor=JAN,
        expiry=expiry,
        **fields,
    )


def new_ids():  # type: ignore[no-untyped-def]
    counter = itertools.count()
    return lambda: f"g{next(counter)}"


def test_one_grant_per_period_and_none_twice() -> None:
    ids = new_ids()
    out, s = grant_due(state(), schedule(), JAN, ids)
    assert [e.type for e in out.entries] == [EntryType.GRANT]
    again, s2 = grant_due(out.state, s, JAN + timedelta(days=10), ids)
    assert again.entries == [] and s2.next_index == 1


def test_catch_up_after_downtime_backdates_each_period() -> None:
    out, s = grant_due(state(), schedule(), datetime(2026, 4, 15, tzinfo=UTC), new_ids())
    grants = sorted(out.state.grants.values(), key=lambda g: g.effective_time)
    assert [g.effective_time.date().isoformat() for g in grants] == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
    ]
    # Use it or lose it: each expires at its period's end; only March's is still available.
    assert [g.expire_time.date().isoformat() for g in grants] == [  # type: ignore[union-attr]
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
    ]
    assert project(out.state, datetime(2026, 4, 15, tzinfo=UTC)).available == D(100)
    assert s.next_index == 3


def test_rollover_with_expiry_and_cap() -> None:
    ids = new_ids()
    s = schedule(
        AllotmentExpiry.AFTER_DURATION, expire_after=timedelta(days=365), rollover_cap=D(150)
    )
    out, s = grant_due(state(), s, JAN, ids)
    out = ledger.debit(out.state, amount=D(20), occurred_time=JAN, now=JAN)  # 80 left
    out2, s = grant_due(out.state, s, datetime(2026, 2, 28, tzinfo=UTC), ids)
    assert [e.type for e in out2.entries] == [EntryType.GRANT]  # 80 <= cap: nothing cut
    out3, s = grant_due(out2.state, s, datetime(2026, 3, 31, tzinfo=UTC), ids)
    cut, granted = out3.entries
    # 180 carried over, cap 150: 30 expires from the grant that burns first (January's).
    assert (cut.type, cut.amount, granted.type) == (EntryType.EXPIRY, D(-30), EntryType.GRANT)
    assert project(out3.state, datetime(2026, 3, 31, tzinfo=UTC)).available == D(250)


def test_subscription_end_stops_grants_and_caps_expiry() -> None:
    end = datetime(2026, 3, 15, tzinfo=UTC)
    s = schedule(AllotmentExpiry.NEVER, end_time=end)
    out, s = grant_due(state(), s, datetime(2026, 6, 1, tzinfo=UTC), new_ids())
    grants = list(out.state.grants.values())
    assert len(grants) == 2  # Jan 31 and Feb 28; Mar 31 starts after the end
    assert all(g.expire_time == end for g in grants)
    assert project(out.state, end).available == D(0)


def test_the_rollover_cap_never_writes_off_what_a_hold_reserves() -> None:
    """A hold is a guarantee: the write-off at a new period takes only the credits no active hold
    reserves, and the hold can still be captured in full afterwards."""
    ids = new_ids()
    s = schedule(AllotmentExpiry.NEVER, rollover_cap=D(0))
    out, s = grant_due(state(), s, JAN, ids)
    held = hold_rules.create_hold(
        out.state, hold_id="h", amount=D(60), expire_time=JAN + timedelta(days=60), now=JAN
    )
    feb = datetime(2026, 2, 28, tzinfo=UTC)
    out2, s = grant_due(held.state, s, feb, ids)
    cut, granted = out2.entries
    assert (cut.type, cut.amount, granted.type) == (EntryType.EXPIRY, D(-40), EntryType.GRANT)
    captured = hold_rules.capture_hold(out2.state, "h", amount=D(60), now=feb)
    assert captured.entries[0].type is EntryType.CAPTURE
    january = out2.state.grants["g0"]
    assert captured.state.grants[january.id].remaining == 0
