"""Authorize over gRPC on the real server and database: the answer (allowed or denied, why, what
remains), a pure check that writes nothing, a hold placed once per request id, a denial that
keeps no request id, the overage policy, and the scope a hold needs."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from billing.auth.v1 import api_keys_pb2 as kpb
from billing.auth.v1 import api_keys_pb2_grpc
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc

from billing_common.protoconv import duration
from tests.support.channels import open_channel
from tests.support.errors import reason_of
from tests.support.ledger import balance, make_grant, make_wallet, rid
from tests.support.servers import RunningLedger


def check(wallet_id: str, amount: str) -> pb.AuthorizeRequest:
    return pb.AuthorizeRequest(wallet_id=wallet_id, amount=amount, feature="report")


def with_hold(wallet_id: str, amount: str, request_id: str = "") -> pb.AuthorizeRequest:
    return pb.AuthorizeRequest(
        request_id=request_id or rid(),
        wallet_id=wallet_id,
        amount=amount,
        feature="report",
        hold=True,
        hold_timeout=duration(timedelta(minutes=10)),
    )


async def entries(stub: ledger_pb2_grpc.LedgerServiceStub, wallet_id: str) -> list[pb.Entry]:
    return list((await stub.ListEntries(pb.ListEntriesRequest(wallet_id=wallet_id))).entries)


async def test_a_check_answers_allowed_or_denied_with_what_remains_and_writes_nothing(
    ledger_server: RunningLedger,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    before = await entries(stub, wallet.wallet_id)

    ok = await stub.Authorize(check(wallet.wallet_id, "60"))
    assert (ok.allowed, ok.reason) == (True, pb.AUTHORIZE_REASON_ALLOWED)
    assert (ok.available_before, ok.available_after, ok.shortfall) == ("100", "40", "0")
    assert not ok.HasField("hold") and ok.wallet_id == wallet.wallet_id

    no = await stub.Authorize(check(wallet.wallet_id, "100.25"))
    assert (no.allowed, no.reason) == (False, pb.AUTHORIZE_REASON_INSUFFICIENT_CREDITS)
    assert (no.available_before, no.available_after, no.shortfall) == ("100", "100", "0.25")

    assert await entries(stub, wallet.wallet_id) == before
    assert (await balance(stub, wallet.wallet_id)).available == "100"


async def test_a_wallet_can_be_named_by_its_customer_and_unit(
    ledger_server: RunningLedger,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub, unit="USD")
    await make_grant(stub, wallet.wallet_id, "5")
    by_customer = pb.AuthorizeRequest(customer_id=wallet.customer_id, unit="USD", amount="5")
    answer = await stub.Authorize(by_customer)
    assert (answer.allowed, answer.wallet_id) == (True, wallet.wallet_id)
    by_customer.request_id, by_customer.hold = rid(), True
    held = await stub.Authorize(by_customer)
    assert held.allowed and held.hold.wallet_id == wallet.wallet_id
    assert (await balance(stub, wallet.wallet_id)).held == "5"


async def test_an_allowed_hold_is_placed_once_per_request_id(
    ledger_server: RunningLedger,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    request = with_hold(wallet.wallet_id, "70")
    first = await stub.Authorize(request)
    assert first.allowed and first.hold.amount == "70" and first.available_after == "30"
    assert first.hold.state == pb.HOLD_STATE_ACTIVE and first.entry.type == pb.ENTRY_TYPE_HOLD
    assert await stub.Authorize(request) == first  # the replay: the same answer, no new hold
    b = await balance(stub, wallet.wallet_id)
    assert (b.available, b.held) == ("30", "70")

    changed = with_hold(wallet.wallet_id, "10", request_id=request.request_id)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.Authorize(changed)
    assert reason_of(raised.value)[0] == "REQUEST_ID_CONFLICT"

    captured = await stub.CaptureHold(
        pb.CaptureHoldRequest(request_id=rid(), hold_id=first.hold.hold_id, amount="70")
    )
    assert captured.hold.state == pb.HOLD_STATE_CAPTURED


async def test_a_denied_hold_writes_nothing_and_its_request_id_asks_again(
    ledger_server: RunningLedger,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "10")
    before = await entries(stub, wallet.wallet_id)
    request = with_hold(wallet.wallet_id, "25")
    denied = await stub.Authorize(request)
    assert (denied.allowed, denied.reason, denied.shortfall) == (
        False,
        pb.AUTHORIZE_REASON_INSUFFICIENT_CREDITS,
        "15",
    )
    assert not denied.HasField("hold") and not denied.HasField("entry")
    assert await entries(stub, wallet.wallet_id) == before
    await make_grant(stub, wallet.wallet_id, "15")
    allowed = await stub.Authorize(request)  # the same request id, after a top-up
    assert allowed.allowed and allowed.hold.amount == "25"


async def test_an_overage_wallet_is_allowed_beyond_its_credits_and_holds_what_they_cover(
    ledger_server: RunningLedger,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub, policy=pb.OVERAGE_POLICY_ALLOW_OVERAGE)
    await make_grant(stub, wallet.wallet_id, "10")
    answer = await stub.Authorize(check(wallet.wallet_id, "25"))
    assert (answer.allowed, answer.reason, answer.overage_amount, answer.available_after) == (
        True,
        pb.AUTHORIZE_REASON_ALLOWED_WITH_OVERAGE,
        "15",
        "0",
    )
    held = await stub.Authorize(with_hold(wallet.wallet_id, "25"))
    assert (held.allowed, held.hold.amount, held.overage_amount) == (True, "10", "15")
    captured = await stub.CaptureHold(
        pb.CaptureHoldRequest(request_id=rid(), hold_id=held.hold.hold_id, amount="25")
    )
    assert captured.entry.amount == "-25"
    b = await balance(stub, wallet.wallet_id)
    assert (b.available, b.overage) == ("0", "15")


async def test_a_read_key_may_check_but_not_hold(ledger_server: RunningLedger) -> None:
    keys = api_keys_pb2_grpc.ApiKeyServiceStub(ledger_server.channel)
    made = await keys.CreateApiKey(
        kpb.CreateApiKeyRequest(request_id=rid(), name="reader", scopes=["read"])
    )
    channel = open_channel(ledger_server.target, key=made.secret)
    try:
        reader = ledger_pb2_grpc.LedgerServiceStub(channel)
        wallet = await make_wallet(ledger_server.stub)
        await make_grant(ledger_server.stub, wallet.wallet_id, "10")
        assert (await reader.Authorize(check(wallet.wallet_id, "5"))).allowed
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await reader.Authorize(with_hold(wallet.wallet_id, "5"))
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert reason_of(raised.value)[0] == "SCOPE_MISSING"
        assert "'write'" in (raised.value.details() or "")
        assert (await balance(ledger_server.stub, wallet.wallet_id)).held == "0"
    finally:
        await channel.close()


async def test_a_deny_wallet_that_refills_itself_is_allowed_as_its_debit_would_be(
    ledger_server: RunningLedger,
) -> None:
    """A product gating each action on Authorize must not block a customer whose wallet buys
    blocks of credits when it runs short: the check answers as the debit would (the top-up it
    buys first), buying nothing; with a hold, the block is bought and the amount held."""
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "10")
    await stub.SetTopUpRule(
        pb.SetTopUpRuleRequest(
            request_id=rid(),
            rule=pb.TopUpRule(
                wallet_id=wallet.wallet_id,
                threshold="0",
                amount="100",
                kind=pb.GRANT_KIND_PREPAID,
                priority=1,
                unit_price="0.9",
                currency="USD",
                payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
            ),
        )
    )

    checked = await stub.Authorize(check(wallet.wallet_id, "25"))
    assert (checked.allowed, checked.reason) == (True, pb.AUTHORIZE_REASON_ALLOWED_WITH_TOP_UP)
    assert (checked.top_up_amount, checked.available_after) == ("100", "85")
    assert (await balance(stub, wallet.wallet_id)).available == "10"  # nothing bought

    held = await stub.Authorize(with_hold(wallet.wallet_id, "25"))
    assert (held.allowed, held.reason, held.top_up_amount) == (
        True,
        pb.AUTHORIZE_REASON_ALLOWED_WITH_TOP_UP,
        "100",
    )
    assert held.hold.amount == "25"
    after = await balance(stub, wallet.wallet_id)
    assert (after.available, after.held) == ("85", "25")
    topups = await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet.wallet_id))
    assert [t.amount for t in topups.top_ups] == ["100"]
    verified = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
    assert verified.consistent


def capped_blocks(wallet_id: str, *, paused: bool = False) -> pb.SetTopUpRuleRequest:
    """Blocks of 100 bought when usage needs them, at most 200 a day."""
    rule = pb.TopUpRule(
        wallet_id=wallet_id,
        threshold="0",
        amount="100",
        kind=pb.GRANT_KIND_PREPAID,
        unit_price="0.01",
        currency="USD",
        daily_cap="200",
        payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
        paused=paused,
    )
    return pb.SetTopUpRuleRequest(request_id=rid(), rule=rule)


async def test_the_check_reads_the_pause_and_what_the_caps_counted_and_a_hold_buys_once(
    ledger_server: RunningLedger,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "10")
    await stub.SetTopUpRule(capped_blocks(wallet.wallet_id))

    ok = await stub.Authorize(check(wallet.wallet_id, "150"))
    assert (ok.reason, ok.top_up_amount, ok.available_after) == (
        pb.AUTHORIZE_REASON_ALLOWED_WITH_TOP_UP,
        "200",
        "60",
    )
    # Three blocks would pass the daily cap: a debit would be refused, and so is the check.
    over = await stub.Authorize(check(wallet.wallet_id, "250"))
    assert (over.allowed, over.reason, over.top_up_amount, over.shortfall) == (
        False,
        pb.AUTHORIZE_REASON_INSUFFICIENT_CREDITS,
        "0",
        "240",
    )
    await stub.SetTopUpRule(capped_blocks(wallet.wallet_id, paused=True))
    paused = await stub.Authorize(check(wallet.wallet_id, "150"))
    assert (paused.allowed, paused.reason) == (False, pb.AUTHORIZE_REASON_INSUFFICIENT_CREDITS)
    await stub.SetTopUpRule(capped_blocks(wallet.wallet_id))

    request = with_hold(wallet.wallet_id, "150")
    held = await stub.Authorize(request)
    assert (held.reason, held.top_up_amount, held.hold.amount) == (
        pb.AUTHORIZE_REASON_ALLOWED_WITH_TOP_UP,
        "200",
        "150",
    )
    assert await stub.Authorize(request) == held  # the same request id buys nothing more
    topups = await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet.wallet_id))
    assert [t.amount for t in topups.top_ups] == ["200"]
    # The day's cap is used up by what was bought: the check counts it from the database.
    capped = await stub.Authorize(check(wallet.wallet_id, "100"))
    assert (capped.allowed, capped.shortfall) == (False, "40")

    captured = await stub.CaptureHold(
        pb.CaptureHoldRequest(request_id=rid(), hold_id=held.hold.hold_id, amount="150")
    )
    assert captured.entry.amount == "-150"
    assert (await balance(stub, wallet.wallet_id)).available == "60"
