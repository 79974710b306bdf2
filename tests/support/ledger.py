"""Small builders for ledger requests used across tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from billing.ledger.v1 import ledger_pb2 as pb

from billing_common.clock import FakeClock
from billing_common.protoconv import duration, timestamp


def rid() -> str:
    return str(uuid.uuid4())


async def make_wallet(
    stub: object,
    *,
    policy: int = pb.OVERAGE_POLICY_DENY,
    unit: str = "CREDITS",
    customer_id: str | None = None,
    grace: timedelta | None = None,
) -> pb.Wallet:
    request = pb.CreateWalletRequest(
        request_id=rid(),
        customer_id=customer_id or f"cust-{rid()}",
        unit=unit,
        overage_policy=policy,
    )
    if grace is not None:
        request.late_event_grace_period.CopyFrom(duration(grace))
    response = await stub.CreateWallet(request)  # type: ignore[attr-defined]
    return response.wallet


async def make_grant(
    stub: object,
    wallet_id: str,
    amount: str,
    *,
    kind: int = pb.GRANT_KIND_PREPAID,
    priority: int = 0,
    effective: datetime | None = None,
    expire: datetime | None = None,
) -> pb.CreateGrantResponse:
    request = pb.CreateGrantRequest(
        request_id=rid(), wallet_id=wallet_id, kind=kind, amount=amount, priority=priority
    )
    if effective is not None:
        request.effective_time.CopyFrom(timestamp(effective))
    if expire is not None:
        request.expire_time.CopyFrom(timestamp(expire))
    return await stub.CreateGrant(request)  # type: ignore[attr-defined,no-any-return]


def debit_request(
    wallet_id: str,
    amount: str,
    *,
    occurred: datetime | None = None,
    feature: str = "api_call",
    request_id: str | None = None,
) -> pb.DebitRequest:
    request = pb.DebitRequest(
        request_id=request_id or rid(), wallet_id=wallet_id, amount=amount, feature=feature
    )
    if occurred is not None:
        request.occurred_time.CopyFrom(timestamp(occurred))
    return request


async def balance(stub: object, wallet_id: str, as_of: datetime | None = None) -> pb.Balance:
    request = pb.GetBalanceRequest(wallet_id=wallet_id)
    if as_of is not None:
        request.as_of_time.CopyFrom(timestamp(as_of))
    return (await stub.GetBalance(request)).balance  # type: ignore[attr-defined]


class TickingClock(FakeClock):
    """A fake clock that moves forward a little on every read, as real time does: two reads in a
    row never agree, so a time read too early (before a lock was granted) shows."""

    def __init__(self, start: datetime, tick: timedelta = timedelta(microseconds=100)) -> None:
        super().__init__(start)
        self.tick = tick

    def now(self) -> datetime:
        return self.advance(self.tick)
