"""Incremental rating: the charge for an event is price(aggregate after) - price(aggregate before)
for its meter in its period, with the price version in force at the event's occurred_time.

Summed over a period under one price version this telescopes to price(final aggregate), because
price(empty aggregate) is 0, whatever the order the events arrive in. A repeated unique value or a
MAX that does not grow costs 0; a LATEST that drops or a VOLUME tier change can be negative, which
the forwarder turns into a ledger refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing_common.money import exact
from rating_service.domain.aggregation import AggregateState, Aggregation, apply
from rating_service.domain.meters import MeterValue
from rating_service.domain.pricing import Pricing, price


@dataclass(frozen=True, slots=True)
class Rated:
    before: AggregateState
    after: AggregateState
    charge: Decimal


@exact
def rate(
    aggregation: Aggregation,
    pricing: Pricing,
    before: AggregateState,
    value: MeterValue,
    *,
    occurred_time: datetime,
    event_id: str,
    value_seen: bool = False,
    included: Decimal = Decimal(0),
) -> Rated:
    after = apply(
        aggregation,
        before,
        value=value.number,
        occurred_time=occurred_time,
        event_id=event_id,
        value_seen=value_seen,
    )
    charge = price(pricing, after.quantity, included) - price(pricing, before.quantity, included)
    return Rated(before, after, charge)
