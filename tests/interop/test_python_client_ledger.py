"""The Python client against the ledger as a real process: Decimal in and out, idempotent
replays by request_id, and the ledger's errors as typed exceptions with their reasons."""

from __future__ import annotations

from decimal import Decimal

import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing_client import FailedPrecondition, InvalidArgument, LedgerClient
from billing_client import open_channel as bc_open_channel

from billing_common.process import ServiceProcess
from tests.support.channels import admin_key, open_channel
from tests.support.tls import dev_ca


async def test_python_client_against_the_ledger(ledger_process: ServiceProcess) -> None:
    async with open_channel(ledger_process.target) as channel:
        ledger = LedgerClient(channel, timeout_s=10)
        wallet = await ledger.create_wallet("py-client", "CREDITS")
        await ledger.create_grant(wallet.wallet_id, Decimal("100"))

        first = await ledger.debit(wallet.wallet_id, Decimal("12.5"), request_id="py-debit-1")
        replay = await ledger.debit(wallet.wallet_id, Decimal("12.5"), request_id="py-debit-1")
        assert replay.entry_id == first.entry_id
        assert first.amount == Decimal("-12.5") and first.available_after == Decimal("87.5")

        balance = await ledger.get_balance(wallet.wallet_id)
        assert (balance.available, balance.overage, balance.net) == (
            Decimal("87.5"),
            Decimal(0),
            Decimal("87.5"),
        )

        with pytest.raises(FailedPrecondition) as refused:
            await ledger.debit(wallet.wallet_id, Decimal("1000"))
        assert refused.value.reason == "INSUFFICIENT_CREDITS"

        # A grant for one feature only: that feature burns it first, nothing else can.
        scoped = await ledger.create_grant(wallet.wallet_id, Decimal(5), features=["gpu"])
        assert list(scoped.features) == ["gpu"]
        gpu = await ledger.debit(wallet.wallet_id, Decimal(6), feature="gpu")
        first = gpu.entry.allocations[0]
        assert (first.grant_id, first.amount) == (scoped.grant_id, "-5")  # scoped first
        assert gpu.available_after == Decimal("86.5")

        # A pooled wallet's member (set through the generic call): its budget is checked.
        await ledger.call(
            "SetPoolMember",
            pb.SetPoolMemberRequest(
                request_id="py-member-1",
                wallet_id=wallet.wallet_id,
                member_id="team-a",
                budget_amount="3",
            ),
            pb.SetPoolMemberResponse,
        )
        named = await ledger.debit(wallet.wallet_id, Decimal(2), member_id="team-a")
        assert named.entry.member_id == "team-a"
        with pytest.raises(FailedPrecondition) as over:
            await ledger.debit(wallet.wallet_id, Decimal(2), member_id="team-a")
        assert over.value.reason == "MEMBER_BUDGET_EXCEEDED"

        # The typed helper refuses what the server would refuse, before sending anything.
        with pytest.raises(ValueError, match="negative"):
            await ledger.debit(wallet.wallet_id, Decimal("-1"))
        # Sent anyway (through the generic call), the server's refusal names the field.
        with pytest.raises(InvalidArgument) as bad:
            raw = pb.DebitRequest(
                request_id="py-debit-raw", wallet_id=wallet.wallet_id, amount="-1"
            )
            await ledger.call("Debit", raw, pb.DebitResponse)
        assert [v.field for v in bad.value.violations] == ["amount"]


async def test_python_client_opens_a_tls_channel_trusting_the_ca(
    ledger_process: ServiceProcess,
) -> None:
    certs = dev_ca()
    async with bc_open_channel(ledger_process.target, ca_file=certs.ca, api_key=admin_key()) as ch:
        wallet = await LedgerClient(ch, timeout_s=10).create_wallet("py-tls", "CREDITS")
        assert wallet.customer_id == "py-tls"


def test_python_client_never_sends_an_api_key_in_plain_text() -> None:
    with pytest.raises(ValueError, match="only sent over TLS"):
        bc_open_channel("127.0.0.1:1", plaintext=True, api_key="bk_any")
