"""Typed helpers for the ledger's everyday calls: Decimal in, Decimal out, request ids made once
per call (so retries reuse them) unless the caller passes its own. Every other RPC is one
`await ledger.call("ListEntries", pb.ListEntriesRequest(...), pb.ListEntriesResponse)` away."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC as _UTC
from datetime import datetime
from decimal import Decimal

from billing.ledger.v1 import ledger_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from billing_client._call import ServiceClient
from billing_client._money import from_wire, to_wire


@dataclass(frozen=True)
class Debited:
    entry_id: str
    amount: Decimal  # signed change of the balance: negative for a debit
    available_after: Decimal
    overage_after: Decimal
    entry: pb.Entry


@dataclass(frozen=True)
class Balance:
    wallet_id: str
    unit: str
    as_of: datetime
    available: Decimal
    held: Decimal
    overage: Decimal
    net: Decimal
    pending_expiry: Decimal
    pending_grants: Decimal
    prepaid_available: Decimal
    promotional_available: Decimal

    @classmethod
    def from_proto(cls, balance: pb.Balance) -> Balance:
        return cls(
            wallet_id=balance.wallet_id,
            unit=balance.unit,
            as_of=balance.as_of_time.ToDatetime(tzinfo=_UTC),
            available=from_wire(balance.available),
            held=from_wire(balance.held),
            overage=from_wire(balance.overage),
            net=from_wire(balance.net),
            pending_expiry=from_wire(balance.pending_expiry),
            pending_grants=from_wire(balance.pending_grants),
            prepaid_available=from_wire(balance.prepaid_available),
            promotional_available=from_wire(balance.promotional_available),
        )


def new_request_id() -> str:
    return str(uuid.uuid4())


def _timestamp(value: datetime) -> Timestamp:
    if value.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


class LedgerClient(ServiceClient):
    """billing.ledger.v1.LedgerService. Construct on a `grpc.aio` channel you own."""

    service = "billing.ledger.v1.LedgerService"

    async def create_wallet(
        self,
        customer_id: str,
        unit: str,
        *,
        overage_policy: pb.OveragePolicy = pb.OVERAGE_POLICY_DENY,
        request_id: str | None = None,
        timeout_s: float | None = None,
    ) -> pb.Wallet:
        request = pb.CreateWalletRequest(
            request_id=request_id or new_request_id(),
            customer_id=customer_id,
            unit=unit,
            overage_policy=overage_policy,
        )
        response = await self.call(
            "CreateWallet", request, pb.CreateWalletResponse, timeout_s=timeout_s
        )
        return response.wallet

    async def create_grant(
        self,
        wallet_id: str,
        amount: Decimal | int,
        *,
        kind: pb.GrantKind = pb.GRANT_KIND_PREPAID,
        priority: int = 0,
        expire_time: datetime | None = None,
        external_reference: str = "",
        features: Sequence[str] = (),
        request_id: str | None = None,
        timeout_s: float | None = None,
    ) -> pb.Grant:
        """`features`: only usage of these burns the grant, before unscoped grants (empty:
        every feature)."""
        request = pb.CreateGrantRequest(
            request_id=request_id or new_request_id(),
            wallet_id=wallet_id,
            kind=kind,
            amount=to_wire(amount, allow_zero=False, allow_negative=False),
            priority=priority,
            external_reference=external_reference,
            features=list(features),
        )
        if expire_time is not None:
            request.expire_time.CopyFrom(_timestamp(expire_time))
        response = await self.call(
            "CreateGrant", request, pb.CreateGrantResponse, timeout_s=timeout_s
        )
        return response.grant

    async def debit(
        self,
        wallet_id: str,
        amount: Decimal | int,
        *,
        feature: str = "",
        occurred_time: datetime | None = None,
        source_event_id: str = "",
        member_id: str = "",
        request_id: str | None = None,
        timeout_s: float | None = None,
    ) -> Debited:
        """`member_id`: the pooled wallet's member the usage is for (checked against its
        budget: FAILED_PRECONDITION / MEMBER_BUDGET_EXCEEDED past a DENY budget)."""
        request = pb.DebitRequest(
            request_id=request_id or new_request_id(),
            wallet_id=wallet_id,
            amount=to_wire(amount, allow_zero=False, allow_negative=False),
            feature=feature,
            source_event_id=source_event_id,
            member_id=member_id,
        )
        if occurred_time is not None:
            request.occurred_time.CopyFrom(_timestamp(occurred_time))
        entry = (await self.call("Debit", request, pb.DebitResponse, timeout_s=timeout_s)).entry
        return Debited(
            entry_id=entry.entry_id,
            amount=from_wire(entry.amount),
            available_after=from_wire(entry.available_after),
            overage_after=from_wire(entry.overage_after),
            entry=entry,
        )

    async def get_balance(
        self, wallet_id: str, *, as_of: datetime | None = None, timeout_s: float | None = None
    ) -> Balance:
        request = pb.GetBalanceRequest(wallet_id=wallet_id)
        if as_of is not None:
            request.as_of_time.CopyFrom(_timestamp(as_of))
        response = await self.call(
            "GetBalance", request, pb.GetBalanceResponse, timeout_s=timeout_s
        )
        return Balance.from_proto(response.balance)


class RatingClient(ServiceClient):
    """billing.rating.v1.RatingService, through `call` (its contract is still moving)."""

    service = "billing.rating.v1.RatingService"
