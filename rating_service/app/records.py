"""What rating's storage hands the use cases and takes from them: plain frozen dataclasses in the
domain's terms (no database rows, no dicts). The ports (`app/stores.py`) speak in them; the
PostgreSQL adapter maps each to its table once (`adapters/db/rows.py`, billing_common/rowmap.py)
and the in-memory fakes of the unit tests keep them as they are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from rating_service.domain.batch import AggKey
from rating_service.domain.model import Plan, PriceVersion
from rating_service.domain.refunds import CreditSplit
from rating_service.domain.status import ChargeStatus, EventState, UndoStatus

__all__ = [
    "Acknowledged",
    "ChargeRow",
    "Claim",
    "InvoiceRow",
    "LineEvent",
    "NewEvent",
    "NewUndo",
    "RefundPart",
    "StoredPlan",
    "StoredPrice",
    "UndoRow",
    "UsageEvent",
]


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming a request_id: new (claimed), or the stored earlier request."""

    claimed: bool
    method: str = ""
    fingerprint: bytes = b""
    response: bytes | None = None


@dataclass(frozen=True, slots=True)
class StoredPrice:
    version: PriceVersion
    unit: str
    create_time: datetime
    seq: int


@dataclass(frozen=True, slots=True)
class StoredPlan:
    plan: Plan
    unit: str
    create_time: datetime


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event as ingest stores it (its id is the dedup key)."""

    id: str
    customer_id: str
    type: str
    occurred_time: datetime
    properties: dict[str, str]
    assignment_id: str
    accept_time: datetime
    status: EventState


@dataclass(frozen=True, slots=True)
class ChargeRow:
    """A stored charge, with its meter's key and description (what a debit is described by)."""

    id: int
    event_id: str
    meter_id: str
    meter_key: str
    meter_description: str
    price_id: str
    price_version: int
    assignment_id: str
    customer_id: str
    wallet_id: str
    period_start: datetime
    period_end: datetime
    occurred_time: datetime
    amount: Decimal
    quantity_before: Decimal
    quantity_after: Decimal
    status: ChargeStatus
    ledger_request_id: str
    ledger_entry_id: str
    refunded: Decimal
    attempts: int
    internal_errors: int
    member_id: str = ""  # the pool member the event was for; empty for none

    @property
    def key(self) -> AggKey:
        return (self.assignment_id, self.meter_id, self.period_start)


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """The ledger booked a PENDING charge: its entry and how the wallet's credit covered it."""

    charge_id: int
    entry_id: str
    split: CreditSplit


@dataclass(frozen=True, slots=True)
class RefundPart:
    """One RefundDebit call of a negative charge, against one earlier acknowledged debit of its
    aggregate; planned once, so every retry repeats it with the same request id."""

    charge_id: int
    debit_charge_id: int
    debit_entry_id: str
    amount: Decimal
    ledger_request_id: str
    ledger_entry_id: str  # "" until the ledger booked it


@dataclass(frozen=True, slots=True)
class NewUndo:
    """A refund a synchronous refusal owes, as it is recorded (`UndoRow` once stored)."""

    event_id: str
    meter_id: str
    wallet_id: str
    debit_entry_id: str
    amount: Decimal
    description: str
    ledger_request_id: str
    status: UndoStatus
    forward_after: datetime
    create_time: datetime


@dataclass(frozen=True, slots=True)
class UndoRow:
    """A refund a synchronous refusal owes: the debit the ledger booked on another meter of the
    denied event, refunded in full."""

    id: int
    event_id: str
    meter_id: str
    wallet_id: str
    debit_entry_id: str
    amount: Decimal
    description: str
    ledger_request_id: str
    status: UndoStatus
    attempts: int
    internal_errors: int


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    id: str
    seq: int
    customer_id: str
    assignment_id: str
    period_start: datetime
    period_end: datetime
    status: str
    close_time: datetime | None
    snapshot: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class LineEvent:
    """An event behind an invoice line, with its charge."""

    type: str
    properties: dict[str, str]
    charge: ChargeRow


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """An event counted by GetUsage."""

    id: str
    occurred_time: datetime
    properties: dict[str, str]


@dataclass(frozen=True, slots=True)
class FixedCharge:
    """The fixed-charge debit of one period of an assignment (plans that debit it): written
    once per (assignment, period start) before it is sent, so a crash loses nothing and a
    restart books nothing twice. Status PENDING, ACKNOWLEDGED (paid), DENIED or FAILED (unpaid:
    it stays on the invoice as owed)."""

    assignment_id: str
    period_start: datetime
    period_end: datetime
    customer_id: str
    wallet_id: str
    amount: Decimal
    ledger_request_id: str
    description: str
    status: ChargeStatus
    forward_after: datetime
    create_time: datetime
    ledger_entry_id: str = ""
    last_error: str = ""
    attempts: int = 0
    internal_errors: int = 0
