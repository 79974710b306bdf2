"""A wallet's top-up rule read back (GetTopUpRule) and removed (ClearTopUpRule) over real gRPC on
real PostgreSQL: what is read is what was set, a cleared rule starts no top-up, clearing is
idempotent by request_id, and a wallet without a rule is TOP_UP_RULE_NOT_FOUND for both."""

from __future__ import annotations

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb

from tests.support.errors import reason_of
from tests.support.ledger import balance, debit_request, make_grant, make_wallet, rid


def rule_for(wallet_id: str) -> pb.TopUpRule:
    return pb.TopUpRule(
        wallet_id=wallet_id,
        threshold="100",
        amount="500",
        kind=pb.GRANT_KIND_PREPAID,
        unit_price="0.009",
        currency="USD",
        daily_cap="1000",
        payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
    )


async def refused(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return raised.value.code(), reason_of(raised.value)[0]


async def test_the_rule_read_back_is_the_rule_set(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    stored = await stub.SetTopUpRule(
        pb.SetTopUpRuleRequest(request_id=rid(), rule=rule_for(wallet.wallet_id))
    )
    read = await stub.GetTopUpRule(pb.GetTopUpRuleRequest(wallet_id=wallet.wallet_id))
    assert read.rule == stored.rule
    assert (read.rule.threshold, read.rule.amount, read.rule.daily_cap) == ("100", "500", "1000")


async def test_a_wallet_without_a_rule_has_none_to_read_or_clear(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    get = stub.GetTopUpRule(pb.GetTopUpRuleRequest(wallet_id=wallet.wallet_id))
    clear = stub.ClearTopUpRule(
        pb.ClearTopUpRuleRequest(request_id=rid(), wallet_id=wallet.wallet_id)
    )
    for call in (get, clear):
        assert await refused(call) == (grpc.StatusCode.NOT_FOUND, "TOP_UP_RULE_NOT_FOUND")


async def test_a_cleared_rule_is_gone_and_starts_no_top_up(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "150")
    set_rule = await stub.SetTopUpRule(
        pb.SetTopUpRuleRequest(request_id=rid(), rule=rule_for(wallet.wallet_id))
    )
    cleared = await stub.ClearTopUpRule(
        pb.ClearTopUpRuleRequest(request_id=rid(), wallet_id=wallet.wallet_id)
    )
    assert cleared.rule == set_rule.rule  # the rule removed, as it was
    assert await refused(stub.GetTopUpRule(pb.GetTopUpRuleRequest(wallet_id=wallet.wallet_id))) == (
        grpc.StatusCode.NOT_FOUND,
        "TOP_UP_RULE_NOT_FOUND",
    )
    await stub.Debit(debit_request(wallet.wallet_id, "100"))  # 50 left: below the old threshold
    listed = await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet.wallet_id))
    assert list(listed.top_ups) == []
    assert (await balance(stub, wallet.wallet_id)).available == "50"


async def test_clearing_again_with_the_same_request_id_returns_the_first_answer(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await stub.SetTopUpRule(
        pb.SetTopUpRuleRequest(request_id=rid(), rule=rule_for(wallet.wallet_id))
    )
    request = pb.ClearTopUpRuleRequest(request_id=rid(), wallet_id=wallet.wallet_id)
    first = await stub.ClearTopUpRule(request)
    again = await stub.ClearTopUpRule(request)
    assert again == first
    other = await make_wallet(stub)
    conflict = pb.ClearTopUpRuleRequest(request_id=request.request_id, wallet_id=other.wallet_id)
    assert await refused(stub.ClearTopUpRule(conflict)) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "REQUEST_ID_CONFLICT",
    )


async def test_a_rule_set_again_after_clearing_works_as_before(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "150")
    request = pb.SetTopUpRuleRequest(request_id=rid(), rule=rule_for(wallet.wallet_id))
    await stub.SetTopUpRule(request)
    await stub.ClearTopUpRule(
        pb.ClearTopUpRuleRequest(request_id=rid(), wallet_id=wallet.wallet_id)
    )
    await stub.SetTopUpRule(
        pb.SetTopUpRuleRequest(request_id=rid(), rule=rule_for(wallet.wallet_id))
    )
    await stub.Debit(debit_request(wallet.wallet_id, "100"))  # 50 < 100: one top-up of 500
    listed = await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet.wallet_id))
    assert [t.amount for t in listed.top_ups] == ["500"]
    assert (await balance(stub, wallet.wallet_id)).available == "550"
