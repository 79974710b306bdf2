"""Alerts, durable wallet events and automatic top-ups over real gRPC on real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import grpc
from billing.ledger.v1 import ledger_pb2 as pb

from billing_common.protoconv import duration
from tests.support.events import watch_events
from tests.support.ledger import balance, debit_request, make_grant, make_wallet, rid

E = pb.WalletEventType


def alerts(seen: list[pb.WalletEvent]) -> list[tuple[str, str]]:
    return [
        (E.Name(e.type).removeprefix("WALLET_EVENT_TYPE_"), json.loads(e.data_json)["name"])
        for e in seen
        if e.type in (E.WALLET_EVENT_TYPE_ALERT_FIRED, E.WALLET_EVENT_TYPE_ALERT_RECOVERED)
    ]


async def test_default_alerts_fire_once_each_and_again_after_recovery(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    rules = (await stub.ListAlertRules(pb.ListAlertRulesRequest(wallet_id=wallet.wallet_id))).rules
    assert [r.name for r in rules] == ["50% left", "25% left", "10% left", "depleted"]
    await make_grant(stub, wallet.wallet_id, "1000")
    for _ in range(10):  # 1000 -> 0 in steps of 100: reaches 500, 250 (passing), 100 and 0
        await stub.Debit(debit_request(wallet.wallet_id, "100"))
    # Each read ends with the event the last write is to cause; anything else before it is kept.
    first = await watch_events(
        stub,
        wallet.wallet_id,
        until=lambda seen: alerts(seen)[-1:] == [("ALERT_FIRED", "depleted")],
    )
    assert alerts(first) == [
        ("ALERT_FIRED", "50% left"),
        ("ALERT_FIRED", "25% left"),
        ("ALERT_FIRED", "10% left"),
        ("ALERT_FIRED", "depleted"),
    ]
    # A threshold fires when it is reached: exactly 500 and exactly 100 left.
    fired_at = {
        json.loads(e.data_json)["name"]: json.loads(e.data_json)["available"]
        for e in first
        if e.type == E.WALLET_EVENT_TYPE_ALERT_FIRED
    }
    assert fired_at == {"50% left": "500", "25% left": "200", "10% left": "100", "depleted": "0"}
    # A new grant of 1000: granted in force is now 2000, so 50% is 1000, 25% is 500, 10% is 200.
    await make_grant(stub, wallet.wallet_id, "1000")
    second = await watch_events(
        stub,
        wallet.wallet_id,
        after=first[-1].cursor,
        until=lambda seen: alerts(seen)[-1:] == [("ALERT_RECOVERED", "depleted")],
    )
    # 1000 available is above 500, 200 and 0, which re-arm; it only reaches 1000, so "50% left"
    # stays fired (re-arming needs the balance above the threshold).
    assert alerts(second) == [
        ("ALERT_RECOVERED", "25% left"),
        ("ALERT_RECOVERED", "10% left"),
        ("ALERT_RECOVERED", "depleted"),
    ]
    await stub.Debit(debit_request(wallet.wallet_id, "500"))  # 500: reaches 25% exactly
    third = await watch_events(
        stub, wallet.wallet_id, after=second[-1].cursor, until=lambda seen: bool(alerts(seen))
    )
    assert alerts(third) == [("ALERT_FIRED", "25% left")]
    # Resuming from any cursor gives exactly the rest, nothing twice.
    everything = await watch_events(stub, wallet.wallet_id, count=len(first + second + third))
    assert [e.cursor for e in everything] == [e.cursor for e in first + second + third]
    assert len({e.event_id for e in everything}) == len(everything)


async def test_absolute_rule_with_minimum_interval(ledger_server) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    await stub.SetAlertRules(
        pb.SetAlertRulesRequest(
            request_id=rid(),
            wallet_id=wallet.wallet_id,
            rules=[
                pb.AlertRule(
                    name="below 50",
                    kind=pb.ALERT_KIND_ABSOLUTE,
                    threshold="50",
                    min_interval=duration(timedelta(hours=1)),
                )
            ],
        )
    )
    await stub.Debit(debit_request(wallet.wallet_id, "60"))  # 40 < 50: fires
    await make_grant(stub, wallet.wallet_id, "20")  # 60: re-arms
    await stub.Debit(debit_request(wallet.wallet_id, "20"))  # 40 again, within the hour: held back
    clock.advance(timedelta(hours=1))
    await stub.Debit(debit_request(wallet.wallet_id, "1"))  # still below, interval passed: fires
    seen = await watch_events(stub, wallet.wallet_id, until=lambda seen: len(alerts(seen)) == 3)
    assert alerts(seen) == [
        ("ALERT_FIRED", "below 50"),
        ("ALERT_RECOVERED", "below 50"),
        ("ALERT_FIRED", "below 50"),
    ]
    # The third is the last debit's (39 left), not one held back within the hour (40 left).
    last_fired = [e for e in seen if e.type == E.WALLET_EVENT_TYPE_ALERT_FIRED][-1]
    assert json.loads(last_fired.data_json)["available"] == "39"


def topup_rule(wallet_id: str, **fields) -> pb.SetTopUpRuleRequest:  # type: ignore[no-untyped-def]
    rule = pb.TopUpRule(
        wallet_id=wallet_id,
        threshold="100",
        amount="500",
        kind=pb.GRANT_KIND_PREPAID,
        unit_price="0.009",
        currency="USD",
        payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
    )
    for name, value in fields.items():
        setattr(rule, name, value)
    return pb.SetTopUpRuleRequest(request_id=rid(), rule=rule)


async def test_exactly_one_top_up_when_200_concurrent_debits_cross_the_threshold(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "250")
    await stub.SetTopUpRule(topup_rule(wallet.wallet_id))
    # 200 debits of 1: the balance crosses below 100 once (at the 151st); the top-up of 500 lifts
    # it and it never falls below 100 again: 250 - 200 + 500 = 550.
    await asyncio.gather(*(stub.Debit(debit_request(wallet.wallet_id, "1")) for _ in range(200)))
    topups = (await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet.wallet_id))).top_ups
    assert [(t.amount, t.state, t.unit_price) for t in topups] == [
        ("500", pb.TOP_UP_STATE_COMPLETED, "0.009")
    ]
    assert (await balance(stub, wallet.wallet_id)).available == "550"
    grant = (await stub.GetGrant(pb.GetGrantRequest(grant_id=topups[0].grant_id))).grant
    assert (grant.cost_basis.unit_price, grant.cost_basis.currency) == ("0.009", "USD")
    assert (await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))).consistent


async def test_caps_limit_top_ups_and_a_shortfall_is_covered_in_blocks(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "50")
    await stub.SetTopUpRule(
        topup_rule(wallet.wallet_id, threshold="0", amount="100", daily_cap="250")
    )
    # DENY wallet, 50 left, a debit of 180: covered by two blocks of 100 bought at once.
    entry = (await stub.Debit(debit_request(wallet.wallet_id, "180"))).entry
    assert entry.available_after == "70"
    # The cap leaves 50 for today: a shortfall needing a block of 100 is refused.
    try:
        await stub.Debit(debit_request(wallet.wallet_id, "100"))
        raise AssertionError("the daily cap must stop the top-up")
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION
    topups = (await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet.wallet_id))).top_ups
    assert [t.amount for t in topups] == ["200"]
    ledger_server.clock.advance(timedelta(days=1))  # a new day: the cap resets
    assert (await stub.Debit(debit_request(wallet.wallet_id, "100"))).entry.available_after == "70"


async def test_pending_top_up_confirmed_then_failed_backs_off(ledger_server) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "200")
    await stub.SetTopUpRule(topup_rule(wallet.wallet_id, payment=pb.TOP_UP_PAYMENT_ON_CONFIRMATION))
    await stub.Debit(debit_request(wallet.wallet_id, "150"))  # 50 < 100: a pending top-up
    await stub.Debit(debit_request(wallet.wallet_id, "10"))  # still below: no second one
    (pending,) = (await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet.wallet_id))).top_ups
    assert pending.state == pb.TOP_UP_STATE_PENDING
    assert (await balance(stub, wallet.wallet_id)).available == "40"
    confirmed = (
        await stub.ConfirmTopUp(
            pb.ConfirmTopUpRequest(request_id=rid(), top_up_id=pending.top_up_id)
        )
    ).top_up
    assert (confirmed.state, bool(confirmed.grant_id)) == (pb.TOP_UP_STATE_COMPLETED, True)
    assert (await balance(stub, wallet.wallet_id)).available == "540"

    await stub.Debit(debit_request(wallet.wallet_id, "500"))  # 40: the next pending top-up
    second = (await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet.wallet_id))).top_ups[0]
    failed = (
        await stub.FailTopUp(
            pb.FailTopUpRequest(
                request_id=rid(), top_up_id=second.top_up_id, reason="card declined"
            )
        )
    ).top_up
    assert (failed.state, failed.failure_reason) == (pb.TOP_UP_STATE_FAILED, "card declined")
    await stub.Debit(debit_request(wallet.wallet_id, "1"))  # within the back-off: no new attempt
    assert (
        len((await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet.wallet_id))).top_ups) == 2
    )
    clock.advance(timedelta(minutes=1))
    await stub.Debit(debit_request(wallet.wallet_id, "1"))  # back-off over: tries again
    latest = (await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet.wallet_id))).top_ups
    assert [t.state for t in latest] == [
        pb.TOP_UP_STATE_PENDING,
        pb.TOP_UP_STATE_FAILED,
        pb.TOP_UP_STATE_COMPLETED,
    ]
    kinds = [
        E.Name(e.type)
        for e in await watch_events(
            stub,
            wallet.wallet_id,
            types=[
                E.WALLET_EVENT_TYPE_TOP_UP_CREATED,
                E.WALLET_EVENT_TYPE_TOP_UP_COMPLETED,
                E.WALLET_EVENT_TYPE_TOP_UP_FAILED,
            ],
            count=5,
        )
    ]
    assert kinds == [
        "WALLET_EVENT_TYPE_TOP_UP_CREATED",
        "WALLET_EVENT_TYPE_TOP_UP_COMPLETED",
        "WALLET_EVENT_TYPE_TOP_UP_CREATED",
        "WALLET_EVENT_TYPE_TOP_UP_FAILED",
        "WALLET_EVENT_TYPE_TOP_UP_CREATED",
    ]


async def test_watch_never_skips_an_event_that_commits_after_a_later_one(
    ledger_server, ledger_db
) -> None:
    """Cursors are taken at insert and seen at commit: an event whose transaction is still open
    must hold the stream back rather than be skipped when a later event commits first."""
    import asyncpg

    stub = ledger_server.stub
    held, other = await make_wallet(stub), await make_wallet(stub)
    conn = await asyncpg.connect(ledger_db)
    try:
        slow = conn.transaction()
        await slow.start()
        # (Another wallet: the event's foreign key share-locks its wallet row until commit.)
        await conn.execute(
            "INSERT INTO wallet_events (id, wallet_id, type, occurred_time, book_time, data)"
            " VALUES ('slow-event', $1, 'GRANT_CREATED', now(), now(), '{}'::jsonb)",
            held.wallet_id,
        )
        held_cursor = await conn.fetchval("SELECT seq FROM wallet_events WHERE id = 'slow-event'")
        await make_grant(stub, other.wallet_id, "10")  # a later cursor, committed first
        # Held back: the horizon the watch reads up to stays below the open transaction's cursor.
        assert await ledger_server.app.event_horizon(fresh=True) < held_cursor
        watch = asyncio.ensure_future(watch_events(stub, "", count=2))
        await slow.commit()
        after = await watch
    finally:
        await conn.close()
    # The stream opened while the transaction was open: the held event first, then the later one.
    assert after[0].event_id == "slow-event"
    assert [e.cursor for e in after] == sorted(e.cursor for e in after)


async def test_a_shortfall_that_is_not_a_whole_number_of_blocks_buys_the_next_whole_block(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await stub.SetTopUpRule(topup_rule(wallet.wallet_id, threshold="0", amount="3"))
    # Nothing left, a debit of 1: one block of 3 (1/3 of a block is not a whole number).
    assert (await stub.Debit(debit_request(wallet.wallet_id, "1"))).entry.available_after == "2"
    # 2 left, a debit of 9.5: 7.5 short, three more blocks.
    assert (await stub.Debit(debit_request(wallet.wallet_id, "9.5"))).entry.available_after == "1.5"
    topups = (await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet.wallet_id))).top_ups
    assert sorted(t.amount for t in topups) == ["3", "9"]
    assert (await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))).consistent
