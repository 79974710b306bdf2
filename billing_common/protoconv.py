"""Conversions between protobuf well-known types and Python values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import Message

from billing_common.errors import InvalidArgument

# Times we accept: from the Unix epoch to the year 9000. The upper bound leaves room for grace
# periods and timeouts added to a time; beyond it arithmetic would overflow `datetime`.
TIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(9000, 1, 1, tzinfo=UTC)


def to_datetime(message: Message, field: str, path: str | None = None) -> datetime | None:
    """The aware UTC datetime of a Timestamp field, or None when the field is unset.
    Out of range (or malformed nanos) is INVALID_ARGUMENT / INVALID_TIME on `path`."""
    if not message.HasField(field):
        return None
    ts: timestamp_pb2.Timestamp = getattr(message, field)
    bad = InvalidArgument.field(
        path or field, "must be a valid time between 1970-01-01 and 9000-01-01", "INVALID_TIME"
    )
    if not 0 <= ts.nanos <= 999_999_999:
        raise bad
    try:
        value = ts.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise bad from exc
    if not TIME_MIN <= value < TIME_MAX:
        raise bad
    return value


def to_timedelta(message: Message, field: str, path: str | None = None) -> timedelta | None:
    if not message.HasField(field):
        return None
    value: duration_pb2.Duration = getattr(message, field)
    try:
        return value.ToTimedelta()
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument.field(
            path or field, "is not a valid duration", "INVALID_DURATION"
        ) from exc


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def duration(value: timedelta) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(value)
    return d
