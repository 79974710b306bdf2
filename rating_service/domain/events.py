"""A usage event as it comes in, and the answer for it: plain frozen dataclasses (no protobuf)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from billing_common.errors import BillingError, InvalidArgument, Violation
from rating_service.domain.errors import EventRejected
from rating_service.domain.status import ChargeStatus

# Event ids, customer ids and event types (and a meter's event_type, which names the same thing).
ID_CHARS_MAX = 128
PROPERTIES_MAX = 50
PROPERTY_CHARS_MAX = 1000


@dataclass(frozen=True, slots=True)
class EventIn:
    event_id: str
    customer_id: str
    type: str
    occurred_time: datetime | None
    properties: Mapping[str, str] = field(default_factory=dict)
    # Set when the event could not even be read (for example an invalid timestamp).
    error: BillingError | None = None
    # The pool member the usage is for; empty for none.
    member_id: str = ""


class EventStatus(StrEnum):
    """The answer for one event of a request."""

    ACCEPTED = "ACCEPTED"
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"
    CHARGED = "CHARGED"
    DENIED = "DENIED"


@dataclass(frozen=True, slots=True)
class ChargeView:
    meter_id: str
    price_id: str
    price_version: int
    amount: Decimal
    quantity_before: Decimal
    quantity_after: Decimal
    period_start: datetime
    period_end: datetime
    status: ChargeStatus
    ledger_entry_id: str = ""


@dataclass(frozen=True, slots=True)
class EventOutcome:
    event_id: str
    status: EventStatus
    error: BillingError | None = None
    charges: tuple[ChargeView, ...] = ()
    available_after: str = ""


def check_event(
    e: EventIn,
    now: datetime,
    *,
    grace: timedelta,
    future_skew: timedelta,
    backfill: bool = False,
) -> BillingError | None:
    """Checks that need nothing but the event and the time: the error to reject it with.

    Backfill (importing history from another system) has no grace window: an event of any past
    time passes here. The future bound holds in both modes, and so does the rule that no event
    enters a closed billing period (PERIOD_CLOSED, checked against the stored invoices)."""
    if e.error is not None:
        return e.error
    return _shape_error(e) or _time_error(e, now, None if backfill else grace, future_skew)


def _shape_error(e: EventIn) -> BillingError | None:
    """Required fields, id lengths and properties."""
    ids = (("event_id", e.event_id), ("customer_id", e.customer_id), ("type", e.type))
    for name, value in (*ids, ("member_id", e.member_id)):
        if not value and name != "member_id":  # a member is optional
            return InvalidArgument.field(name, "is required", "MISSING_FIELD")
        if len(value) > ID_CHARS_MAX:
            return InvalidArgument.field(name, f"at most {ID_CHARS_MAX} characters", "INVALID_ID")
    if e.occurred_time is None:
        return InvalidArgument.field("occurred_time", "is required", "MISSING_FIELD")
    if len(e.properties) > PROPERTIES_MAX:
        return InvalidArgument.field("properties", f"at most {PROPERTIES_MAX}", "INVALID_PROPERTY")
    for k, v in e.properties.items():
        if not k or len(k) > PROPERTY_CHARS_MAX or len(v) > PROPERTY_CHARS_MAX:
            return InvalidArgument.field(
                f"properties[{k}]",
                f"names and values up to {PROPERTY_CHARS_MAX} characters",
                "INVALID_PROPERTY",
            )
    return None


def _time_error(
    e: EventIn, now: datetime, grace: timedelta | None, future_skew: timedelta
) -> BillingError | None:
    """An occurred_time too far in the future or older than the grace window (None: none)."""
    assert e.occurred_time is not None  # checked by _shape_error first
    if e.occurred_time > now + future_skew:
        return EventRejected(
            f"occurred_time is more than {future_skew} in the future",
            reason="EVENT_IN_FUTURE",
            violations=[Violation("occurred_time", "too far in the future")],
        )
    if grace is not None and e.occurred_time < now - grace:
        return EventRejected(
            f"occurred_time is older than the rating grace window ({grace})",
            reason="EVENT_TOO_OLD",
            violations=[Violation("occurred_time", "older than the grace window")],
        )
    return None
