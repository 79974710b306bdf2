"""Builders for domain objects in unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ledger_service.domain.model import Grant, GrantKind, OveragePolicy, Wallet, WalletState

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def wallet(
    policy: OveragePolicy = OveragePolicy.DENY, grace: timedelta = timedelta(hours=1)
) -> Wallet:
    return Wallet("w", "c", "CREDITS", policy, grace, T0)


def state(
    *grants: Grant, policy: OveragePolicy = OveragePolicy.DENY, overage: str = "0"
) -> WalletState:
    return WalletState(wallet(policy), {g.id: g for g in grants}, Decimal(overage))


def grant(
    gid: str,
    amount: str,
    *,
    kind: GrantKind = GrantKind.PREPAID,
    priority: int = 0,
    effective: datetime = T0,
    expire: datetime | None = None,
    created: datetime = T0,
    features: tuple[str, ...] = (),
) -> Grant:
    return Grant(
        id=gid,
        wallet_id="w",
        kind=kind,
        amount=Decimal(amount),
        remaining=Decimal(amount),
        priority=priority,
        effective_time=effective,
        expire_time=expire,
        create_time=created,
        features=tuple(sorted(features)),
    )
