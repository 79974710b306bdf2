"""What the rating use cases need from the ledger. The gRPC client in adapters/ledger_client.py
implements it over the ledger's own contract; unit tests use a fake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import grpc

from billing_common.errors import Unavailable
from billing_common.money import exact

_FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION.value[0]
# The retry rule of each answer of the ledger (README "Forwarder"):
# - Answers about the request itself: sending it again gets the same answer, so the charge stops
#   (FAILED) at once instead of being retried forever.
_PERMANENT = frozenset(
    c.value[0]
    for c in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
    )
)
# - The ledger failed on this request: a passing fault (a database restart it did not recognise)
#   or a bug every retry hits again. Retried a bounded number of times, then FAILED.
_BOUNDED = frozenset(
    c.value[0]
    for c in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS)
)
# - Everything else is transient and retried until it passes: the ledger unreachable, overloaded
#   or restarting (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, CANCELLED), and
#   what an operator fixes for every charge at once (UNAUTHENTICATED, PERMISSION_DENIED: our
#   credential; UNIMPLEMENTED: an older ledger). Failing every charge for those would lose them.


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
        """A final refusal of a DENY wallet."""
        return self.code == _FAILED_PRECONDITION and self.reason == "INSUFFICIENT_CREDITS"

    @property
    def permanent(self) -> bool:
        """Any other refusal that would be repeated on every retry (FAILED, never retried)."""
        return not self.denied and self.code in _PERMANENT

    @property
    def bounded(self) -> bool:
        """The ledger failed on the request (INTERNAL, ...): retried a bounded number of times,
        then FAILED."""
        return self.code in _BOUNDED

    @property
    def transient(self) -> bool:
        """Retried until it passes."""
        return not (self.denied or self.permanent or self.bounded)


@dataclass(frozen=True, slots=True)
class WalletView:
    unit: str
    customer_id: str


@dataclass(frozen=True, slots=True)
class TopUpView:
    """An automatic top-up the ledger made for a wallet (a block bought, under block pricing)."""

    top_up_id: str
    credits: Decimal
    unit_price: Decimal
    currency: str
    create_time: datetime

    @property
    @exact
    def price(self) -> Decimal:
        return self.credits * self.unit_price


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
