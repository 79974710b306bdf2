"""What a mutating RPC returns is what a read right after it shows: the state in a response is the
state at the write's own time, not at a time read before the write took its locks. A replay returns
the stored response, so a wrong state there would be kept for ever.

The server runs on a clock that moves forward on every read, as real time does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from google.protobuf.message import Message

from billing_common.protoconv import duration, timestamp
from tests.support.ledger import TickingClock, debit_request, make_grant, make_wallet, rid
from tests.support.servers import START

Stub = object
Case = Callable[[Stub], Awaitable[tuple[Message, Message]]]


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock(START)


async def get_grant(stub, grant_id: str) -> pb.Grant:  # type: ignore[no-untyped-def]
    return (await stub.GetGrant(pb.GetGrantRequest(grant_id=grant_id))).grant


async def get_hold(stub, hold_id: str) -> pb.Hold:  # type: ignore[no-untyped-def]
    return (await stub.GetHold(pb.GetHoldRequest(hold_id=hold_id))).hold


async def funded_wallet(stub, amount: str = "100") -> str:  # type: ignore[no-untyped-def]
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, amount)
    return wallet.wallet_id


async def new_hold(stub, wallet_id: str) -> pb.Hold:  # type: ignore[no-untyped-def]
    request = pb.CreateHoldRequest(
        request_id=rid(), wallet_id=wallet_id, amount="10", timeout=duration(timedelta(minutes=5))
    )
    return (await stub.CreateHold(request)).hold


async def create_wallet(stub):  # type: ignore[no-untyped-def]
    request = pb.CreateWalletRequest(
        request_id=rid(), customer_id=rid(), unit="CREDITS", overage_policy=pb.OVERAGE_POLICY_DENY
    )
    written = (await stub.CreateWallet(request)).wallet
    read = (await stub.GetWallet(pb.GetWalletRequest(wallet_id=written.wallet_id))).wallet
    return written, read


async def create_grant_effective_now(stub):  # type: ignore[no-untyped-def]
    wallet = await make_wallet(stub)
    written = (await make_grant(stub, wallet.wallet_id, "100")).grant
    return written, await get_grant(stub, written.grant_id)


async def create_grant_effective_later(stub):  # type: ignore[no-untyped-def]
    wallet = await make_wallet(stub)
    later = START + timedelta(days=1)
    written = (await make_grant(stub, wallet.wallet_id, "100", effective=later)).grant
    return written, await get_grant(stub, written.grant_id)


async def void_grant(stub):  # type: ignore[no-untyped-def]
    wallet = await make_wallet(stub)
    grant = (await make_grant(stub, wallet.wallet_id, "100")).grant
    written = (
        await stub.VoidGrant(pb.VoidGrantRequest(request_id=rid(), grant_id=grant.grant_id))
    ).grant
    return written, await get_grant(stub, grant.grant_id)


async def create_hold(stub):  # type: ignore[no-untyped-def]
    written = await new_hold(stub, await funded_wallet(stub))
    return written, await get_hold(stub, written.hold_id)


async def capture_hold(stub):  # type: ignore[no-untyped-def]
    hold = await new_hold(stub, await funded_wallet(stub))
    request = pb.CaptureHoldRequest(request_id=rid(), hold_id=hold.hold_id, amount="4")
    written = (await stub.CaptureHold(request)).hold
    return written, await get_hold(stub, hold.hold_id)


async def release_hold(stub):  # type: ignore[no-untyped-def]
    hold = await new_hold(stub, await funded_wallet(stub))
    request = pb.ReleaseHoldRequest(request_id=rid(), hold_id=hold.hold_id)
    written = (await stub.ReleaseHold(request)).hold
    return written, await get_hold(stub, hold.hold_id)


async def pending_topup(stub) -> tuple[str, pb.TopUp]:  # type: ignore[no-untyped-def]
    wallet_id = await funded_wallet(stub, "200")
    rule = pb.TopUpRule(
        wallet_id=wallet_id,
        threshold="100",
        amount="500",
        kind=pb.GRANT_KIND_PREPAID,
        payment=pb.TOP_UP_PAYMENT_ON_CONFIRMATION,
    )
    await stub.SetTopUpRule(pb.SetTopUpRuleRequest(request_id=rid(), rule=rule))
    await stub.Debit(debit_request(wallet_id, "150"))  # below the threshold: a pending top-up
    (pending,) = (await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet_id))).top_ups
    return wallet_id, pending


async def listed_topup(stub, wallet_id: str, top_up_id: str) -> pb.TopUp:  # type: ignore[no-untyped-def]
    listed = (await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet_id))).top_ups
    (found,) = [t for t in listed if t.top_up_id == top_up_id]
    return found


async def confirm_topup(stub):  # type: ignore[no-untyped-def]
    wallet_id, pending = await pending_topup(stub)
    request = pb.ConfirmTopUpRequest(request_id=rid(), top_up_id=pending.top_up_id)
    written = (await stub.ConfirmTopUp(request)).top_up
    return written, await listed_topup(stub, wallet_id, pending.top_up_id)


async def fail_topup(stub):  # type: ignore[no-untyped-def]
    wallet_id, pending = await pending_topup(stub)
    request = pb.FailTopUpRequest(request_id=rid(), top_up_id=pending.top_up_id, reason="declined")
    written = (await stub.FailTopUp(request)).top_up
    return written, await listed_topup(stub, wallet_id, pending.top_up_id)


async def set_alert_rules(stub):  # type: ignore[no-untyped-def]
    wallet_id = await funded_wallet(stub)
    await stub.Debit(debit_request(wallet_id, "95"))
    request = pb.SetAlertRulesRequest(
        request_id=rid(),
        wallet_id=wallet_id,
        rules=[pb.AlertRule(kind=pb.ALERT_KIND_ABSOLUTE, threshold="10", name="low")],
    )
    written = pb.ListAlertRulesResponse(rules=(await stub.SetAlertRules(request)).rules)
    read = await stub.ListAlertRules(pb.ListAlertRulesRequest(wallet_id=wallet_id))
    return written, read


async def new_schedule(stub, wallet_id: str) -> pb.AllotmentSchedule:  # type: ignore[no-untyped-def]
    request = pb.CreateAllotmentScheduleRequest(
        request_id=rid(),
        schedule=pb.AllotmentSchedule(
            wallet_id=wallet_id,
            amount="100",
            kind=pb.GRANT_KIND_PROMOTIONAL,
            cadence=pb.ALLOTMENT_CADENCE_MONTHLY,
            anchor_time=timestamp(START),
            expiry=pb.ALLOTMENT_EXPIRY_END_OF_PERIOD,
        ),
    )
    return (await stub.CreateAllotmentSchedule(request)).schedule


async def listed_schedule(stub, wallet_id: str) -> pb.AllotmentSchedule:  # type: ignore[no-untyped-def]
    request = pb.ListAllotmentSchedulesRequest(wallet_id=wallet_id)
    (found,) = (await stub.ListAllotmentSchedules(request)).schedules
    return found


async def create_schedule(stub):  # type: ignore[no-untyped-def]
    wallet = await make_wallet(stub)
    written = await new_schedule(stub, wallet.wallet_id)
    return written, await listed_schedule(stub, wallet.wallet_id)


async def end_schedule(stub):  # type: ignore[no-untyped-def]
    wallet = await make_wallet(stub)
    schedule = await new_schedule(stub, wallet.wallet_id)
    request = pb.EndAllotmentScheduleRequest(request_id=rid(), schedule_id=schedule.schedule_id)
    written = (await stub.EndAllotmentSchedule(request)).schedule
    return written, await listed_schedule(stub, wallet.wallet_id)


async def create_webhook_endpoint(stub):  # type: ignore[no-untyped-def]
    wallet = await make_wallet(stub)
    request = pb.CreateWebhookEndpointRequest(
        request_id=rid(), wallet_id=wallet.wallet_id, url="https://example.com/hooks"
    )
    written = (await stub.CreateWebhookEndpoint(request)).endpoint
    listed = await stub.ListWebhookEndpoints(
        pb.ListWebhookEndpointsRequest(wallet_id=wallet.wallet_id)
    )
    (read,) = listed.endpoints
    return written, read


async def set_topup_rule(stub):  # type: ignore[no-untyped-def]
    wallet = await make_wallet(stub)
    rule = pb.TopUpRule(
        wallet_id=wallet.wallet_id,
        threshold="10",
        amount="100",
        kind=pb.GRANT_KIND_PREPAID,
        payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
    )
    written = (await stub.SetTopUpRule(pb.SetTopUpRuleRequest(request_id=rid(), rule=rule))).rule
    read = await stub.GetTopUpRule(pb.GetTopUpRuleRequest(wallet_id=wallet.wallet_id))
    return written, read.rule


# Every mutating RPC whose response carries an object a read returns too. (ClearTopUpRule's rule
# can no longer be read; DeleteWebhookEndpoint's endpoint is no longer listed; Debit, DebitBatch
# and RefundDebit return journal entries, whose reads are covered elsewhere.)
CASES: dict[str, Case] = {
    "CreateWallet": create_wallet,
    "CreateGrant effective now": create_grant_effective_now,
    "CreateGrant effective later": create_grant_effective_later,
    "VoidGrant": void_grant,
    "CreateHold": create_hold,
    "CaptureHold": capture_hold,
    "ReleaseHold": release_hold,
    "ConfirmTopUp": confirm_topup,
    "FailTopUp": fail_topup,
    "SetTopUpRule": set_topup_rule,
    "SetAlertRules": set_alert_rules,
    "CreateAllotmentSchedule": create_schedule,
    "EndAllotmentSchedule": end_schedule,
    "CreateWebhookEndpoint": create_webhook_endpoint,
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
async def test_a_write_returns_what_a_read_right_after_it_shows(ledger_server, case: str) -> None:
    written, read = await CASES[case](ledger_server.stub)
    assert written == read
