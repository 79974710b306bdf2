"""Which events a backfill accepts (`domain/events.py: check_event`, time as an argument): the
grace window is lifted, nothing else is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing_common.errors import BillingError
from rating_service.domain.events import EventIn, check_event

NOW = datetime(2026, 5, 10, tzinfo=UTC)
GRACE = timedelta(days=3)
SKEW = timedelta(minutes=5)


def at(when: datetime, **kw: str) -> EventIn:
    return EventIn(
        event_id=kw.get("event_id", "e1"),
        customer_id=kw.get("customer_id", "c1"),
        type="call",
        occurred_time=when,
    )


def reason(error: BillingError | None) -> str | None:
    return None if error is None else error.reason


def check(e: EventIn, *, backfill: bool) -> str | None:
    return reason(check_event(e, NOW, grace=GRACE, future_skew=SKEW, backfill=backfill))


@pytest.mark.parametrize("age", [timedelta(days=4), timedelta(days=90), timedelta(days=3650)])
def test_an_event_older_than_the_grace_window_passes_only_in_backfill(age: timedelta) -> None:
    old = at(NOW - age)
    assert check(old, backfill=False) == "EVENT_TOO_OLD"
    assert check(old, backfill=True) is None


def test_an_event_within_the_grace_window_passes_in_both_modes() -> None:
    recent = at(NOW - GRACE + timedelta(seconds=1))
    assert (check(recent, backfill=False), check(recent, backfill=True)) == (None, None)


def test_the_future_bound_holds_in_backfill_too() -> None:
    assert check(at(NOW + SKEW), backfill=True) is None
    assert check(at(NOW + SKEW + timedelta(microseconds=1)), backfill=True) == "EVENT_IN_FUTURE"


def test_a_malformed_old_event_is_refused_for_its_shape_in_backfill() -> None:
    assert check(at(NOW - timedelta(days=90), customer_id=""), backfill=True) == "MISSING_FIELD"
    assert check(at(NOW - timedelta(days=90), event_id="x" * 129), backfill=True) == "INVALID_ID"
