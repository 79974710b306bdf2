"""What the rating use cases need from the ledger, in rating's terms. The gRPC client in
adapters/ledger_client.py implements it over the ledger's own contract and translates the
ledger's gRPC codes into a `LedgerRefusal` (what the refusal means for the charge); unit tests
use a fake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from billing_common.errors import Unavailable
from rating_service.domain.invoice import TopUpView
from rating_service.domain.status import LedgerRefusal

__all__ = [
    "BatchRefused",
    "Booked",
    "DebitItem",
    "LedgerAllocation",
    "LedgerPort",
    "LedgerRefusal",
    "LedgerUnavailable",
    "Refused",
    "TopUpView",
    "WalletView",
]


class LedgerUnavailable(Unavailable):
    """The ledger could not be reached or answered with a transient error: retry later."""

    reason = "LEDGER_UNAVAILABLE"


class BatchRefused(LedgerUnavailable):
    """A whole DebitBatch of several debits was answered with an error that is not transient
    (INTERNAL, say), so which debit caused it is unknown. The forwarder sends the debits again in
    smaller batches until each answer is about one debit; a synchronous call leaves them to it."""

    def __init__(self, message: str, refused: Refused) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass(frozen=True, slots=True)
class DebitItem:
    request_id: str
    wallet_id: str
    amount: Decimal
    occurred_time: datetime
    feature: str
    source_event_id: str
    # The customer charged: the ledger refuses the debit if the wallet is someone else's.
    customer_id: str
    description: str = ""
    # The pool member the usage is for: the ledger counts it against the member's budget.
    member_id: str = ""


@dataclass(frozen=True, slots=True)
class LedgerAllocation:
    grant_id: str
    amount: Decimal  # signed as in the ledger: negative takes from the grant
    overage: bool


@dataclass(frozen=True, slots=True)
class Booked:
    entry_id: str
    available_after: str
    allocations: tuple[LedgerAllocation, ...]


@dataclass(frozen=True, slots=True)
class Refused:
    """The ledger refused one request: what that means (`refusal`), and the ledger's ErrorInfo
    reason and message (kept on the charge as its last error)."""

    refusal: LedgerRefusal
    reason: str
    message: str

    @property
    def denied(self) -> bool:
        """A final refusal of a DENY wallet."""
        return self.refusal == LedgerRefusal.DENIED

    @property
    def permanent(self) -> bool:
        """Any other refusal that would be repeated on every retry (FAILED, never retried)."""
        return self.refusal == LedgerRefusal.PERMANENT

    @property
    def error(self) -> str:
        """The text kept as the charge's last error."""
        return f"{self.reason}: {self.message}"


@dataclass(frozen=True, slots=True)
class WalletView:
    unit: str
    customer_id: str


class LedgerPort(Protocol):
    async def debit_batch(self, items: Sequence[DebitItem]) -> list[Booked | Refused]:
        """One result per item, in order. Raises LedgerUnavailable when the call failed."""
        ...

    async def refund(
        self, request_id: str, entry_id: str, amount: Decimal, description: str
    ) -> Booked | Refused:
        """Raises LedgerUnavailable when the call failed."""
        ...

    async def grant_kinds(self, grant_ids: Sequence[str]) -> dict[str, str]:
        """PREPAID or PROMOTIONAL per grant id. Raises LedgerUnavailable."""
        ...

    async def wallet(self, wallet_id: str) -> WalletView | None:
        """The wallet's unit and owner, or None when the ledger has no such wallet. Raises
        LedgerUnavailable."""
        ...

    async def outstanding_overage(self, wallet_id: str, as_of: datetime | None) -> Decimal:
        """The wallet's unsettled overage at `as_of`, or now by the ledger's own clock when None
        (0 for an unknown wallet). Raises LedgerUnavailable."""
        ...

    async def top_ups(self, wallet_id: str, start: datetime, end: datetime) -> list[TopUpView]:
        """Completed automatic top-ups of the wallet made in [start, end), oldest first (none for
        an unknown wallet). Raises LedgerUnavailable."""
        ...
