"""Parsing of command-line values: decimal amounts (never floats), times, durations, labels."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import typer
from google.protobuf import duration_pb2, timestamp_pb2

from billing_common.money import AmountError, to_amount


def amount(
    value: str, *, name: str = "AMOUNT", allow_zero: bool = False, allow_negative: bool = False
) -> str:
    """A money amount under the server's own rules (`billing_common.money.to_amount`): plain
    decimal notation, at most 18 fractional and 38 significant digits, positive unless the
    command says otherwise. Refused here, before any call, exactly when the server would refuse
    it; sent as typed. Never a float, never rescaled ("1e3" is refused, not read as 1000)."""
    try:
        to_amount(value, allow_zero=allow_zero, allow_negative=allow_negative)
    except AmountError as exc:
        raise typer.BadParameter(str(exc), param_hint=name) from None
    return value


def timestamp(value: str, *, name: str = "time") -> timestamp_pb2.Timestamp:
    """ISO 8601 ("2026-01-31", "2026-01-31T12:00:00Z", "...+02:00"); no offset means UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time (for example 2026-01-31T12:00:00Z)",
            param_hint=name,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(parsed)
    return ts


_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(value: str, *, name: str = "duration") -> duration_pb2.Duration:
    """ "90" or "90s", "15m", "2h", "7d", "500ms"."""
    match = _DURATION.match(value)
    if not match:
        raise typer.BadParameter(
            f"{value!r} is not a duration (for example 90s, 15m, 2h, 7d)", param_hint=name
        )
    number, unit = int(match.group(1)), match.group(2) or "s"
    d = duration_pb2.Duration()
    if unit == "ms":
        d.FromTimedelta(timedelta(milliseconds=number))
    else:
        d.FromTimedelta(timedelta(seconds=number * int(_UNITS[unit])))
    return d


def labels(values: list[str] | None, *, name: str = "--metadata") -> dict[str, str]:
    """Repeated KEY=VALUE options as a dict."""
    result: dict[str, str] = {}
    for item in values or []:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=name)
        result[key] = val
    return result
