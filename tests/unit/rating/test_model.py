from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from billing_common.errors import InvalidArgument
from billing_common.periods import Cadence, Period
from rating_service.domain.aggregation import Aggregation
from rating_service.domain.meters import Meter, matches, value_of
from rating_service.domain.model import (
    Assignment,
    Plan,
    PriceVersion,
    assignment_at,
    billing_period,
    version_at,
)
from rating_service.domain.pricing import Pricing, PricingModel


def dt(day: int) -> datetime:
    return datetime(2026, 3, day, tzinfo=UTC)


def test_version_in_force_at_occurred_time() -> None:
    p = Pricing(PricingModel.PER_UNIT, unit_price=D(1))
    v1 = PriceVersion("p", 1, "m", dt(1), p)
    v2 = PriceVersion("p", 2, "m", dt(10), p)
    assert version_at([v2, v1], dt(1)) == v1
    assert version_at([v1, v2], dt(9)) == v1
    assert version_at([v1, v2], dt(10)) == v2
    assert version_at([v1, v2], datetime(2026, 2, 1, tzinfo=UTC)) is None


def test_assignment_in_force() -> None:
    a1 = Assignment("a1", "c", "plan1", "w", dt(1))
    a2 = Assignment("a2", "c", "plan2", "w", dt(15))
    assert assignment_at([a1, a2], dt(14)) == a1
    assert assignment_at([a1, a2], dt(15)) == a2
    assert assignment_at([a1, a2], datetime(2026, 2, 1, tzinfo=UTC)) is None


def test_an_ended_assignment_is_in_force_up_to_its_end_only() -> None:
    ended = Assignment("a1", "c", "plan1", "w", dt(1), end_time=dt(10))
    assert assignment_at([ended], dt(9)) == ended
    assert assignment_at([ended], dt(10)) is None  # the end is the first instant without a plan
    assert assignment_at([ended], dt(20)) is None
    after = Assignment("a2", "c", "plan2", "w", dt(12))
    assert assignment_at([ended, after], dt(11)) is None
    assert assignment_at([ended, after], dt(12)) == after


def test_the_last_billing_period_of_an_ended_assignment_ends_at_its_end() -> None:
    plan = Plan("plan1", "monthly", Cadence.MONTHLY, dt(1), D(0), ())
    running = Assignment("a1", "c", "plan1", "w", dt(5))
    ended = Assignment("a1", "c", "plan1", "w", dt(5), end_time=dt(20))
    assert billing_period(plan, running, dt(12)) == Period(dt(5), datetime(2026, 4, 1, tzinfo=UTC))
    assert billing_period(plan, ended, dt(12)) == Period(dt(5), dt(20))
    earlier = Assignment("a1", "c", "plan1", "w", dt(1), end_time=datetime(2026, 5, 1, tzinfo=UTC))
    # A period that ends before the end is untouched.
    assert billing_period(plan, earlier, dt(12)) == Period(dt(1), datetime(2026, 4, 1, tzinfo=UTC))


METER = Meter("m1", "tokens", "llm.call", Aggregation.SUM, "tokens", {"model": "large"})


def test_filters_match_type_and_every_property() -> None:
    assert matches(METER, "llm.call", {"model": "large", "tokens": "5"})
    assert not matches(METER, "llm.call", {"model": "small", "tokens": "5"})
    assert not matches(METER, "other", {"model": "large"})


@pytest.mark.parametrize("raw", ["", "-1", "1e3", "abc", "0.0000000000000000001"])
def test_bad_numeric_property_is_invalid(raw: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        value_of(METER, {"tokens": raw} if raw else {})
    assert err.value.reason == "INVALID_PROPERTY"
    assert err.value.violations[0].field == "properties[tokens]"


def test_values() -> None:
    assert value_of(METER, {"tokens": "12.5"}).number == D("12.5")
    unique = Meter("m2", "users", "login", Aggregation.UNIQUE_COUNT, "user")
    assert value_of(unique, {"user": "u1"}).unique_key == "u1"
    count = Meter("m3", "calls", "call", Aggregation.COUNT)
    assert value_of(count, {}).number is None


def test_fullwidth_digits_are_not_a_number() -> None:
    with pytest.raises(InvalidArgument) as err:
        value_of(METER, {"tokens": "\uff11"})
    assert err.value.reason == "INVALID_PROPERTY"


def test_ledger_request_ids_are_derived_and_fit_the_ledger() -> None:
    from rating_service.domain.charges import LEDGER_REQUEST_ID_MAX, ledger_request_id

    assert ledger_request_id("debit", "e1", "tokens") == "rating:debit:2:e1:tokens"
    long_event = "e" * 128
    derived = ledger_request_id("refund", long_event, "k" * 64, long_event)
    assert len(derived) <= LEDGER_REQUEST_ID_MAX
    assert derived == ledger_request_id("refund", long_event, "k" * 64, long_event)
    assert derived != ledger_request_id("refund", long_event, "k" * 64, "other")


def test_ledger_request_ids_of_different_charges_never_collide() -> None:
    """Once, "rating:" + ":".join(parts) let an event id containing ':' spell
    another charge's request id (a debit and a refund part, or two refund parts)."""
    from rating_service.domain.charges import ledger_request_id

    # Before: ("x:m1", "m2", "refund", "y") and ("x", "m1", ...) shapes could meet.
    a = ledger_request_id("refund", "x:m1", "m2", "y")
    b = ledger_request_id("refund", "x", "m1", "m2:y")
    assert a != b
    # A debit of an event whose id looks like a refund can never be a refund's id.
    debit = ledger_request_id("debit", "e1:tokens:refund:e0", "tokens")
    refund = ledger_request_id("refund", "e1", "tokens", "e0")
    assert debit != refund
    assert debit.startswith("rating:debit:") and refund.startswith("rating:refund:")
