"""Validated inputs of the ledger's use cases (the gRPC adapter builds them from requests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from ledger_service.domain.model import EntryType, GrantKind, GrantState, OveragePolicy
from ledger_service.domain.pool import BudgetPeriod, BudgetPolicy


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a use case runs for: the actor recorded on what it writes ("key:<id>", "cert:<cn>",
    "system", ...) and the customers whose wallets it may see and change (None: every one). The
    gRPC handler builds it from the call's principal; the service's own work runs as SYSTEM."""

    actor: str
    customers: frozenset[str] | None = None


SYSTEM = Caller("system")


@dataclass(frozen=True, slots=True)
class Idem:
    """Idempotency: the caller's request_id and the fingerprint of the request's content."""

    request_id: str
    method: str
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class CreateWallet:
    idem: Idem
    customer_id: str
    unit: str
    overage_policy: OveragePolicy
    late_event_grace: timedelta | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CreateGrant:
    idem: Idem
    wallet_id: str
    kind: GrantKind
    amount: Decimal
    priority: int
    effective_time: datetime | None
    expire_time: datetime | None
    cost_unit_price: Decimal
    cost_currency: str
    external_reference: str
    description: str
    metadata: dict[str, str] = field(default_factory=dict)
    # The features it applies to (sorted, validated); empty: every feature.
    features: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VoidGrant:
    idem: Idem
    grant_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Debit:
    idem: Idem
    wallet_id: str
    amount: Decimal
    occurred_time: datetime | None
    feature: str
    description: str
    source_event_id: str
    metadata: dict[str, str] = field(default_factory=dict)
    member_id: str = ""  # the pool member it is for ("" for none)


@dataclass(frozen=True, slots=True)
class Refund:
    idem: Idem
    entry_id: str
    amount: Decimal | None
    description: str


@dataclass(frozen=True, slots=True)
class EntryQuery:
    wallet_id: str
    types: tuple[EntryType, ...]
    start: datetime | None
    end: datetime | None
    before_seq: int | None
    limit: int
    member_id: str = ""  # only the entries of this pool member ("" for all)


@dataclass(frozen=True, slots=True)
class GrantQuery:
    wallet_id: str
    state: GrantState | None
    after_seq: int
    limit: int


@dataclass(frozen=True, slots=True)
class CreateHold:
    idem: Idem
    wallet_id: str
    amount: Decimal
    timeout: timedelta
    feature: str
    description: str
    member_id: str = ""


@dataclass(frozen=True, slots=True)
class CaptureHold:
    idem: Idem
    hold_id: str
    amount: Decimal
    description: str


@dataclass(frozen=True, slots=True)
class ReleaseHold:
    idem: Idem
    hold_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class WalletRef:
    """A wallet by its id, or by its customer and unit (`wallet_id` empty)."""

    wallet_id: str = ""
    customer_id: str = ""
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Authorize:
    """`idem` and `timeout` matter only with `hold`."""

    idem: Idem
    wallet: WalletRef
    amount: Decimal
    feature: str
    hold: bool
    timeout: timedelta
    description: str
    member_id: str = ""


@dataclass(frozen=True, slots=True)
class SetPoolMember:
    idem: Idem
    wallet_id: str
    member_id: str
    policy: BudgetPolicy
    budget_amount: Decimal | None
    budget_share: Decimal | None
    budget_period: BudgetPeriod
