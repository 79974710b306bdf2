"""Meters: which events count (type plus property filters) and the value taken from them.

Filters are exact string equality on event properties, all of which must match. The aggregated
property of SUM, MAX and LATEST must be a plain non-negative decimal string; for UNIQUE_COUNT it is
any non-empty string (compared exactly).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from billing_common.errors import InvalidArgument
from billing_common.money import parse_amount
from rating_service.domain.aggregation import NUMERIC, Aggregation


@dataclass(frozen=True, slots=True)
class Meter:
    id: str
    key: str
    event_type: str
    aggregation: Aggregation
    value_property: str = ""
    filters: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


def matches(meter: Meter, event_type: str, properties: Mapping[str, str]) -> bool:
    if event_type != meter.event_type:
        return False
    return all(properties.get(k) == v for k, v in meter.filters.items())


@dataclass(frozen=True, slots=True)
class MeterValue:
    """What an event contributes: a number (SUM/MAX/LATEST), a key (UNIQUE_COUNT) or nothing."""

    number: Decimal | None = None
    unique_key: str = ""


def value_of(meter: Meter, properties: Mapping[str, str]) -> MeterValue:
    """The event's value for this meter, or InvalidArgument(INVALID_PROPERTY)."""
    name = meter.value_property
    if meter.aggregation == Aggregation.COUNT:
        return MeterValue()
    raw = properties.get(name, "")
    path = f"properties[{name}]"
    if not raw:
        raise InvalidArgument.field(
            path, f"meter {meter.key} needs this property", "INVALID_PROPERTY"
        )
    if meter.aggregation in NUMERIC:
        if not raw.isascii():  # Decimal() reads other scripts' digits; we take plain ASCII only
            raise InvalidArgument.field(path, "is not a plain decimal number", "INVALID_PROPERTY")
        try:
            number = parse_amount(raw, path, allow_zero=True)
        except InvalidArgument as exc:
            raise InvalidArgument(
                exc.message, reason="INVALID_PROPERTY", violations=exc.violations
            ) from exc
        return MeterValue(number=number)
    return MeterValue(unique_key=raw)
