"""Ledger domain types: plain frozen dataclasses, no ORM, no transport, no clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)


class OveragePolicy(StrEnum):
    DENY = "DENY"
    ALLOW_OVERAGE = "ALLOW_OVERAGE"


class GrantKind(StrEnum):
    PREPAID = "PREPAID"
    PROMOTIONAL = "PROMOTIONAL"


class GrantState(StrEnum):
    ACTIVE = "ACTIVE"
    PENDING = "PENDING"
    EXPIRED = "EXPIRED"
    VOIDED = "VOIDED"
    CONSUMED = "CONSUMED"


class HoldState(StrEnum):
    ACTIVE = "ACTIVE"
    CAPTURED = "CAPTURED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


class EntryType(StrEnum):
    GRANT = "GRANT"
    DEBIT = "DEBIT"
    REFUND = "REFUND"
    EXPIRY = "EXPIRY"
    VOID = "VOID"
    ADJUSTMENT = "ADJUSTMENT"
    HOLD = "HOLD"
    CAPTURE = "CAPTURE"
    RELEASE = "RELEASE"
    OVERAGE_SETTLEMENT = "OVERAGE_SETTLEMENT"


@dataclass(frozen=True, slots=True)
class Wallet:
    id: str
    customer_id: str
    unit: str
    overage_policy: OveragePolicy
    late_event_grace: timedelta
    create_time: datetime
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Grant:
    """A credit block. `remaining` is the materialised sum of its allocations."""

    id: str
    wallet_id: str
    kind: GrantKind
    amount: Decimal
    remaining: Decimal
    priority: int
    effective_time: datetime
    expire_time: datetime | None
    create_time: datetime
    void_time: datetime | None = None
    expired_amount: Decimal = ZERO
    voided_amount: Decimal = ZERO
    # Paid towards overage settlements, and how much of that refunds have returned since.
    overage_paid: Decimal = ZERO
    overage_returned: Decimal = ZERO
    cost_unit_price: Decimal = ZERO
    cost_currency: str = ""
    external_reference: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def state(self, at: datetime) -> GrantState:
        if self.void_time is not None and self.void_time <= at:
            return GrantState.VOIDED
        if (
            self.expire_time is not None
            and self.expire_time <= at
            and (self.remaining > 0 or self.expired_amount > 0)
        ):
            return GrantState.EXPIRED
        if self.remaining == 0:
            return GrantState.CONSUMED
        if self.effective_time > at:
            return GrantState.PENDING
        return GrantState.ACTIVE

    def available_at(self, at: datetime) -> bool:
        """Usable by usage (and settlement) happening at `at`."""
        return (
            self.remaining > 0
            and self.void_time is None
            and self.effective_time <= at
            and (self.expire_time is None or at < self.expire_time)
        )

    def write_off_time(self, grace: timedelta) -> datetime | None:
        """When an expired remainder is written off: expire_time plus the wallet's grace."""
        return None if self.expire_time is None else self.expire_time + grace


@dataclass(frozen=True, slots=True)
class Allocation:
    """Signed: negative takes from the grant, positive gives back. grant_id None means overage
    (negative: usage owed; positive: owed usage paid or refunded)."""

    grant_id: str | None
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Entry:
    """A journal entry as the domain produces it. Invariant: amount == sum(allocations)."""

    type: EntryType
    amount: Decimal
    occurred_time: datetime
    allocations: tuple[Allocation, ...]
    available_after: Decimal
    overage_after: Decimal
    description: str = ""
    feature: str = ""
    source_event_id: str = ""
    related_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hold:
    """Credits reserved for work in flight. `allocations` are the reservations per grant, in
    burn-down order (negative, like a debit's)."""

    id: str
    wallet_id: str
    amount: Decimal
    create_time: datetime
    expire_time: datetime
    allocations: tuple[Allocation, ...]
    state: HoldState = HoldState.ACTIVE
    end_time: datetime | None = None
    captured_amount: Decimal = ZERO
    feature: str = ""
    description: str = ""

    def active_at(self, at: datetime) -> bool:
        """Reserving at `at`: created, not ended, not timed out. Exact at read time, whether or
        not the sweeper has booked the release of a timed-out hold."""
        ended = self.end_time is not None and self.end_time <= at
        return self.create_time <= at < self.expire_time and not ended


@dataclass(frozen=True, slots=True)
class WalletState:
    """Everything a write needs about one wallet: its live grants, outstanding overage and the
    holds not yet ended."""

    wallet: Wallet
    grants: dict[str, Grant]
    overage: Decimal
    holds: dict[str, Hold] = field(default_factory=dict)
