"""How the ledger covered a charge: by grant kind and overage, signed like the charge."""

from __future__ import annotations

from decimal import Decimal

from billing_common.money import exact
from rating_service.app.ports import Booked

ZERO = Decimal(0)


@exact
def split_of(booked: Booked, kinds: dict[str, str]) -> dict[str, Decimal]:
    """Ledger allocations are negative when they take; a charge is positive when it takes."""
    prepaid = promotional = overage = ZERO
    for a in booked.allocations:
        if a.overage or not a.grant_id:
            overage -= a.amount
        elif kinds.get(a.grant_id) == "PROMOTIONAL":
            promotional -= a.amount
        else:
            prepaid -= a.amount
    return {"prepaid": prepaid, "promotional": promotional, "overage": overage}
