"""Burn-down order (SPEC "Ledger concepts", "Enterprise controls"), as a sort key.

Among grants available at the usage's time that apply to its feature (`Grant.applies_to`: a
scoped grant only to the features it names, an unscoped one to every usage), take
  0. grants scoped to the usage's feature before unscoped ones;
  1. lower priority number first;
  2. earlier expire_time first (no expiry last);
  3. PROMOTIONAL before PREPAID;
  4. earlier effective_time;
  5. earlier creation;
  6. grant id.
The key is total (ids are unique), so the result never depends on the order grants are listed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from billing_common.money import exact
from ledger_service.domain.model import Allocation, Grant, GrantKind

_NEVER = datetime.max.replace(tzinfo=UTC)


BurnKey = tuple[int, int, datetime, int, datetime, datetime, str]


def burn_key(grant: Grant) -> BurnKey:
    """The grant's place in the burn-down. Step 0 only orders the grants that apply to one
    usage (a scoped grant in the list names the usage's feature: the callers filter)."""
    return (
        0 if grant.features else 1,
        grant.priority,
        grant.expire_time or _NEVER,  # no expiry sorts last
        0 if grant.kind is GrantKind.PROMOTIONAL else 1,
        grant.effective_time,
        grant.create_time,
        grant.id,
    )


def burn_order(grants: Iterable[Grant]) -> list[Grant]:
    return sorted(grants, key=burn_key)


@exact
def allocate(grants: Iterable[Grant], amount: Decimal) -> tuple[list[Allocation], Decimal]:
    """Take `amount` from `grants` (already filtered for eligibility) in burn-down order.

    Returns the allocations (negative amounts) and the part no grant covered.
    """
    left = amount
    allocations: list[Allocation] = []
    for grant in burn_order(grants):
        if left <= 0:
            break
        take = min(grant.remaining, left)
        if take > 0:
            allocations.append(Allocation(grant.id, -take))
            left -= take
    return allocations, left
