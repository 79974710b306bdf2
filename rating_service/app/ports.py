"""What the rating use cases need from the ledger. The gRPC client in adapters/ledger_client.py
implements it over the ledger's own contract; unit tests use a fake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from billing_common.errors import Unavailable

FAILED_PRECONDITION = 9


class LedgerUnavailable(Unavailable):
    """The ledger could not be reached or answered with a transient error: retry later."""

    reason = "LEDGER_UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class DebitItem:
    request_id: str
    wallet_id: str
    amount: Decimal
    occurred_time: datetime
    feature: str
    source_event_id: str
    description: str = ""


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
    code: int
    reason: str
    message: str

    @property
    def denied(self) -> bool:
        """A final refusal of a DENY wallet; anything else is retried."""
        return self.code == FAILED_PRECONDITION and self.reason == "INSUFFICIENT_CREDITS"


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

    async def wallet_unit(self, wallet_id: str) -> str | None:
        """The wallet's unit, or None when the ledger has no such wallet. Raises
        LedgerUnavailable."""
        ...

    async def outstanding_overage(self, wallet_id: str, as_of: datetime) -> Decimal:
        """The wallet's unsettled overage at `as_of` (0 for an unknown wallet). Raises
        LedgerUnavailable."""
        ...
