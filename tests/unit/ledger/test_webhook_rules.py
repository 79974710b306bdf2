"""Webhook rules: backoff, outcome of an attempt, body and signature (pure, no I/O)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger_service.domain.model import EventType
from ledger_service.domain.webhooks import (
    DeliveryState,
    RetryPolicy,
    after_attempt,
    body,
    is_success,
    signature,
    verify,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_backoff_doubles_from_10_seconds_up_to_an_hour() -> None:
    policy = RetryPolicy()
    delays = [policy.delay_after(n).total_seconds() for n in range(1, 13)]
    assert delays == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]


@given(st.integers(min_value=1, max_value=10**6))
def test_backoff_never_exceeds_the_cap_nor_overflows(attempts: int) -> None:
    policy = RetryPolicy()
    assert policy.first_delay <= policy.delay_after(attempts) <= policy.delay_max


@pytest.mark.parametrize(
    ("attempts", "succeeded", "state", "next_in_s"),
    [
        (1, True, DeliveryState.DELIVERED, None),
        (12, True, DeliveryState.DELIVERED, None),
        (1, False, DeliveryState.PENDING, 10),
        (11, False, DeliveryState.PENDING, 3600),
        (12, False, DeliveryState.FAILED, None),
    ],
)
def test_outcome_of_an_attempt(
    attempts: int, succeeded: bool, state: DeliveryState, next_in_s: int | None
) -> None:
    outcome = after_attempt(RetryPolicy(), attempts, succeeded, NOW)
    assert outcome.state is state
    expected_next = None if next_in_s is None else NOW + timedelta(seconds=next_in_s)
    assert outcome.next_attempt_time == expected_next
    assert outcome.end_time == (None if state is DeliveryState.PENDING else NOW)


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        (200, True),
        (204, True),
        (299, True),
        (301, False),
        (404, False),
        (500, False),
        (None, False),
    ],
)
def test_only_2xx_is_delivered(status: int | None, ok: bool) -> None:
    assert is_success(status) is ok


def test_body_and_signature_as_documented() -> None:
    payload = body(
        event_id="e1",
        cursor=7,
        wallet_id="w1",
        event_type=EventType.ALERT_FIRED,
        occurred_time=NOW,
        data={"name": "25% left", "available": "240"},
    )
    assert json.loads(payload) == {
        "event_id": "e1",
        "cursor": 7,
        "wallet_id": "w1",
        "type": "ALERT_FIRED",
        "occurred_time": "2026-01-01T00:00:00Z",
        "data": {"name": "25% left", "available": "240"},
    }
    header = signature("whsec_x", 1767225600, payload)
    # The README's recipe, spelled out with the standard library.
    expected = hmac.new(b"whsec_x", b"1767225600." + payload, hashlib.sha256).hexdigest()
    assert header == f"t=1767225600,v1={expected}"
    assert verify("whsec_x", header, payload)
    assert not verify("whsec_y", header, payload)
    assert not verify("whsec_x", header.replace("t=1767225600", "t=1767225601"), payload)
    assert not verify("whsec_x", "garbage", payload)
