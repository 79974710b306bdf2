"""The insight part of the demo: the depletion forecast of the ledger scenario's wallet, and the
signal it raises (with the wallet's warm-up turned off: it is minutes old)."""

from __future__ import annotations

import asyncio
import json

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
    await signal(stub, wallet_id)


SIGNAL_WAIT_S = 60.0  # the demo's ledger sweeps every 2 s; a minute means something is wrong


async def signal(stub: ledger_pb2_grpc.LedgerServiceStub, wallet_id: str) -> None:
    """The wallet's signal policy with no warm-up (a demo wallet is minutes old; by default none
    fires in a wallet's first 14 days), then the first signal the ledger's sweeper raises, read
    from WatchWalletEvents as a product would."""
    set_ = await stub.SetSignalPolicy(
        pb.SetSignalPolicyRequest(
            request_id=f"demo-signal-policy-{wallet_id}",
            policy=pb.SignalPolicy(wallet_id=wallet_id, warm_up_days=0),
        )
    )
    p = set_.policy
    print(heading("Signals (SetSignalPolicy, WatchWalletEvents)"))
    print(
        f"Burn spike above {p.spike_multiple}x the baseline, slowdown below "
        f"{p.slowdown_fraction}x, depletion expected within {p.depletion_days} days. A wallet "
        "raises none in its first 14 days by default (no baseline yet); this minutes-old demo "
        "wallet's policy sets warm_up_days to 0."
    )
    # With no history before today, any usage is above 3x its baseline (0): a spike, the
    # adoption signal. DEPLETION_EXPECTED follows when the forecast reaches zero within the days.
    watch = stub.WatchWalletEvents(
        pb.WatchWalletEventsRequest(
            wallet_id=wallet_id,
            types=[pb.WALLET_EVENT_TYPE_BURN_SPIKE, pb.WALLET_EVENT_TYPE_DEPLETION_EXPECTED],
        )
    )
    try:
        async with asyncio.timeout(SIGNAL_WAIT_S):
            event = (await watch.read()).event
    except TimeoutError:
        raise RuntimeError(
            f"no signal within {SIGNAL_WAIT_S:.0f} s (is the ledger's sweeper on?)"
        ) from None
    finally:
        watch.cancel()
    data = json.loads(event.data_json)
    kind = pb.WalletEventType.Name(event.type).removeprefix("WALLET_EVENT_TYPE_")
    print(
        f"{kind} at {event.occurred_time.ToDatetime():%Y-%m-%d %H:%M:%S} UTC (a durable wallet "
        f"event, also sent to webhooks): {json.dumps(data)}"
    )
