"""Aggregations: how a meter turns a customer's events of one period into a quantity.

The state starts at zero and takes one event at a time; it never reads anything else, so the
database can keep it per (assignment, meter, period) and update it inside the event's transaction.

- SUM: adds the event's value.
- COUNT: adds one per event.
- UNIQUE_COUNT: adds one per value not seen before in the period. The set of seen values is kept
  by the caller (a table in the database), who says whether the value was seen (`value_seen`).
- MAX: the largest value seen.
- LATEST: the value of the event with the latest occurred_time (ties: the larger event id), so a
  late-arriving older event changes nothing. LATEST can go down: that is a negative charge.
Values are never negative (meters reject negative values), so every aggregate is >= 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from billing_common.money import exact

ZERO = Decimal(0)


class Aggregation(StrEnum):
    SUM = "SUM"
    COUNT = "COUNT"
    UNIQUE_COUNT = "UNIQUE_COUNT"
    MAX = "MAX"
    LATEST = "LATEST"


# Aggregations that read a property of the event.
NEEDS_PROPERTY = (Aggregation.SUM, Aggregation.UNIQUE_COUNT, Aggregation.MAX, Aggregation.LATEST)
# Aggregations whose property must be a non-negative decimal (UNIQUE_COUNT takes any string).
NUMERIC = (Aggregation.SUM, Aggregation.MAX, Aggregation.LATEST)


@dataclass(frozen=True, slots=True)
class AggregateState:
    quantity: Decimal = ZERO
    # For LATEST: the (occurred_time, event_id) of the event that set the quantity.
    latest_time: datetime | None = None
    latest_event_id: str = ""


EMPTY = AggregateState()


@exact
def apply(
    aggregation: Aggregation,
    state: AggregateState,
    *,
    value: Decimal | None,
    occurred_time: datetime,
    event_id: str,
    value_seen: bool = False,
) -> AggregateState:
    """The state after one more event. `value` is the meter's numeric value (None for COUNT and
    UNIQUE_COUNT); `value_seen` tells UNIQUE_COUNT whether the event's value was counted before."""
    if aggregation == Aggregation.COUNT:
        return AggregateState(state.quantity + 1)
    if aggregation == Aggregation.UNIQUE_COUNT:
        return state if value_seen else AggregateState(state.quantity + 1)
    assert value is not None and value >= 0, "meters validate numeric values"
    if aggregation == Aggregation.SUM:
        return AggregateState(state.quantity + value)
    if aggregation == Aggregation.MAX:
        return state if value <= state.quantity else AggregateState(value)
    assert aggregation == Aggregation.LATEST
    if state.latest_time is not None and (occurred_time, event_id) <= (
        state.latest_time,
        state.latest_event_id,
    ):
        return state
    return AggregateState(value, occurred_time, event_id)
