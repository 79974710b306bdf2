"""Tenant isolation: which wallets a caller may see. The ledger's one rule for it.

A caller bound to a set of customers (an API key's tenant scope) sees only those customers'
wallets and whatever hangs off them (grants, entries, holds, top-ups, rules, schedules, events).
Anything else answers exactly as if it did not exist: the same error, code, reason and message
a missing wallet (or grant, hold, ...) gets, so a tenant cannot tell "someone else's" from "no
such thing". `customers` None means every customer (an unscoped key, the service itself)."""

from __future__ import annotations

from billing_common.errors import BillingError

Customers = frozenset[str] | None


def may_see(customers: Customers, owner: str) -> bool:
    """Whether a caller allowed `customers` may see a wallet owned by `owner`."""
    return customers is None or owner in customers


def check(customers: Customers, owner: str, missing: BillingError) -> None:
    """Raise `missing` (the error of a thing that does not exist) when the caller may not see a
    wallet owned by `owner`."""
    if not may_see(customers, owner):
        raise missing
