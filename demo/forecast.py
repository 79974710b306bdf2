"""The insight part of the demo: the depletion forecast of the ledger scenario's wallet, and why
it raises no signal yet."""

from __future__ import annotations

import grpc
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc

from demo.show import heading, table


def when(message: object, field: str) -> str:
    """A Timestamp field to the minute, or "not within the horizon" when unset."""
    if not message.HasField(field):  # type: ignore[attr-defined]
        return "not within the horizon"
    return getattr(message, field).ToDatetime().strftime("%Y-%m-%d %H:%M UTC")  # type: ignore[no-any-return]


async def show(channel: grpc.aio.Channel, wallet_id: str) -> None:
    stub = ledger_pb2_grpc.LedgerServiceStub(channel)
    f = await stub.GetDepletionForecast(pb.GetDepletionForecastRequest(wallet_id=wallet_id))
    print(heading("Depletion forecast (billing report forecast WALLET)"))
    print(
        table(
            ["", ""],
            [
                ["available now", f.available],
                ["daily burn", f"{f.daily_burn} (range {f.daily_burn_low} to {f.daily_burn_high})"],
                ["depletion", when(f, "depletion_time")],
                ["  earliest", when(f, "depletion_earliest_time")],
                ["  latest", when(f, "depletion_latest_time")],
                ["overage implied", f.overage],
            ],
        )
    )
    print(
        "The wallet is minutes old, so its burn is today's usage carried forward "
        "(a day's history; the burn weighs up to 28 days)."
    )
    for e in f.expiries:
        expires = when(e, "expire_time")
        print(f"Expires unused first: {e.amount} credits of grant {e.grant_id[:8]} on {expires}")
    if f.top_ups:
        first = ", ".join(f"{t.amount} on {when(t, 'time')}" for t in f.top_ups[:3])
        print(
            f"The top-up rule would make {len(f.top_ups)} top-ups within the horizon"
            f" (the first: {first})."
        )
    # The demo runs on the real clock: its wallet is minutes old, so its burn is today's usage
    # alone and signals (which need 14 days of history for a baseline) cannot fire honestly.
    policy = await stub.GetSignalPolicy(pb.GetSignalPolicyRequest(wallet_id=wallet_id))
    p = policy.policy
    print(
        f"\nSignals: burn spike above {p.spike_multiple}x the baseline, slowdown below "
        f"{p.slowdown_fraction}x, depletion expected within {p.depletion_days} days. None yet: "
        "a wallet raises no signal in its first 14 days (no baseline); "
        "tests/e2e/test_ledger_signals.py shows them firing with a fake clock."
    )
