"""Pooled wallets at their edges, over the wire: a batch of one member's debits that together
pass its budget, replays of a member's debit with another member or amount, a hold that times out,
a capture after the budget changed, a share budget while the pool's balance moves, period
boundaries, a member removed and set again, odd member ids, and many members debiting, holding,
capturing and refunding one pool at once. Nothing a caller does here is ever INTERNAL."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb

from billing_common.protoconv import duration
from ledger_service import limits
from tests.e2e.test_ledger_pool import member, member_debit, refused, set_member
from tests.support.errors import reason_of
from tests.support.ledger import balance, debit_request, make_grant, make_wallet, rid


def member_hold(
    wallet_id: str, member_id: str, amount: str, minutes: int = 60
) -> pb.CreateHoldRequest:
    return pb.CreateHoldRequest(
        request_id=rid(),
        wallet_id=wallet_id,
        amount=amount,
        member_id=member_id,
        timeout=duration(timedelta(minutes=minutes)),
    )


async def test_a_batch_of_one_deny_members_debits_books_only_those_that_fit_its_budget(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "team-a", amount="30")
    batch = await stub.DebitBatch(
        pb.DebitBatchRequest(debits=[member_debit(wallet, "team-a", "12") for _ in range(3)])
    )
    kinds = [r.WhichOneof("result") for r in batch.results]
    assert kinds == ["entry", "entry", "error"]
    assert batch.results[2].error.reason == "MEMBER_BUDGET_EXCEEDED"
    standing = await member(stub, wallet, "team-a")
    assert (standing.spent, standing.remaining) == ("24", "6")
    assert (await balance(stub, wallet)).available == "76"


async def test_a_debit_replayed_with_another_member_or_amount_is_a_request_id_conflict(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "a", amount="50")
    await set_member(stub, wallet, "b", amount="50")
    first = member_debit(wallet, "a", "10")
    await stub.Debit(first)
    other_member = pb.DebitRequest()
    other_member.CopyFrom(first)
    other_member.member_id = "b"
    assert await refused(stub.Debit(other_member)) == "REQUEST_ID_CONFLICT"
    no_member = pb.DebitRequest()
    no_member.CopyFrom(first)
    no_member.member_id = ""
    assert await refused(stub.Debit(no_member)) == "REQUEST_ID_CONFLICT"
    other_amount = pb.DebitRequest()
    other_amount.CopyFrom(first)
    other_amount.amount = "11"
    assert await refused(stub.Debit(other_amount)) == "REQUEST_ID_CONFLICT"
    batch = await stub.DebitBatch(pb.DebitBatchRequest(debits=[other_member]))
    assert batch.results[0].error.reason == "REQUEST_ID_CONFLICT"
    assert ((await member(stub, wallet, "a")).spent, (await member(stub, wallet, "b")).spent) == (
        "10",
        "0",
    )


async def test_a_set_pool_member_replayed_with_other_settings_is_a_request_id_conflict(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    request_id = rid()
    await set_member(stub, wallet, "a", amount="50", request_id=request_id)
    assert (
        await refused(set_member(stub, wallet, "a", amount="60", request_id=request_id))
        == "REQUEST_ID_CONFLICT"
    )
    assert (await member(stub, wallet, "a")).budget == "50"


async def test_a_hold_that_times_out_gives_its_members_budget_back(ledger_server) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "job", amount="30")
    await stub.CreateHold(member_hold(wallet, "job", "30", minutes=10))
    assert await refused(stub.Debit(member_debit(wallet, "job", "1"))) == "MEMBER_BUDGET_EXCEEDED"
    clock.advance(timedelta(minutes=10))
    # Before any sweep, the timed-out hold reserves nothing.
    standing = await member(stub, wallet, "job")
    assert (standing.held, standing.remaining) == ("0", "30")
    await stub.Debit(member_debit(wallet, "job", "10"))
    await stub.RunExpiry(pb.RunExpiryRequest(wallet_id=wallet))
    standing = await member(stub, wallet, "job")
    assert (standing.spent, standing.held, standing.remaining) == ("10", "0", "20")
    await stub.Debit(member_debit(wallet, "job", "20"))


async def test_a_hold_is_captured_in_full_after_its_members_budget_was_lowered(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "job", amount="30")
    held = (await stub.CreateHold(member_hold(wallet, "job", "20"))).hold
    other = (await stub.CreateHold(member_hold(wallet, "job", "5"))).hold
    await set_member(stub, wallet, "job", amount="10")
    captured = await stub.CaptureHold(
        pb.CaptureHoldRequest(request_id=rid(), hold_id=held.hold_id, amount="20")
    )
    assert captured.entry.amount == "-20"
    # More than held must fit what remains besides the hold: nothing remains now.
    assert (
        await refused(
            stub.CaptureHold(
                pb.CaptureHoldRequest(request_id=rid(), hold_id=other.hold_id, amount="6")
            )
        )
        == "MEMBER_BUDGET_EXCEEDED"
    )
    await stub.CaptureHold(
        pb.CaptureHoldRequest(request_id=rid(), hold_id=other.hold_id, amount="5")
    )
    standing = await member(stub, wallet, "job")
    assert (standing.spent, standing.held, standing.remaining) == ("25", "0", "-15")


async def test_a_share_budget_stays_fixed_as_the_pool_moves_and_resolves_again_when_changed(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "half", share="50")
    await stub.Debit(member_debit(wallet, "half", "10"))
    assert (await member(stub, wallet, "half")).budget == "50"
    await make_grant(stub, wallet, "100")
    await stub.Debit(debit_request(wallet, "60"))
    standing = await member(stub, wallet, "half")
    assert (standing.budget, standing.remaining) == ("50", "40")
    assert await refused(stub.Debit(member_debit(wallet, "half", "41"))) == (
        "MEMBER_BUDGET_EXCEEDED"
    )
    await set_member(stub, wallet, "half", share="50")
    # Resolved again at its next use: half of the 130 the pool has now.
    assert (await member(stub, wallet, "half")).budget == "65"


async def test_a_share_budget_of_an_empty_pool_refuses_every_debit_of_the_member(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub, policy=pb.OVERAGE_POLICY_ALLOW_OVERAGE)).wallet_id
    await set_member(stub, wallet, "half", share="50")
    assert await refused(stub.Debit(member_debit(wallet, "half", "1"))) == (
        "MEMBER_BUDGET_EXCEEDED"
    )
    standing = await member(stub, wallet, "half")
    assert Decimal(standing.budget) == 0


@pytest.mark.parametrize(
    ("period", "start", "last_instant_in", "first_instant_after"),
    [
        (  # 2026-01-01 is a Thursday; the week ends at Monday 2026-01-05 00:00 UTC.
            pb.BUDGET_PERIOD_WEEK,
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 1, 4, 23, 59, 59, 999000, tzinfo=UTC),
            datetime(2026, 1, 5, tzinfo=UTC),
        ),
        (
            pb.BUDGET_PERIOD_MONTH,
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 1, 31, 23, 59, 59, 999000, tzinfo=UTC),
            datetime(2026, 2, 1, tzinfo=UTC),
        ),
        (
            pb.BUDGET_PERIOD_DAY,
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 1, 1, 23, 59, 59, 999000, tzinfo=UTC),
            datetime(2026, 1, 2, tzinfo=UTC),
        ),
    ],
)
async def test_a_budget_period_ends_exactly_at_its_utc_boundary(  # type: ignore[no-untyped-def]
    ledger_server, period, start, last_instant_in, first_instant_after
) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "1000")
    await set_member(stub, wallet, "m", amount="10", period=period)
    clock.advance(start - clock.now())
    await stub.Debit(member_debit(wallet, "m", "10"))
    clock.advance(last_instant_in - clock.now())
    assert await refused(stub.Debit(member_debit(wallet, "m", "1"))) == "MEMBER_BUDGET_EXCEEDED"
    clock.advance(first_instant_after - clock.now())
    standing = await member(stub, wallet, "m")
    assert (standing.spent, standing.remaining) == ("0", "10")
    await stub.Debit(member_debit(wallet, "m", "10"))


async def test_a_member_removed_and_set_again_is_usable_and_its_standing_adds_up(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "back", amount="30")
    await stub.Debit(member_debit(wallet, "back", "10"))
    held = (await stub.CreateHold(member_hold(wallet, "back", "5"))).hold
    await stub.RemovePoolMember(
        pb.RemovePoolMemberRequest(request_id=rid(), wallet_id=wallet, member_id="back")
    )
    assert (
        await refused(
            stub.RemovePoolMember(
                pb.RemovePoolMemberRequest(request_id=rid(), wallet_id=wallet, member_id="back")
            )
        )
        == "MEMBER_NOT_FOUND"
    )
    again = await set_member(stub, wallet, "back", amount="20")
    standing = await member(stub, wallet, "back")
    assert (again.budget, standing.budget) == ("20", "20")
    assert standing.spent == "10"  # its debit of this period still counts (README rule)
    assert Decimal(standing.remaining) == Decimal(standing.budget) - Decimal(
        standing.spent
    ) - Decimal(standing.held)
    await stub.CaptureHold(
        pb.CaptureHoldRequest(request_id=rid(), hold_id=held.hold_id, amount="5")
    )
    standing = await member(stub, wallet, "back")
    assert Decimal(standing.remaining) == Decimal(standing.budget) - Decimal(
        standing.spent
    ) - Decimal(standing.held)
    assert (await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet))).consistent


async def test_member_ids_of_128_characters_and_unicode_work_and_longer_ones_are_refused(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    for name in ["x" * 128, "équipe-北京-🚀", "é" * 128]:
        await set_member(stub, wallet, name, amount="5")
        entry = (await stub.Debit(member_debit(wallet, name, "5"))).entry
        assert entry.member_id == name
        assert (await member(stub, wallet, name)).remaining == "0"
    too_long = "x" * 129
    for call in [
        set_member(stub, wallet, too_long, amount="5"),
        stub.Debit(member_debit(wallet, too_long, "1")),
        stub.CreateHold(member_hold(wallet, too_long, "1")),
        stub.GetPoolMember(pb.GetPoolMemberRequest(wallet_id=wallet, member_id=too_long)),
        stub.Authorize(pb.AuthorizeRequest(wallet_id=wallet, amount="1", member_id=too_long)),
        stub.ListEntries(pb.ListEntriesRequest(wallet_id=wallet, member_id=too_long)),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value


async def test_a_member_id_with_a_nul_character_is_refused_as_bad_input(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    for call in [
        set_member(stub, wallet, "a\x00b", amount="5"),
        stub.Debit(member_debit(wallet, "a\x00b", "1")),
        stub.GetPoolMember(pb.GetPoolMemberRequest(wallet_id=wallet, member_id="a\x00b")),
        stub.ListEntries(pb.ListEntriesRequest(wallet_id=wallet, member_id="a\x00b")),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value


async def test_pool_calls_on_a_wallet_that_does_not_exist_are_not_found(ledger_server) -> None:
    stub = ledger_server.stub
    missing = "wal_doesnotexist"
    for call in [
        set_member(stub, missing, "a", amount="5"),
        stub.GetPoolMember(pb.GetPoolMemberRequest(wallet_id=missing, member_id="a")),
        stub.ListPoolMembers(pb.ListPoolMembersRequest(wallet_id=missing)),
        stub.RemovePoolMember(
            pb.RemovePoolMemberRequest(request_id=rid(), wallet_id=missing, member_id="a")
        ),
        stub.Authorize(pb.AuthorizeRequest(wallet_id=missing, amount="1", member_id="a")),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() in {
            grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.INVALID_ARGUMENT,
        }, caught.value


MEMBERS = 6
BUDGET = Decimal(30)


async def test_many_members_debiting_holding_capturing_and_refunding_at_once_stay_within_budget(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "1000")
    names = [f"m{i}" for i in range(MEMBERS)]
    for i, name in enumerate(names):
        if i % 2:
            await set_member(stub, wallet, name, amount=str(BUDGET))
        else:
            await set_member(stub, wallet, name, share="3")  # 3% of 1000 = 30
    rng = random.Random(1414)
    refused_reasons: list[str] = []

    async def life(name: str) -> None:
        for _ in range(12):
            kind = rng.random()
            try:
                if kind < 0.4:
                    spent = await stub.Debit(member_debit(wallet, name, str(rng.randint(1, 8))))
                    if rng.random() < 0.4:
                        await stub.RefundDebit(
                            pb.RefundDebitRequest(
                                request_id=rid(),
                                entry_id=spent.entry.entry_id,
                                amount=str(rng.randint(1, -int(Decimal(spent.entry.amount)))),
                            )
                        )
                else:
                    held = (
                        await stub.CreateHold(member_hold(wallet, name, str(rng.randint(1, 8))))
                    ).hold
                    if rng.random() < 0.7:
                        await stub.CaptureHold(
                            pb.CaptureHoldRequest(
                                request_id=rid(),
                                hold_id=held.hold_id,
                                amount=str(rng.randint(1, int(Decimal(held.amount)))),
                            )
                        )
            except grpc.aio.AioRpcError as exc:
                refused_reasons.append(reason_of(exc)[0])

    await asyncio.gather(*(life(n) for n in names for _ in range(3)))
    assert set(refused_reasons) <= {"MEMBER_BUDGET_EXCEEDED"}, refused_reasons
    entries = await stub.ListEntries(pb.ListEntriesRequest(wallet_id=wallet, page_size=500))
    for name in names:
        standing = await member(stub, wallet, name)
        # A share budget resolved at the member's first use, from what the pool had then.
        budget = Decimal(standing.budget)
        assert budget == BUDGET if names.index(name) % 2 else 0 < budget <= BUDGET
        booked = -sum(
            (
                Decimal(e.amount)
                for e in entries.entries
                if e.member_id == name
                and e.type in {pb.ENTRY_TYPE_DEBIT, pb.ENTRY_TYPE_CAPTURE, pb.ENTRY_TYPE_REFUND}
            ),
            Decimal(0),
        )
        assert Decimal(standing.spent) == booked
        assert Decimal(standing.spent) + Decimal(standing.held) <= budget
        assert Decimal(standing.remaining) == budget - Decimal(standing.spent) - Decimal(
            standing.held
        )
    held_total = Decimal(0)
    for name in names:
        held_total += Decimal((await member(stub, wallet, name)).held)
    assert Decimal((await balance(stub, wallet)).held) == held_total
    check = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet))
    assert check.consistent, check.differences


async def test_a_share_budget_is_a_valid_amount_and_a_member_can_spend_exactly_what_remains(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "1.000000000000000001")
    await set_member(stub, wallet, "third", share="33.333333333333333333")
    await stub.Debit(member_debit(wallet, "third", "0.1"))
    standing = await member(stub, wallet, "third")
    # A third of the pool, rounded down to an amount (at most 18 fractional digits).
    assert (standing.budget, standing.remaining) == (
        "0.333333333333333333",
        "0.233333333333333333",
    )
    check = await stub.Authorize(
        pb.AuthorizeRequest(wallet_id=wallet, amount="1", member_id="third")
    )
    assert (check.member_remaining, check.shortfall) == (
        "0.233333333333333333",
        "0.766666666666666667",
    )
    await stub.Debit(member_debit(wallet, "third", standing.remaining))
    assert (await member(stub, wallet, "third")).remaining == "0"


async def test_concurrent_first_settings_of_one_member_make_one_member_and_none_fails(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    results = await asyncio.gather(
        *(set_member(stub, wallet, "same", amount=str(10 + i)) for i in range(12)),
        return_exceptions=True,
    )
    assert [r for r in results if isinstance(r, BaseException)] == []
    listed = await stub.ListPoolMembers(pb.ListPoolMembersRequest(wallet_id=wallet))
    assert [m.member_id for m in listed.members] == ["same"]


async def test_concurrent_new_members_never_pass_the_pools_member_limit(
    ledger_server, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(limits, "POOL_MEMBERS_MAX", 5)
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    results = await asyncio.gather(
        *(set_member(stub, wallet, f"m{i}", amount="1") for i in range(16)),
        return_exceptions=True,
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    assert {reason_of(r)[0] for r in failed if isinstance(r, grpc.aio.AioRpcError)} == {
        "TOO_MANY_POOL_MEMBERS"
    }
    assert len(failed) == 11
    listed = await stub.ListPoolMembers(pb.ListPoolMembersRequest(wallet_id=wallet))
    assert len(listed.members) == 5


async def test_debits_racing_a_members_removal_are_booked_before_it_or_refused_not_found(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "1000")
    await set_member(stub, wallet, "leaving", amount="500")
    debits = [stub.Debit(member_debit(wallet, "leaving", "1")) for _ in range(30)]
    removal = stub.RemovePoolMember(
        pb.RemovePoolMemberRequest(request_id=rid(), wallet_id=wallet, member_id="leaving")
    )
    results = await asyncio.gather(*debits[:15], removal, *debits[15:], return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert {reason_of(r)[0] for r in errors if isinstance(r, grpc.aio.AioRpcError)} <= {
        "MEMBER_NOT_FOUND"
    }
    assert all(isinstance(r, grpc.aio.AioRpcError) for r in errors)
    booked = len(results) - 1 - len(errors)
    assert (await balance(stub, wallet)).available == str(1000 - booked)


async def test_a_hold_or_authorize_replayed_with_another_member_is_a_request_id_conflict(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "a", amount="50")
    await set_member(stub, wallet, "b", amount="50")
    first = member_hold(wallet, "a", "5")
    await stub.CreateHold(first)
    other = pb.CreateHoldRequest()
    other.CopyFrom(first)
    other.member_id = "b"
    assert await refused(stub.CreateHold(other)) == "REQUEST_ID_CONFLICT"
    ask = pb.AuthorizeRequest(
        request_id=rid(), wallet_id=wallet, amount="5", member_id="a", hold=True
    )
    await stub.Authorize(ask)
    ask.member_id = "b"
    assert await refused(stub.Authorize(ask)) == "REQUEST_ID_CONFLICT"
    assert ((await member(stub, wallet, "a")).held, (await member(stub, wallet, "b")).held) == (
        "10",
        "0",
    )


async def test_a_batch_mixes_members_allow_flags_its_running_overage_and_unknown_is_not_found(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "free", amount="10", policy=pb.BUDGET_POLICY_ALLOW)
    batch = await stub.DebitBatch(
        pb.DebitBatchRequest(
            debits=[
                member_debit(wallet, "free", "6"),
                member_debit(wallet, "ghost", "1"),
                member_debit(wallet, "free", "6"),
                member_debit(wallet, "free", "6"),
            ]
        )
    )
    got = [
        r.entry.over_budget if r.WhichOneof("result") == "entry" else r.error.reason
        for r in batch.results
    ]
    assert got == ["0", "MEMBER_NOT_FOUND", "2", "6"]
    assert (await member(stub, wallet, "free")).remaining == "-8"


async def test_alert_rules_naming_odd_or_unknown_members_are_refused_and_nothing_is_internal(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    for member_id in ["x" * 129, "a\x00b"]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SetAlertRules(
                pb.SetAlertRulesRequest(
                    request_id=rid(),
                    wallet_id=wallet,
                    rules=[
                        pb.AlertRule(kind=pb.ALERT_KIND_DEPLETED, threshold="", member_id=member_id)
                    ],
                )
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value
    # A member the pool does not have: refused (a rule that could never fire), nothing written.
    unknown = stub.SetAlertRules(
        pb.SetAlertRulesRequest(
            request_id=rid(),
            wallet_id=wallet,
            rules=[pb.AlertRule(kind=pb.ALERT_KIND_DEPLETED, member_id="nobody")],
        )
    )
    assert await refused(unknown) == "MEMBER_NOT_FOUND"
    await set_member(stub, wallet, "zero", amount="0")
    assert await refused(stub.Debit(member_debit(wallet, "zero", "1"))) == (
        "MEMBER_BUDGET_EXCEEDED"
    )


async def test_a_hold_captured_in_the_next_period_counts_there_and_a_refund_of_it_gives_back(
    ledger_server,
) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "night", amount="10")
    held = (await stub.CreateHold(member_hold(wallet, "night", "10", minutes=48 * 60))).hold
    clock.advance(timedelta(days=1))
    standing = await member(stub, wallet, "night")
    assert (standing.spent, standing.held, standing.remaining) == ("0", "10", "0")
    captured = await stub.CaptureHold(
        pb.CaptureHoldRequest(request_id=rid(), hold_id=held.hold_id, amount="10")
    )
    standing = await member(stub, wallet, "night")
    assert (standing.spent, standing.held, standing.remaining) == ("10", "0", "0")
    await stub.RefundDebit(
        pb.RefundDebitRequest(request_id=rid(), entry_id=captured.entry.entry_id, amount="4")
    )
    assert (await member(stub, wallet, "night")).remaining == "4"
    await stub.Debit(member_debit(wallet, "night", "4"))


async def test_capturing_a_timed_out_members_hold_is_refused_and_spends_no_budget(
    ledger_server,
) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "late", amount="10")
    held = (await stub.CreateHold(member_hold(wallet, "late", "10", minutes=5))).hold
    clock.advance(timedelta(minutes=6))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CaptureHold(
            pb.CaptureHoldRequest(request_id=rid(), hold_id=held.hold_id, amount="10")
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION, caught.value
    standing = await member(stub, wallet, "late")
    assert (standing.spent, standing.held, standing.remaining) == ("0", "0", "10")


async def test_reading_a_member_the_pool_does_not_have_is_not_found(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetPoolMember(pb.GetPoolMemberRequest(wallet_id=wallet, member_id="nobody"))
    assert (caught.value.code(), reason_of(caught.value)[0]) == (
        grpc.StatusCode.NOT_FOUND,
        "MEMBER_NOT_FOUND",
    )
    assert (
        await refused(
            stub.Authorize(pb.AuthorizeRequest(wallet_id=wallet, amount="1", member_id="nobody"))
        )
        == "MEMBER_NOT_FOUND"
    )


async def test_a_members_debit_replays_its_answer_after_the_budget_is_spent_or_the_member_removed(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "r", amount="10")
    first = member_debit(wallet, "r", "10")
    booked = await stub.Debit(first)
    assert await stub.Debit(first) == booked  # the budget is spent: still the first answer
    hold = member_hold(wallet, "r", "0.5")
    refused_hold = stub.CreateHold(hold)
    assert await refused(refused_hold) == "MEMBER_BUDGET_EXCEEDED"
    await stub.RemovePoolMember(
        pb.RemovePoolMemberRequest(request_id=rid(), wallet_id=wallet, member_id="r")
    )
    assert await stub.Debit(first) == booked
    batch = await stub.DebitBatch(pb.DebitBatchRequest(debits=[first]))
    assert batch.results[0].entry == booked.entry
    assert (await balance(stub, wallet)).available == "90"


async def test_a_debit_refused_for_the_members_budget_is_booked_when_retried_after_a_raise(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "r", amount="5")
    ask = member_debit(wallet, "r", "8")
    assert await refused(stub.Debit(ask)) == "MEMBER_BUDGET_EXCEEDED"
    await set_member(stub, wallet, "r", amount="8")
    assert (await stub.Debit(ask)).entry.amount == "-8"


async def test_a_share_budget_is_fixed_by_the_first_write_of_the_period_and_reads_only_preview_it(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "half", share="50")
    assert (await member(stub, wallet, "half")).budget == "50"
    await make_grant(stub, wallet, "100")
    # Reads write nothing: before the member's first write they show what it would get now.
    listed = await stub.ListPoolMembers(pb.ListPoolMembersRequest(wallet_id=wallet))
    assert [m.budget for m in listed.members] == ["100"]
    check = await stub.Authorize(
        pb.AuthorizeRequest(wallet_id=wallet, amount="100", member_id="half")
    )
    assert (check.allowed, check.member_remaining) == (True, "100")
    await stub.Debit(member_debit(wallet, "half", "10"))  # fixes 50% of 200 for the period
    await make_grant(stub, wallet, "100")
    standing = await member(stub, wallet, "half")
    assert (standing.budget, standing.remaining) == ("100", "90")
    assert await refused(stub.Debit(member_debit(wallet, "half", "91"))) == (
        "MEMBER_BUDGET_EXCEEDED"
    )


async def test_history_of_one_member_pages_through_only_its_entries(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "100")
    await set_member(stub, wallet, "a")
    await set_member(stub, wallet, "b")
    for i in range(5):
        await stub.Debit(member_debit(wallet, "a", str(i + 1)))
        await stub.Debit(member_debit(wallet, "b", "1"))
        await stub.Debit(debit_request(wallet, "1"))
    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListEntries(
            pb.ListEntriesRequest(wallet_id=wallet, member_id="a", page_size=2, page_token=token)
        )
        seen += [f"{e.member_id}:{e.amount}" for e in page.entries]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(f"a:-{i + 1}" for i in range(5))


async def test_authorize_holds_and_captures_past_the_hold_racing_debits_never_pass_a_budget(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    # A wallet that may capture past a hold: the member's budget is the only limit there.
    wallet = (await make_wallet(stub, policy=pb.OVERAGE_POLICY_ALLOW_OVERAGE)).wallet_id
    await make_grant(stub, wallet, "1000")
    await set_member(stub, wallet, "abs", amount="25")
    await set_member(stub, wallet, "share", share="2.5")  # 25 of the 1000 at its first write
    rng = random.Random(77)
    outcomes: list[str] = []

    async def worker(name: str) -> None:
        for _ in range(8):
            try:
                if rng.random() < 0.5:
                    answer = await stub.Authorize(
                        pb.AuthorizeRequest(
                            request_id=rid(),
                            wallet_id=wallet,
                            amount=str(rng.randint(1, 4)),
                            member_id=name,
                            hold=True,
                        )
                    )
                    if not answer.allowed:
                        outcomes.append("denied")
                        continue
                    await stub.CaptureHold(
                        pb.CaptureHoldRequest(
                            request_id=rid(),
                            hold_id=answer.hold.hold_id,
                            amount=str(Decimal(answer.hold.amount) + rng.randint(0, 3)),
                        )
                    )
                else:
                    await stub.Debit(member_debit(wallet, name, str(rng.randint(1, 4))))
                outcomes.append("ok")
            except grpc.aio.AioRpcError as exc:
                outcomes.append(reason_of(exc)[0])

    await asyncio.gather(*(worker(n) for n in ["abs", "share"] for _ in range(4)))
    assert set(outcomes) <= {"ok", "denied", "MEMBER_BUDGET_EXCEEDED"}, outcomes
    assert "ok" in outcomes
    for name in ["abs", "share"]:
        standing = await member(stub, wallet, name)
        budget = Decimal(standing.budget)
        assert 0 < budget <= 25
        assert Decimal(standing.spent) + Decimal(standing.held) <= budget
        assert Decimal(standing.remaining) == budget - Decimal(standing.spent) - Decimal(
            standing.held
        )
    check = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet))
    assert check.consistent, check.differences


async def test_concurrent_batches_of_one_deny_member_book_at_most_its_budget(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "1000")
    await set_member(stub, wallet, "bulk", amount="50")
    batches = await asyncio.gather(
        *(
            stub.DebitBatch(
                pb.DebitBatchRequest(debits=[member_debit(wallet, "bulk", "3") for _ in range(5)])
            )
            for _ in range(8)
        )
    )
    results = [r for b in batches for r in b.results]
    booked = [r for r in results if r.WhichOneof("result") == "entry"]
    assert {r.error.reason for r in results if r.WhichOneof("result") == "error"} == {
        "MEMBER_BUDGET_EXCEEDED"
    }
    assert len(booked) == 16  # 16 x 3 = 48; a 17th would pass 50
    standing = await member(stub, wallet, "bulk")
    assert (standing.spent, standing.remaining) == ("48", "2")
    assert (await balance(stub, wallet)).available == "952"
