"""Each service's bounds live in its `limits` module; settings outside them are refused at start
with the setting's name, and the rating service's fan-out to the ledger is bounded."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from ledger_service import limits as ledger_limits
from ledger_service.config import LedgerSettings
from rating_service import limits as rating_limits
from rating_service.adapters.ledger_client import LedgerClient
from rating_service.config import RatingSettings


def test_default_settings_are_within_limits() -> None:
    server = ledger_limits.check(LedgerSettings())
    assert server.message_bytes_max == ledger_limits.MESSAGE_BYTES_MAX == 4 * 1024 * 1024
    assert server.concurrent_rpcs_max == ledger_limits.CONCURRENT_RPCS_MAX
    assert rating_limits.check(RatingSettings()).message_bytes_max == 4 * 1024 * 1024


@pytest.mark.parametrize(
    "changes",
    [
        {"message_bytes_max": 0},
        {"message_bytes_max": 65 * 1024 * 1024},
        {"concurrent_rpcs_max": 0},
        {"write_queue_max": 0},
        {"write_in_flight": 0},
        {"keepalive_s": 0.0},
        {"connection_idle_s": -1.0},
        {"pool_size": 1},
        {"pool_size": 0},
        {"pool_size": 100_000},
        {"shutdown_grace_s": -1.0},
        {"sweep_interval_s": float("nan")},
        {"webhook_timeout_s": -5.0},
    ],
)
def test_settings_outside_limits_are_refused_by_name(changes: dict[str, Any]) -> None:
    (name,) = changes
    with pytest.raises(ValueError, match=name):
        ledger_limits.check(replace(LedgerSettings(), **changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"pool_size": 1, "forward_concurrency": 1},
        {"pool_size": 100_000},
        {"ledger_timeout_s": -1.0},
        {"forward_idle_s": float("inf")},
        {"sync_hold_s": -60},
        {"forward_batch_size": 1001},
    ],
)
def test_rating_settings_outside_limits_are_refused_by_name(changes: dict[str, Any]) -> None:
    name = next(iter(changes))
    with pytest.raises(ValueError, match=name):
        rating_limits.check(replace(RatingSettings(), **changes))


async def test_grant_kind_lookups_keep_at_most_the_bound_in_flight() -> None:
    client = LedgerClient("127.0.0.1:1", calls_max=3)
    in_flight = peak = 0

    async def get_grant(request: Any, timeout: float) -> Any:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)  # let the other lookups start, as a real call would
        in_flight -= 1
        return SimpleNamespace(grant=SimpleNamespace(kind=0))

    client.stub = SimpleNamespace(GetGrant=get_grant)  # type: ignore[assignment]
    try:
        kinds = await client.grant_kinds([f"g{i}" for i in range(50)] + ["g0"])
    finally:
        await client.close()
    assert len(kinds) == 50
    assert peak == 3
