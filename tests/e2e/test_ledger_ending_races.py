"""Something that ends, ends once: concurrent captures and releases of one hold, and concurrent
confirmations and failures of one pending top-up, have exactly one winner; the others are refused
with the state's own reason (never a second capture, never INTERNAL).

Found by the simulator (docs/simulator.md): the hold or top-up was read before the wallet lock, so
a caller that waited for the lock acted on a stale copy.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb

from tests.support.ledger import TickingClock, balance, debit_request, make_grant, make_wallet, rid
from tests.support.servers import START

ROUNDS = 30
CALLERS = 3


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock(START)


def refused_with(result: object, code: grpc.StatusCode, reason: str) -> bool:
    return (
        isinstance(result, grpc.aio.AioRpcError)
        and result.code() == code
        and reason in str(result.trailing_metadata())
    )


async def test_concurrent_captures_and_releases_of_one_hold_end_it_once(ledger_server) -> None:
    stub = ledger_server.stub
    wallets = await asyncio.gather(*(make_wallet(stub) for _ in range(ROUNDS)))
    await asyncio.gather(*(make_grant(stub, w.wallet_id, "100") for w in wallets))

    async def round_(wallet_id: str) -> list[object]:
        hold = (
            await stub.CreateHold(
                pb.CreateHoldRequest(request_id=rid(), wallet_id=wallet_id, amount="40")
            )
        ).hold
        calls = [
            stub.CaptureHold(
                pb.CaptureHoldRequest(request_id=rid(), hold_id=hold.hold_id, amount="40")
            )
            for _ in range(CALLERS)
        ]
        calls.append(
            stub.ReleaseHold(pb.ReleaseHoldRequest(request_id=rid(), hold_id=hold.hold_id))
        )
        return list(await asyncio.gather(*calls, return_exceptions=True))

    results = await asyncio.gather(*(round_(w.wallet_id) for w in wallets))
    for wallet, outcome in zip(wallets, results, strict=True):
        winners = [r for r in outcome if not isinstance(r, Exception)]
        assert len(winners) == 1, f"hold ended {len(winners)} times: {winners}"
        for loser in outcome:
            if isinstance(loser, Exception):
                assert refused_with(
                    loser, grpc.StatusCode.FAILED_PRECONDITION, "HOLD_NOT_ACTIVE"
                ), loser
        captured = isinstance(winners[0], pb.CaptureHoldResponse)
        b = await balance(stub, wallet.wallet_id)
        assert (b.available, b.held) == ("60" if captured else "100", "0")
        report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
        assert report.consistent, report.differences


async def test_concurrent_confirmations_and_failures_of_one_top_up_settle_it_once(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallets = await asyncio.gather(*(make_wallet(stub) for _ in range(ROUNDS)))
    await asyncio.gather(*(make_grant(stub, w.wallet_id, "200") for w in wallets))

    async def round_(wallet_id: str) -> list[object]:
        rule = pb.TopUpRule(
            wallet_id=wallet_id,
            threshold="100",
            amount="500",
            kind=pb.GRANT_KIND_PREPAID,
            payment=pb.TOP_UP_PAYMENT_ON_CONFIRMATION,
        )
        await stub.SetTopUpRule(pb.SetTopUpRuleRequest(request_id=rid(), rule=rule))
        await stub.Debit(debit_request(wallet_id, "150"))  # 50 < 100: one pending top-up
        (pending,) = (await stub.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet_id))).top_ups
        assert pending.state == pb.TOP_UP_STATE_PENDING
        calls = [
            stub.ConfirmTopUp(pb.ConfirmTopUpRequest(request_id=rid(), top_up_id=pending.top_up_id))
            for _ in range(CALLERS)
        ]
        calls.append(
            stub.FailTopUp(
                pb.FailTopUpRequest(
                    request_id=rid(), top_up_id=pending.top_up_id, reason="declined"
                )
            )
        )
        return list(await asyncio.gather(*calls, return_exceptions=True))

    results = await asyncio.gather(*(round_(w.wallet_id) for w in wallets))
    for wallet, outcome in zip(wallets, results, strict=True):
        winners = [r for r in outcome if not isinstance(r, Exception)]
        assert len(winners) == 1, f"top-up settled {len(winners)} times: {winners}"
        for loser in outcome:
            if isinstance(loser, Exception):
                assert refused_with(
                    loser, grpc.StatusCode.FAILED_PRECONDITION, "TOP_UP_NOT_PENDING"
                ), loser
        confirmed = isinstance(winners[0], pb.ConfirmTopUpResponse)
        assert (await balance(stub, wallet.wallet_id)).available == ("550" if confirmed else "50")
        report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
        assert report.consistent, report.differences
