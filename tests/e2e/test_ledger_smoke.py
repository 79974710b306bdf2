"""The ledger over real gRPC: wallet, grants, debit, balance, history, verify."""

from __future__ import annotations

from datetime import timedelta

from billing.ledger.v1 import ledger_pb2 as pb

from tests.support.ledger import balance, debit_request, make_grant, make_wallet


async def test_grant_debit_balance_history(ledger_server) -> None:
    stub, now = ledger_server.stub, ledger_server.clock.now()
    wallet = await make_wallet(stub)
    promo = await make_grant(
        stub,
        wallet.wallet_id,
        "100",
        kind=pb.GRANT_KIND_PROMOTIONAL,
        expire=now + timedelta(days=30),
    )
    prepaid = await make_grant(stub, wallet.wallet_id, "1000", expire=now + timedelta(days=365))

    debit = (
        await stub.Debit(debit_request(wallet.wallet_id, "150", feature="Report Generation"))
    ).entry

    # Promotional burns first (earlier expiry), the rest from prepaid.
    assert [(a.grant_id, a.amount) for a in debit.allocations] == [
        (promo.grant.grant_id, "-100"),
        (prepaid.grant.grant_id, "-50"),
    ]
    assert debit.amount == "-150"
    assert debit.available_after == "950"
    assert debit.description == "-150 credits for Report Generation on Jan 1"

    b = await balance(stub, wallet.wallet_id)
    assert (b.available, b.prepaid_available, b.promotional_available, b.overage) == (
        "950",
        "950",
        "0",
        "0",
    )

    history = (await stub.ListEntries(pb.ListEntriesRequest(wallet_id=wallet.wallet_id))).entries
    assert [e.type for e in history] == [
        pb.ENTRY_TYPE_DEBIT,
        pb.ENTRY_TYPE_GRANT,
        pb.ENTRY_TYPE_GRANT,
    ]

    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
    assert report.consistent, report.differences
    assert (report.granted, report.consumed, report.remaining) == ("1100", "150", "950")
