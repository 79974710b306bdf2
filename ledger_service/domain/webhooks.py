"""Webhook rules: what is sent, how it is signed, and when a failed delivery is tried again.

Pure functions of their arguments (time included); the app layer reads the clock and the database,
the HTTP adapter sends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from ledger_service.domain.model import EventType


class DeliveryState(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    id: str
    wallet_id: str  # "" for every wallet
    url: str
    types: tuple[EventType, ...]  # () for every type
    description: str
    create_time: datetime
    delete_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    attempt_time: datetime
    status_code: int | None  # None: no HTTP answer (refused, timed out, in flight)
    error: str  # "" when delivered


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    endpoint_id: str
    event_id: str
    event_seq: int
    event_type: EventType
    wallet_id: str
    state: DeliveryState
    attempts: int
    last_status_code: int | None
    last_error: str
    next_attempt_time: datetime | None
    create_time: datetime
    end_time: datetime | None
    attempt_log: tuple[Attempt, ...] = ()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: first_delay after the first failure, doubling, at most delay_max;
    after attempts_max failed attempts the delivery FAILS for good."""

    first_delay: timedelta = timedelta(seconds=10)
    delay_max: timedelta = timedelta(hours=1)
    attempts_max: int = 12

    def __post_init__(self) -> None:
        assert self.first_delay > timedelta(0) and self.delay_max >= self.first_delay
        assert self.attempts_max >= 1

    def delay_after(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt (1-based)."""
        assert attempts >= 1
        # Cap the exponent before multiplying: 2**attempts overflows timedelta long before 12.
        doublings = min(attempts - 1, 32)
        return min(self.first_delay * (1 << doublings), self.delay_max)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long a finished delivery (with its attempt log) is kept after it ended: `delivered`
    for DELIVERED, `failed` (at least as long) for FAILED and CANCELLED, the ones an operator
    investigates. Pending deliveries are never purged. A purge round removes at most
    `batch_size_max` deliveries, oldest ending first, so the job's rounds stay short."""

    delivered: timedelta = timedelta(days=7)
    failed: timedelta = timedelta(days=30)
    batch_size_max: int = 1000

    def __post_init__(self) -> None:
        assert timedelta(0) <= self.delivered <= self.failed
        assert self.batch_size_max >= 1

    def cutoffs(self, now: datetime) -> dict[DeliveryState, datetime]:
        """Per finished state: deliveries that ended at or before this time are purged."""
        return {
            DeliveryState.DELIVERED: now - self.delivered,
            DeliveryState.FAILED: now - self.failed,
            DeliveryState.CANCELLED: now - self.failed,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the delivery row becomes after an attempt."""

    state: DeliveryState
    next_attempt_time: datetime | None
    end_time: datetime | None


def after_attempt(policy: RetryPolicy, attempts: int, succeeded: bool, now: datetime) -> Outcome:
    """The state after the `attempts`-th attempt (counting this one) succeeded or failed."""
    if succeeded:
        return Outcome(DeliveryState.DELIVERED, None, now)
    if attempts >= policy.attempts_max:
        return Outcome(DeliveryState.FAILED, None, now)
    return Outcome(DeliveryState.PENDING, now + policy.delay_after(attempts), None)


def is_success(status_code: int | None) -> bool:
    """2xx is delivered; anything else (redirects included: they are not followed) is retried."""
    return status_code is not None and 200 <= status_code < 300


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def body(
    *,
    event_id: str,
    cursor: int,
    wallet_id: str,
    event_type: EventType,
    occurred_time: datetime,
    data: dict[str, str],
) -> bytes:
    """The POST body: compact JSON with sorted keys (amounts in `data` are decimal strings)."""
    document = {
        "event_id": event_id,
        "cursor": cursor,
        "wallet_id": wallet_id,
        "type": event_type.value,
        "occurred_time": rfc3339(occurred_time),
        "data": data,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, timestamp_s: int, payload: bytes, *older: str) -> str:
    """The Billing-Signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256>` of `<t>.<body>`, keyed
    with the endpoint's secret (its UTF-8 bytes). The timestamp is signed too, so a receiver that
    rejects old timestamps is safe from replays. During a rotation's overlap window the header
    carries one more `v1=` per older secret still valid, after the current one
    (`t=...,v1=<new>,v1=<old>`, as Stripe does): a receiver accepts the request if any `v1`
    matches a secret it holds, so it can switch secrets at any time within the window."""
    signed = str(timestamp_s).encode() + b"." + payload
    digests = [
        hmac.new(key.encode(), signed, hashlib.sha256).hexdigest() for key in (secret, *older)
    ]
    return ",".join([f"t={timestamp_s}", *(f"v1={d}" for d in digests)])


def verify(secret: str, header: str, payload: bytes) -> bool:
    """What a receiver does (used by the tests and shown in the README): true if one of the
    header's `v1` signatures is this secret's."""
    items = [item.split("=", 1) for item in header.split(",") if "=" in item]
    stamps = [value for key, value in items if key == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    expected = signature(secret, int(stamps[0]), payload).rsplit("v1=", 1)[1]
    return any(hmac.compare_digest(expected, value) for key, value in items if key == "v1")


def signing_secrets(
    current: str, previous: str | None, previous_until: datetime | None, now: datetime
) -> tuple[str, ...]:
    """The secrets a delivery at `now` is signed with: the current one, and the one it replaced
    while the rotation's overlap window lasts (until `previous_until`, excluded)."""
    if previous is not None and previous_until is not None and now < previous_until:
        return (current, previous)
    return (current,)
