"""Feature-scoped grants over the wire, under concurrency: debits of two features (and some
without one) race on one wallet holding grants scoped to each feature and an unscoped grant.
Nothing is burnt across scopes, each feature's scoped grant burns before the unscoped one, the
totals are exact and VerifyWallet agrees."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import grpc
from billing.ledger.v1 import ledger_pb2 as pb

from billing_common.protoconv import timestamp
from tests.support.ledger import balance, debit_request, make_wallet, rid
from tests.support.servers import START


async def scoped_grant(stub, wallet_id: str, amount: str, features: list[str]) -> pb.Grant:  # type: ignore[no-untyped-def]
    request = pb.CreateGrantRequest(
        request_id=rid(),
        wallet_id=wallet_id,
        kind=pb.GRANT_KIND_PREPAID,
        amount=amount,
        features=features,
    )
    return (await stub.CreateGrant(request)).grant


async def test_concurrent_debits_of_two_features_never_burn_across_scopes(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    anyone = await scoped_grant(stub, wallet, "100", [])
    report = await scoped_grant(stub, wallet, "300", ["report"])
    chat = await scoped_grant(stub, wallet, "200", ["chat", "voice"])
    assert (list(report.features), list(chat.features)) == (["report"], ["chat", "voice"])
    # 420 of report, 300 of chat and 60 without a feature ask for more than the 600 there are.
    asks = [("report", "7")] * 60 + [("chat", "5")] * 60 + [("", "3")] * 20
    order = [asks[(i * 37) % len(asks)] for i in range(len(asks))]  # interleaved, all distinct
    results = await asyncio.gather(
        *(stub.Debit(debit_request(wallet, amount, feature=f)) for f, amount in order),
        return_exceptions=True,
    )
    allowed = {
        "report": {report.grant_id, anyone.grant_id},
        "chat": {chat.grant_id, anyone.grant_id},
    }
    allowed[""] = {anyone.grant_id}
    taken = {anyone.grant_id: Decimal(0), report.grant_id: Decimal(0), chat.grant_id: Decimal(0)}
    refused: set[str] = set()
    booked = Decimal(0)
    for (feature, amount), result in zip(order, results, strict=True):
        if isinstance(result, grpc.aio.AioRpcError):
            assert result.code() == grpc.StatusCode.FAILED_PRECONDITION, result
            refused.add(feature)
            continue
        assert isinstance(result, pb.DebitResponse), result
        assert result.entry.feature == feature
        grants = {a.grant_id for a in result.entry.allocations}
        assert grants <= allowed[feature], (feature, grants)  # never another feature's grant
        for a in result.entry.allocations:
            taken[a.grant_id] -= Decimal(a.amount)
        booked += Decimal(amount)
    assert sum(taken.values()) == booked
    now = await balance(stub, wallet)
    left = {g.grant_id: Decimal(g.remaining_amount) for g in now.grants}
    for g, amount in ((anyone, "100"), (report, "300"), (chat, "200")):
        assert Decimal(amount) - left.get(g.grant_id, Decimal(0)) == taken[g.grant_id]
    assert Decimal(now.available) == 600 - booked
    assert Decimal(now.unscoped_available) == left.get(anyone.grant_id, Decimal(0))
    per_feature = {f.feature: Decimal(f.available) for f in now.features}
    # Scoped first: the unscoped grant gave to a feature only once its scoped grant was empty.
    for feature, scoped in (("report", report), ("chat", chat)):
        if any(
            isinstance(r, pb.DebitResponse)
            and f == feature
            and anyone.grant_id in {a.grant_id for a in r.entry.allocations}
            for (f, _), r in zip(order, results, strict=True)
        ):
            assert left.get(scoped.grant_id, Decimal(0)) == 0
    # A refusal is exact: what the feature may still use is less than the debit it refused.
    need = {"report": 7, "chat": 5, "": 3}
    unscoped = Decimal(now.unscoped_available)
    for feature in refused:
        usable = per_feature.get(feature, unscoped) if feature else unscoped
        assert usable < need[feature], (feature, usable)
    assert refused, "the asks exceed the credits: some debit must have been refused"
    report_check = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet))
    assert report_check.consistent, report_check.differences
    assert Decimal(report_check.consumed) == booked


async def test_the_balance_lists_each_scoped_feature_and_a_scoped_grant_settles_no_overage(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub, policy=pb.OVERAGE_POLICY_ALLOW_OVERAGE)).wallet_id
    await stub.Debit(debit_request(wallet, "15", feature="chat"))
    scoped = await scoped_grant(stub, wallet, "40", ["chat"])
    now = await balance(stub, wallet)
    assert (now.overage, now.available, now.unscoped_available) == ("15", "40", "0")
    assert [(f.feature, f.available, f.scoped_available) for f in now.features] == [
        ("chat", "40", "40")
    ]
    assert [list(g.features) for g in now.grants] == [["chat"]]
    got = await stub.GetGrant(pb.GetGrantRequest(grant_id=scoped.grant_id))
    assert list(got.grant.features) == ["chat"]
    await scoped_grant(stub, wallet, "20", [])
    now = await balance(stub, wallet)
    assert (now.overage, now.available, now.unscoped_available) == ("0", "45", "5")
    assert [(f.feature, f.available, f.scoped_available) for f in now.features] == [
        ("chat", "45", "40")
    ]
    assert (await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet))).consistent


async def test_a_past_balance_and_expiry_keep_scoped_grants_exact(ledger_server, clock) -> None:  # type: ignore[no-untyped-def]
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    request = pb.CreateGrantRequest(
        request_id=rid(),
        wallet_id=wallet,
        kind=pb.GRANT_KIND_PROMOTIONAL,
        amount="50",
        features=["gpu"],
    )
    request.expire_time.CopyFrom(timestamp(START + timedelta(hours=2)))
    await stub.CreateGrant(request)
    await scoped_grant(stub, wallet, "20", [])
    clock.advance(timedelta(minutes=30))
    debit = await stub.Debit(debit_request(wallet, "60", feature="gpu"))
    assert [a.amount for a in debit.entry.allocations] == ["-50", "-10"]
    clock.advance(timedelta(minutes=30))
    past = await balance(stub, wallet, START + timedelta(minutes=10))
    assert [(f.feature, f.available, f.scoped_available) for f in past.features] == [
        ("gpu", "70", "50")
    ]
    assert past.unscoped_available == "20"
    refund = pb.RefundDebitRequest(request_id=rid(), entry_id=debit.entry.entry_id, amount="15")
    await stub.RefundDebit(refund)  # the unscoped 10 back first, then 5 to the gpu grant
    clock.advance(timedelta(hours=3))  # the gpu grant expired and its grace (1 h) passed
    await stub.RunExpiry(pb.RunExpiryRequest())
    now = await balance(stub, wallet)
    assert (now.available, now.unscoped_available, list(now.features)) == ("20", "20", [])
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet))
    assert report.consistent, report.differences
    assert (report.expired, report.consumed) == ("5", "45")
