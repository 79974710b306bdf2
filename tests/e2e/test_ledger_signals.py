"""Consumption signals and the depletion forecast over real gRPC on real PostgreSQL, with the
fake clock: signals fire once per episode (BURN_SPIKE, SLOWDOWN, DEPLETION_EXPECTED), are
durable wallet events in WatchWalletEvents, and re-arm when their condition clears."""

from __future__ import annotations

import json
from datetime import timedelta

from billing.ledger.v1 import ledger_pb2 as pb

from billing_common.protoconv import to_datetime
from tests.support.events import watch_events
from tests.support.ledger import debit_request, make_grant, make_wallet, rid

E = pb.WalletEventType
DAY = timedelta(days=1)
SIGNALS = (
    E.WALLET_EVENT_TYPE_BURN_SPIKE,
    E.WALLET_EVENT_TYPE_SLOWDOWN,
    E.WALLET_EVENT_TYPE_DEPLETION_EXPECTED,
)


def names(seen: list[pb.WalletEvent]) -> list[str]:
    return [E.Name(e.type).removeprefix("WALLET_EVENT_TYPE_") for e in seen if e.type in SIGNALS]


async def day(ledger_server, wallet_id: str, amount: str | None) -> list[str]:  # type: ignore[no-untyped-def]
    """A day passes, `amount` is used at its end (None: nothing), the sweeper evaluates: the
    signals it emitted for the wallet."""
    ledger_server.clock.advance(DAY)
    if amount is not None:
        await ledger_server.stub.Debit(debit_request(wallet_id, amount))
    emitted = await ledger_server.app.run_signals()
    return [e.type.value for w, e in emitted if w == wallet_id]


async def signal_events_before_marker(stub, wallet_id: str) -> list[pb.WalletEvent]:  # type: ignore[no-untyped-def]
    """Every event of the wallet up to a grant made now (the marker): what was emitted before
    it, read to a condition, not to a quiet stream."""
    marker = await make_grant(stub, wallet_id, "1")
    return await watch_events(
        stub,
        wallet_id,
        until=lambda seen: any(
            json.loads(e.data_json).get("grant_id") == marker.grant.grant_id for e in seen
        ),
    )


async def test_burn_spike_and_slowdown_fire_once_per_episode_and_re_arm(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100000")
    # 20 days of a steady 10 a day: no signal (the first 14 days have no baseline; then the
    # last day equals the baseline).
    for _ in range(20):
        assert await day(ledger_server, wallet.wallet_id, "10") == []
    # A spike: 50 > 3 x 10.
    assert await day(ledger_server, wallet.wallet_id, "50") == ["BURN_SPIKE"]
    # The next tick in the same episode (2 hours later, the spike still in the last day): none.
    ledger_server.clock.advance(timedelta(hours=2))
    assert [w for w, _ in await ledger_server.app.run_signals() if w == wallet.wallet_id] == []
    # Back to normal (the episode closes), then a second spike: a second event.
    assert await day(ledger_server, wallet.wallet_id, "10") == []
    assert await day(ledger_server, wallet.wallet_id, "60") == ["BURN_SPIKE"]
    # A day without usage: a slowdown (0 < a quarter of the baseline), once.
    assert await day(ledger_server, wallet.wallet_id, None) == ["SLOWDOWN"]
    ledger_server.clock.advance(timedelta(hours=2))
    assert [w for w, _ in await ledger_server.app.run_signals() if w == wallet.wallet_id] == []
    seen = await signal_events_before_marker(stub, wallet.wallet_id)
    assert names(seen) == ["BURN_SPIKE", "BURN_SPIKE", "SLOWDOWN"]
    spike = json.loads(next(e for e in seen if e.type == E.WALLET_EVENT_TYPE_BURN_SPIKE).data_json)
    assert spike["recent_daily_burn"] == "50"
    assert spike["baseline_daily_burn"] == "10"
    assert spike["spike_multiple"] == "3"
    policy = await stub.GetSignalPolicy(pb.GetSignalPolicyRequest(wallet_id=wallet.wallet_id))
    assert list(policy.open_signals) == [E.WALLET_EVENT_TYPE_SLOWDOWN]


async def test_a_deny_wallet_out_of_credits_is_depleted_not_slowing_down(ledger_server) -> None:
    """A DENY wallet whose credits ran out cannot burn: the usage that stops there is the
    wallet's limit, not the customer's churn, so no SLOWDOWN (its DEPLETED alert says it). Once
    credits arrive and usage still does not come back, the slowdown is real and fires."""
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "200")
    for _ in range(19):
        await day(ledger_server, wallet.wallet_id, "10")
    # The last 10 credits go on day 20; from then on nothing is available.
    await day(ledger_server, wallet.wallet_id, "10")
    balance = await stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))
    assert balance.balance.available == "0"
    assert await day(ledger_server, wallet.wallet_id, None) == []
    assert await day(ledger_server, wallet.wallet_id, None) == []
    # Credits again, and still no usage: that is a slowdown.
    await make_grant(stub, wallet.wallet_id, "100")
    assert await day(ledger_server, wallet.wallet_id, None) == ["SLOWDOWN"]


async def test_depletion_expected_fires_when_the_forecast_is_within_7_days(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "300")
    # 10 a day: after day k, 300 - 10k left, depletion in 30 - k days: within 7 at day 23.
    for _ in range(22):
        assert await day(ledger_server, wallet.wallet_id, "10") == []
    assert await day(ledger_server, wallet.wallet_id, "10") == ["DEPLETION_EXPECTED"]
    forecast = await stub.GetDepletionForecast(
        pb.GetDepletionForecastRequest(wallet_id=wallet.wallet_id)
    )
    now = ledger_server.clock.now()
    assert (forecast.available, forecast.daily_burn) == ("70", "10")
    assert (forecast.daily_burn_low, forecast.daily_burn_high) == ("10", "10")
    assert to_datetime(forecast, "depletion_time") == now + 7 * DAY
    assert to_datetime(forecast, "depletion_earliest_time") == now + 7 * DAY
    assert to_datetime(forecast, "horizon_end_time") == now + 90 * DAY
    # Still expected the next day: the same episode, nothing new.
    assert await day(ledger_server, wallet.wallet_id, "10") == []
    # Credits arrive (the episode closes), then run low again: a second event.
    more = await make_grant(stub, wallet.wallet_id, "1000")
    assert await day(ledger_server, wallet.wallet_id, "10") == []
    await stub.VoidGrant(pb.VoidGrantRequest(request_id=rid(), grant_id=more.grant.grant_id))
    assert await day(ledger_server, wallet.wallet_id, "10") == ["DEPLETION_EXPECTED"]  # 40 left
    seen = await signal_events_before_marker(stub, wallet.wallet_id)
    assert names(seen).count("DEPLETION_EXPECTED") == 2


async def test_a_policy_can_be_set_and_read_back_with_its_defaults(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    defaults = await stub.GetSignalPolicy(pb.GetSignalPolicyRequest(wallet_id=wallet.wallet_id))
    assert (defaults.policy.spike_multiple, defaults.policy.slowdown_fraction) == ("3", "0.25")
    assert (defaults.policy.depletion_days, defaults.policy.disabled) == (7, False)
    request = pb.SetSignalPolicyRequest(
        request_id=rid(),
        policy=pb.SignalPolicy(wallet_id=wallet.wallet_id, spike_multiple="2.5", depletion_days=3),
    )
    stored = await stub.SetSignalPolicy(request)
    assert stored.policy.spike_multiple == "2.5" and stored.policy.slowdown_fraction == "0.25"
    assert await stub.SetSignalPolicy(request) == stored  # a replay
    read = await stub.GetSignalPolicy(pb.GetSignalPolicyRequest(wallet_id=wallet.wallet_id))
    assert read.policy == stored.policy
    with_no_usage = await stub.GetDepletionForecast(
        pb.GetDepletionForecastRequest(wallet_id=wallet.wallet_id)
    )
    assert with_no_usage.daily_burn == "0" and not with_no_usage.HasField("depletion_time")


async def test_a_policy_without_warm_up_lets_a_new_wallet_warn_of_depletion_at_once(
    ledger_server,
) -> None:
    """By default a wallet raises no signal in its first 14 days; a policy with `warm_up_days` 0
    (kept, and shown by GetSignalPolicy) lets a new wallet that burns fast warn at once."""
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    await stub.Debit(debit_request(wallet.wallet_id, "40"))  # 60 left: depleted within 2 days
    assert [w for w, _ in await ledger_server.app.run_signals() if w == wallet.wallet_id] == []

    set_ = await stub.SetSignalPolicy(
        pb.SetSignalPolicyRequest(
            request_id=rid(), policy=pb.SignalPolicy(wallet_id=wallet.wallet_id, warm_up_days=0)
        )
    )
    assert set_.policy.HasField("warm_up_days") and set_.policy.warm_up_days == 0
    read = await stub.GetSignalPolicy(pb.GetSignalPolicyRequest(wallet_id=wallet.wallet_id))
    assert read.policy.warm_up_days == 0
    # Minutes later (the sweeper evaluates a wallet at most hourly, but a changed policy at its
    # next sweep).
    ledger_server.clock.advance(timedelta(minutes=5))
    emitted = [
        e.type.value for w, e in await ledger_server.app.run_signals() if w == wallet.wallet_id
    ]
    assert "DEPLETION_EXPECTED" in emitted
    assert "DEPLETION_EXPECTED" in names(await signal_events_before_marker(stub, wallet.wallet_id))

    default = await stub.GetSignalPolicy(
        pb.GetSignalPolicyRequest(wallet_id=(await make_wallet(stub)).wallet_id)
    )
    assert default.policy.warm_up_days == 14


async def test_a_wallet_whose_evaluation_fails_does_not_stop_the_sweep_of_the_others(
    ledger_server, ledger_db
) -> None:
    """One wallet the rules cannot evaluate (here a top-up rule stored before expire_after was
    bounded: its forecast top-up overflows the calendar) is logged and passed over; the rest of
    its round is evaluated. Failing the round instead retried it first at every tick (never
    marked evaluated, it stays the least recently evaluated): the others never again."""
    import asyncpg

    stub = ledger_server.stub
    poison, healthy = await make_wallet(stub), await make_wallet(stub)
    for w in (poison, healthy):
        await make_grant(stub, w.wallet_id, "100")
        await stub.Debit(debit_request(w.wallet_id, "50"))
    await stub.SetTopUpRule(
        pb.SetTopUpRuleRequest(
            request_id=rid(),
            rule=pb.TopUpRule(
                wallet_id=poison.wallet_id,
                threshold="20",
                amount="50",
                kind=pb.GRANT_KIND_PREPAID,
                payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
            ),
        )
    )
    conn = await asyncpg.connect(ledger_db)
    try:
        await conn.execute(
            "UPDATE topup_rules SET expire_after = interval '9000 years' WHERE wallet_id = $1",
            poison.wallet_id,
        )
        # The poisoned wallet first in the round (never evaluated), the healthy one after it.
        await conn.execute(
            "INSERT INTO wallet_signals (wallet_id, evaluate_time) VALUES ($1, $2)",
            healthy.wallet_id,
            ledger_server.clock.now() - 30 * DAY,
        )
        ledger_server.clock.advance(DAY / 2)
        await ledger_server.app.run_signals([poison.wallet_id, healthy.wallet_id])
        evaluated = await conn.fetch(
            "SELECT wallet_id FROM wallet_signals WHERE evaluate_time = $1",
            ledger_server.clock.now(),
        )
    finally:
        await conn.close()
    assert {r["wallet_id"] for r in evaluated} == {poison.wallet_id, healthy.wallet_id}
