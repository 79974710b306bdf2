"""Ledger domain types: plain frozen dataclasses, no ORM, no transport, no clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from billing_common.periods import Cadence, period_start

if TYPE_CHECKING:
    from ledger_service.domain.pool import MemberUsage

ZERO = Decimal(0)
# Missed allotment periods granted in one pass at most (the next pass books the rest).
CATCH_UP_PERIODS_MAX = 100


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
    # The features (or meters) it applies to, sorted; empty: every feature (unscoped).
    features: tuple[str, ...] = ()

    def applies_to(self, feature: str) -> bool:
        """Usage of `feature` may burn it: it is unscoped, or it names the feature. Usage with no
        feature ("") burns only unscoped grants."""
        return not self.features or feature in self.features

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
    # The pool member it was for ("" for none) and the part past the member's budget (ALLOW).
    member_id: str = ""
    over_budget: Decimal = ZERO


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
    member_id: str = ""  # the pool member it reserves for ("" for none)

    def active_at(self, at: datetime) -> bool:
        """Reserving at `at`: not ended, not timed out. Exact at read time, whether or not the
        sweeper has booked the release of a timed-out hold.

        Its create_time is deliberately not compared with `at`: a hold another process committed
        reserves for every later write, whatever that process's clock said (a hold is a
        guarantee). A state at a past instant holds only the holds created by then (the
        repository filters them when it loads the past)."""
        ended = self.end_time is not None and self.end_time <= at
        return at < self.expire_time and not ended


class AlertKind(StrEnum):
    ABSOLUTE = "ABSOLUTE"
    PERCENT = "PERCENT"
    DEPLETED = "DEPLETED"


@dataclass(frozen=True, slots=True)
class AlertRule:
    """Fires once when the available balance reaches its threshold or drops below it; re-arms
    only when the balance is above it again. `threshold` is an amount (ABSOLUTE) or a percentage
    (PERCENT)."""

    id: str
    wallet_id: str
    name: str
    kind: AlertKind
    threshold: Decimal
    min_interval: timedelta | None = None
    armed: bool = True
    last_fire_time: datetime | None = None
    # A pool member whose budget the rule watches instead of the pool's balance ("" for none).
    member_id: str = ""


class TopUpPayment(StrEnum):
    IMMEDIATE = "IMMEDIATE"
    ON_CONFIRMATION = "ON_CONFIRMATION"


class TopUpState(StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class TopUpRule:
    """Grant `amount` (or up to `target`) when the available balance falls (strictly) below
    `threshold`."""

    wallet_id: str
    threshold: Decimal
    amount: Decimal | None
    target: Decimal | None
    kind: GrantKind
    priority: int
    expire_after: timedelta | None
    unit_price: Decimal
    currency: str
    daily_cap: Decimal | None
    monthly_cap: Decimal | None
    payment: TopUpPayment
    enabled: bool = True
    armed: bool = True
    failures: int = 0
    retry_after: datetime | None = None
    # Absolute end of the credits (a subscription's end); no top-up is made from then on.
    expire_time: datetime | None = None
    # The subscription (allotment schedule of the wallet) the credits are bought under, or "":
    # they expire by its end, are voided with its grants when it ends, none is bought after it.
    schedule_id: str = ""


def top_up_reference(topup_id: str, schedule_id: str = "") -> str:
    """The external reference of a top-up's grant; it names the subscription it was bought
    under, if any."""
    suffix = f":subscription:{schedule_id}" if schedule_id else ""
    return f"top-up:{topup_id}{suffix}"


@dataclass(frozen=True, slots=True)
class TopUp:
    id: str
    wallet_id: str
    amount: Decimal
    unit_price: Decimal
    currency: str
    state: TopUpState
    create_time: datetime
    kind: GrantKind
    priority: int
    expire_time: datetime | None
    end_time: datetime | None = None
    grant_id: str = ""
    failure_reason: str = ""
    # The subscription it was bought under (its rule's schedule_id when it started), or "".
    schedule_id: str = ""


class EventType(StrEnum):
    GRANT_CREATED = "GRANT_CREATED"
    CREDITS_EXPIRED = "CREDITS_EXPIRED"
    ALERT_FIRED = "ALERT_FIRED"
    ALERT_RECOVERED = "ALERT_RECOVERED"
    TOP_UP_CREATED = "TOP_UP_CREATED"
    TOP_UP_COMPLETED = "TOP_UP_COMPLETED"
    TOP_UP_FAILED = "TOP_UP_FAILED"
    # Consumption signals (domain/burn.py).
    BURN_SPIKE = "BURN_SPIKE"
    SLOWDOWN = "SLOWDOWN"
    DEPLETION_EXPECTED = "DEPLETION_EXPECTED"


@dataclass(frozen=True, slots=True)
class WalletEvent:
    """A durable event, written in the same transaction as the change it reports."""

    type: EventType
    occurred_time: datetime
    data: dict[str, str]


class AllotmentExpiry(StrEnum):
    END_OF_PERIOD = "END_OF_PERIOD"
    AFTER_DURATION = "AFTER_DURATION"
    NEVER = "NEVER"


@dataclass(frozen=True, slots=True)
class AllotmentSchedule:
    id: str
    wallet_id: str
    amount: Decimal
    kind: GrantKind
    priority: int
    cadence: Cadence
    anchor: datetime
    expiry: AllotmentExpiry
    expire_after: timedelta | None = None
    rollover_cap: Decimal | None = None
    end_time: datetime | None = None
    next_index: int = 0
    unit_price: Decimal = ZERO
    currency: str = ""
    description: str = ""
    # Set once, after end_time, when the schedule's remaining credits were voided.
    closed: bool = False

    def reference(self, index: int) -> str:
        return f"allotment:{self.id}:{index}"

    def owns(self, g: Grant) -> bool:
        """A grant of the schedule's own periods."""
        return g.external_reference.startswith(f"allotment:{self.id}:")

    def owns_block(self, g: Grant) -> bool:
        """A block (top-up) bought under the schedule: it ends with the subscription."""
        reference = g.external_reference
        return reference.startswith("top-up:") and reference.endswith(f":subscription:{self.id}")

    def start(self, index: int) -> datetime:
        return period_start(self.anchor, self.cadence, index)

    def due(self, now: datetime) -> list[int]:
        """Period indices whose grant is due at `now` and not booked yet (bounded)."""
        found: list[int] = []
        k = self.next_index
        while len(found) < CATCH_UP_PERIODS_MAX and self.start(k) <= now:
            if self.end_time is not None and self.start(k) >= self.end_time:
                break
            found.append(k)
            k += 1
        return found

    def expire_time(self, index: int) -> datetime | None:
        start = self.start(index)
        expire = {
            AllotmentExpiry.END_OF_PERIOD: self.start(index + 1),
            AllotmentExpiry.AFTER_DURATION: start + (self.expire_after or timedelta(0)),
            AllotmentExpiry.NEVER: None,
        }[self.expiry]
        if self.end_time is not None:
            expire = self.end_time if expire is None else min(expire, self.end_time)
        return expire


@dataclass(frozen=True, slots=True)
class Automation:
    """A wallet's alert rules, top-up rule, top-ups not settled yet, and what was topped up in the
    current UTC day and month (for the caps)."""

    alert_rules: tuple[AlertRule, ...] = ()
    topup_rule: TopUpRule | None = None
    topups: dict[str, TopUp] = field(default_factory=dict)
    topped_up_day: Decimal = ZERO
    topped_up_month: Decimal = ZERO
    schedules: tuple[AllotmentSchedule, ...] = ()


@dataclass(frozen=True, slots=True)
class WalletState:
    """Everything a write needs about one wallet: its live grants, outstanding overage and the
    holds not yet ended. `book_time`: when the last write was booked on the wallet (None: not
    known); no later write or read of "now" is placed before it (see `ledger.write_time`)."""

    wallet: Wallet
    grants: dict[str, Grant]
    overage: Decimal
    holds: dict[str, Hold] = field(default_factory=dict)
    automation: Automation = field(default_factory=Automation)
    book_time: datetime | None = None
    # Pool members a write of this transaction named, with their spend in the current period
    # (loaded under the lock by the operations that name them: domain/pool.py).
    members: dict[str, MemberUsage] = field(default_factory=dict)
