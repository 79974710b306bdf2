"""Tenant isolation: which customers a caller may see. The rating service's one rule for it.

A caller bound to a set of customers (an API key's tenant scope) sees only those customers'
events, usage, plan assignments and invoices. Another customer is, for that caller, a customer
with nothing: no plan assignment (so CUSTOMER_NOT_FOUND wherever one is needed), no events, no
invoices (INVOICE_NOT_FOUND for one asked for by id). The answers are exactly those of a
customer that does not exist. `customers` None means every customer (an unscoped key, the
service itself). The catalogue (meters, prices, plans) is shared by every customer."""

from __future__ import annotations

Customers = frozenset[str] | None


def may_see(customers: Customers, customer_id: str) -> bool:
    """Whether a caller allowed `customers` may see `customer_id`'s data."""
    return customers is None or customer_id in customers
