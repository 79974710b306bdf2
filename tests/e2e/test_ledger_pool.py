"""Pooled wallets over the wire: members with budgets per period spend one wallet; a DENY
member is refused past its budget (and writes nothing), an ALLOW member goes on, flagged; holds
count as reserved, captures as spent, refunds give budget back; Authorize answers for a member;
history filters by member; and under concurrency (one pool, many members, debits and holds at
once) no DENY member ever goes past its budget and every total adds up."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta
from decimal import Decimal

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb

from billing_common.protoconv import duration
from ledger_service import limits
from tests.support.errors import reason_of
from tests.support.ledger import balance, debit_request, make_grant, make_wallet, rid


async def set_member(  # type: ignore[no-untyped-def]
    stub,
    wallet_id: str,
    member_id: str,
    *,
    amount: str = "",
    share: str = "",
    period: int = pb.BUDGET_PERIOD_DAY,
    policy: int = pb.BUDGET_POLICY_DENY,
    request_id: str | None = None,
) -> pb.PoolMember:
    response = await stub.SetPoolMember(
        pb.SetPoolMemberRequest(
            request_id=request_id or rid(),
            wallet_id=wallet_id,
            member_id=member_id,
            budget_amount=amount,
            budget_share=share,
            budget_period=period,
            policy=policy,
        )
    )
    return response.member


def member_debit(wallet_id: str, member_id: str, amount: str) -> pb.DebitRequest:
    request = debit_request(wallet_id, amount)
    request.member_id = member_id
    return request


async def member(stub, wallet_id: str, member_id: str) -> pb.PoolMember:  # type: ignore[no-untyped-def]
    found = await stub.GetPoolMember(
        pb.GetPoolMemberRequest(wallet_id=wallet_id, member_id=member_id)
    )
    return found.member


async def refused(call: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return reason_of(caught.value)[0]


async def test_a_deny_member_is_refused_past_its_budget_and_the_refusal_writes_nothing(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "team-a", amount="30")
    first = await stub.Debit(member_debit(wallet, "team-a", "20"))
    assert (first.entry.member_id, first.entry.over_budget) == ("team-a", "0")
    before = await balance(stub, wallet)
    assert await refused(stub.Debit(member_debit(wallet, "team-a", "15"))) == (
        "MEMBER_BUDGET_EXCEEDED"
    )
    assert (await balance(stub, wallet)).available == before.available == "80"
    await stub.Debit(member_debit(wallet, "team-a", "10"))
    standing = await member(stub, wallet, "team-a")
    assert (standing.spent, standing.budget, standing.remaining) == ("30", "30", "0")
    # The pool itself is not limited by a member's budget: a debit naming no member goes on.
    await stub.Debit(debit_request(wallet, "50"))
    assert (await balance(stub, wallet)).available == "20"


async def test_an_allow_member_spends_on_into_the_pool_and_the_entry_says_how_much_was_over(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "team-b", amount="10", policy=pb.BUDGET_POLICY_ALLOW)
    over = await stub.Debit(member_debit(wallet, "team-b", "15"))
    assert (over.entry.member_id, over.entry.over_budget) == ("team-b", "5")
    again = await stub.Debit(member_debit(wallet, "team-b", "4"))
    assert again.entry.over_budget == "4"
    standing = await member(stub, wallet, "team-b")
    assert (standing.spent, standing.remaining) == ("19", "-9")


async def test_a_debit_naming_a_member_the_pool_does_not_have_is_not_found(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    assert await refused(stub.Debit(member_debit(wallet, "nobody", "1"))) == "MEMBER_NOT_FOUND"
    assert (await balance(stub, wallet)).available == "100"


async def test_a_hold_reserves_budget_a_capture_spends_it_and_a_release_gives_it_back(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "job-runner", amount="40")

    def hold(amount: str) -> pb.CreateHoldRequest:
        return pb.CreateHoldRequest(
            request_id=rid(),
            wallet_id=wallet,
            amount=amount,
            member_id="job-runner",
            timeout=duration(timedelta(minutes=10)),
        )

    first = (await stub.CreateHold(hold("25"))).hold
    assert first.member_id == "job-runner"
    assert await refused(stub.CreateHold(hold("20"))) == "MEMBER_BUDGET_EXCEEDED"
    assert await refused(stub.Debit(member_debit(wallet, "job-runner", "16"))) == (
        "MEMBER_BUDGET_EXCEEDED"
    )
    standing = await member(stub, wallet, "job-runner")
    assert (standing.spent, standing.held, standing.remaining) == ("0", "25", "15")
    captured = await stub.CaptureHold(
        pb.CaptureHoldRequest(request_id=rid(), hold_id=first.hold_id, amount="22")
    )
    assert captured.entry.member_id == "job-runner"
    standing = await member(stub, wallet, "job-runner")
    assert (standing.spent, standing.held, standing.remaining) == ("22", "0", "18")
    second = (await stub.CreateHold(hold("18"))).hold
    await stub.ReleaseHold(pb.ReleaseHoldRequest(request_id=rid(), hold_id=second.hold_id))
    assert (await member(stub, wallet, "job-runner")).remaining == "18"


async def test_authorize_denies_a_deny_member_past_its_budget_and_says_what_remains(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "user-1", amount="10")
    await stub.Debit(member_debit(wallet, "user-1", "7"))
    check = await stub.Authorize(
        pb.AuthorizeRequest(wallet_id=wallet, amount="5", member_id="user-1")
    )
    assert (check.allowed, check.reason) == (False, pb.AUTHORIZE_REASON_MEMBER_BUDGET_EXCEEDED)
    assert (check.member_remaining, check.shortfall) == ("3", "2")
    held = await stub.Authorize(
        pb.AuthorizeRequest(
            request_id=rid(), wallet_id=wallet, amount="3", member_id="user-1", hold=True
        )
    )
    assert (held.allowed, held.hold.member_id, held.member_remaining) == (True, "user-1", "3")
    after = await stub.Authorize(
        pb.AuthorizeRequest(wallet_id=wallet, amount="1", member_id="user-1")
    )
    assert (after.allowed, after.member_remaining) == (False, "0")


async def test_a_new_period_starts_the_budget_again_and_a_refund_gives_back_in_its_period(
    ledger_server, clock
) -> None:  # type: ignore[no-untyped-def]
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "team-c", amount="10")
    spent = await stub.Debit(member_debit(wallet, "team-c", "10"))
    refund = await stub.RefundDebit(
        pb.RefundDebitRequest(request_id=rid(), entry_id=spent.entry.entry_id, amount="4")
    )
    assert refund.entries[0].member_id == "team-c"
    assert (await member(stub, wallet, "team-c")).remaining == "4"
    await stub.Debit(member_debit(wallet, "team-c", "4"))
    assert await refused(stub.Debit(member_debit(wallet, "team-c", "1"))) == (
        "MEMBER_BUDGET_EXCEEDED"
    )
    clock.advance(timedelta(days=1))
    # A refund of yesterday's debit gives nothing back to today's budget.
    await stub.RefundDebit(
        pb.RefundDebitRequest(request_id=rid(), entry_id=spent.entry.entry_id, amount="2")
    )
    standing = await member(stub, wallet, "team-c")
    assert (standing.spent, standing.remaining) == ("0", "10")
    await stub.Debit(member_debit(wallet, "team-c", "10"))


async def test_history_filters_by_member_and_set_pool_member_replays_by_request_id(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    request_id = rid()
    first = await set_member(stub, wallet, "a", amount="50", request_id=request_id)
    replay = await set_member(stub, wallet, "a", amount="50", request_id=request_id)
    assert replay == first
    await set_member(stub, wallet, "b", share="25", period=pb.BUDGET_PERIOD_MONTH)
    await stub.Debit(member_debit(wallet, "a", "5"))
    await stub.Debit(member_debit(wallet, "b", "6"))
    await stub.Debit(debit_request(wallet, "7"))
    only_a = await stub.ListEntries(pb.ListEntriesRequest(wallet_id=wallet, member_id="a"))
    assert [(e.member_id, e.amount) for e in only_a.entries] == [("a", "-5")]
    listed = await stub.ListPoolMembers(pb.ListPoolMembersRequest(wallet_id=wallet))
    # b's share resolved at its first debit: 25% of the 95 the pool had then.
    assert [(m.member_id, m.spent, m.budget) for m in listed.members] == [
        ("a", "5", "50"),
        ("b", "6", "23.75"),
    ]
    removed = await stub.RemovePoolMember(
        pb.RemovePoolMemberRequest(request_id=rid(), wallet_id=wallet, member_id="a")
    )
    assert removed.member.spent == "5"
    assert await refused(stub.Debit(member_debit(wallet, "a", "1"))) == "MEMBER_NOT_FOUND"


MEMBERS = 8
BUDGET = Decimal(40)
ASKS = 240


async def test_concurrent_debits_and_holds_of_many_members_never_pass_a_deny_budget(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "1000")
    names = [f"m{i}" for i in range(MEMBERS)]
    for name in names:
        await set_member(stub, wallet, name, amount=str(BUDGET))
    rng = random.Random(14)
    asks = [(rng.choice(names), rng.randint(1, 9), rng.random() < 0.3) for _ in range(ASKS)]

    async def ask(name: str, amount: int, as_hold: bool) -> object:
        if as_hold:
            return await stub.CreateHold(
                pb.CreateHoldRequest(
                    request_id=rid(),
                    wallet_id=wallet,
                    amount=str(amount),
                    member_id=name,
                    timeout=duration(timedelta(hours=1)),
                )
            )
        return await stub.Debit(member_debit(wallet, name, str(amount)))

    results = await asyncio.gather(*(ask(*a) for a in asks), return_exceptions=True)
    used = dict.fromkeys(names, Decimal(0))
    for (name, amount, _), result in zip(asks, results, strict=True):
        if isinstance(result, grpc.aio.AioRpcError):
            assert reason_of(result)[0] == "MEMBER_BUDGET_EXCEEDED", result
            continue
        used[name] += amount
    assert max(used.values()) <= BUDGET
    assert any(isinstance(r, grpc.aio.AioRpcError) for r in results), "the asks exceed budgets"
    entries = await stub.ListEntries(
        pb.ListEntriesRequest(wallet_id=wallet, types=[pb.ENTRY_TYPE_DEBIT], page_size=500)
    )
    for name in names:
        standing = await member(stub, wallet, name)
        from_entries = -sum(
            (Decimal(e.amount) for e in entries.entries if e.member_id == name), Decimal(0)
        )
        assert Decimal(standing.spent) == from_entries
        assert Decimal(standing.spent) + Decimal(standing.held) == used[name] <= BUDGET
    now = await balance(stub, wallet)
    assert Decimal(now.available) + Decimal(now.held) == 1000 - sum(
        -Decimal(e.amount) for e in entries.entries
    )
    check = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet))
    assert check.consistent, check.differences


async def test_removing_a_member_never_blocks_capturing_its_hold_or_refunding_its_debit(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "gone", amount="50")
    spent = await stub.Debit(member_debit(wallet, "gone", "10"))
    held = await stub.CreateHold(
        pb.CreateHoldRequest(request_id=rid(), wallet_id=wallet, amount="5", member_id="gone")
    )
    await stub.RemovePoolMember(
        pb.RemovePoolMemberRequest(request_id=rid(), wallet_id=wallet, member_id="gone")
    )
    captured = await stub.CaptureHold(
        pb.CaptureHoldRequest(request_id=rid(), hold_id=held.hold.hold_id, amount="5")
    )
    refund = await stub.RefundDebit(
        pb.RefundDebitRequest(request_id=rid(), entry_id=spent.entry.entry_id)
    )
    assert (captured.entry.member_id, refund.entries[0].member_id) == ("gone", "gone")
    assert (await balance(stub, wallet)).available == "95"  # 100 - 10 + 10 - 5


async def test_an_alert_rule_on_a_members_budget_fires_when_a_debit_of_it_reaches_the_threshold(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "1000")
    await set_member(stub, wallet, "team-d", amount="40")
    await stub.SetAlertRules(
        pb.SetAlertRulesRequest(
            request_id=rid(),
            wallet_id=wallet,
            rules=[pb.AlertRule(kind=pb.ALERT_KIND_PERCENT, threshold="25", member_id="team-d")],
        )
    )
    await stub.Debit(member_debit(wallet, "team-d", "29"))
    await stub.Debit(debit_request(wallet, "500"))  # the pool's own spending: not the member's
    (rule,) = (await stub.ListAlertRules(pb.ListAlertRulesRequest(wallet_id=wallet))).rules
    assert (rule.member_id, rule.armed) == ("team-d", True)
    await stub.Debit(member_debit(wallet, "team-d", "1"))  # 10 of 40 left: 25%
    (rule,) = (await stub.ListAlertRules(pb.ListAlertRulesRequest(wallet_id=wallet))).rules
    assert not rule.armed
    stream = stub.WatchWalletEvents(
        pb.WatchWalletEventsRequest(wallet_id=wallet, types=[pb.WALLET_EVENT_TYPE_ALERT_FIRED])
    )
    fired = await asyncio.wait_for(anext(aiter(stream)), timeout=30)
    stream.cancel()
    data = json.loads(fired.event.data_json)
    assert (data["member_id"], data["remaining"], data["budget"]) == ("team-d", "10", "40")


async def test_a_pool_has_a_bounded_number_of_members(ledger_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(limits, "POOL_MEMBERS_MAX", 2)
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await set_member(stub, wallet, "a", amount="1")
    await set_member(stub, wallet, "b", amount="1")
    assert await refused(set_member(stub, wallet, "c", amount="1")) == "TOO_MANY_POOL_MEMBERS"
    await set_member(stub, wallet, "b", amount="2")  # changing a member is not adding one
    listed = await stub.ListPoolMembers(pb.ListPoolMembersRequest(wallet_id=wallet))
    assert [(m.member_id, m.budget) for m in listed.members] == [("a", "1"), ("b", "2")]


async def test_bad_member_settings_are_refused_with_the_field_and_write_nothing(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id

    async def bad(**fields: object) -> tuple[str, list[str]]:
        request = pb.SetPoolMemberRequest(request_id=rid(), wallet_id=wallet, member_id="m")
        for name, value in fields.items():
            setattr(request, name, value)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SetPoolMember(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        return reason_of(caught.value)

    assert await bad(budget_amount="5", budget_share="10") == ("INVALID_BUDGET", ["budget_share"])
    assert await bad(budget_share="150") == ("INVALID_BUDGET", ["budget_share"])
    assert await bad(budget_share="0") == ("INVALID_AMOUNT", ["budget_share"])
    assert await bad(budget_amount="-1") == ("INVALID_AMOUNT", ["budget_amount"])
    assert await bad(budget_period=99) == ("INVALID_ENUM", ["budget_period"])
    assert (await bad(member_id=""))[1] == ["member_id"]
    listed = await stub.ListPoolMembers(pb.ListPoolMembersRequest(wallet_id=wallet))
    assert list(listed.members) == []


async def test_an_alert_rule_on_a_member_the_pool_does_not_have_is_refused_and_writes_nothing(
    ledger_server,
) -> None:
    """A typo in a member's id would make a rule that never fires: it is refused instead."""
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await set_member(stub, wallet, "team-a", amount="40")
    before = (await stub.ListAlertRules(pb.ListAlertRulesRequest(wallet_id=wallet))).rules
    request = pb.SetAlertRulesRequest(
        request_id=rid(),
        wallet_id=wallet,
        rules=[
            pb.AlertRule(kind=pb.ALERT_KIND_PERCENT, threshold="25", member_id="team-a"),
            pb.AlertRule(kind=pb.ALERT_KIND_DEPLETED, member_id="team-b"),
        ],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SetAlertRules(request)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(caught.value)[0] == "MEMBER_NOT_FOUND"
    assert "team-b" in (caught.value.details() or "")
    after = (await stub.ListAlertRules(pb.ListAlertRulesRequest(wallet_id=wallet))).rules
    assert [r.rule_id for r in after] == [r.rule_id for r in before]
