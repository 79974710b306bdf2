"""Refunds: how a negative charge is split over the debits it takes back, and how the ledger
covered a booking (by grant kind and overage). Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

from billing_common.money import exact
from rating_service.domain.status import GrantKind

ZERO = Decimal(0)


class Refundable(Protocol):
    """An acknowledged debit of the aggregate: its amount and how much of it was refunded."""

    @property
    def amount(self) -> Decimal: ...

    @property
    def refunded(self) -> Decimal: ...


D = TypeVar("D", bound=Refundable)


@dataclass(frozen=True, slots=True)
class RefundSplit(Generic[D]):
    parts: tuple[tuple[D, Decimal], ...]
    # What no debit could cover (the debits it would take back were denied or failed): recorded,
    # never sent.
    unrefundable: Decimal


@exact
def split_refund(amount: Decimal, debits: Sequence[D]) -> RefundSplit[D]:
    """Split a refund of `amount` (positive) over `debits`, in the order given (newest first:
    refunds return the latest usage first), each part at most what is left of its debit."""
    assert amount >= 0, amount
    remaining = amount
    parts: list[tuple[D, Decimal]] = []
    for debit in debits:
        if remaining == 0:
            break
        take = min(remaining, debit.amount - debit.refunded)
        parts.append((debit, take))
        remaining -= take
    return RefundSplit(tuple(parts), remaining)


class Allocation(Protocol):
    """Part of a ledger booking: from a grant, or overage (no grant)."""

    @property
    def grant_id(self) -> str: ...

    @property
    def amount(self) -> Decimal: ...  # signed as in the ledger: negative takes from the grant

    @property
    def overage(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class CreditSplit:
    prepaid: Decimal = ZERO
    promotional: Decimal = ZERO
    overage: Decimal = ZERO

    def as_dict(self) -> dict[str, Decimal]:
        return {"prepaid": self.prepaid, "promotional": self.promotional, "overage": self.overage}


@exact
def credit_split(allocations: Iterable[Allocation], kinds: Mapping[str, str]) -> CreditSplit:
    """How the ledger covered a booking, signed like the charge: ledger allocations are negative
    when they take, a charge is positive when it takes. `kinds`: grant id -> GrantKind."""
    prepaid = promotional = overage = ZERO
    for a in allocations:
        if a.overage or not a.grant_id:
            overage -= a.amount
        elif kinds.get(a.grant_id) == GrantKind.PROMOTIONAL:
            promotional -= a.amount
        else:
            prepaid -= a.amount
    return CreditSplit(prepaid, promotional, overage)
