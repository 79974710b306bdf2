"""The rating service's tenant rule (domain/tenancy.py)."""

from __future__ import annotations

import pytest

from rating_service.domain import tenancy


@pytest.mark.parametrize(
    ("customers", "customer_id", "visible"),
    [
        (None, "c1", True),  # unscoped: every customer
        (frozenset({"c1", "c2"}), "c2", True),
        (frozenset({"c1"}), "c2", False),
        (frozenset(), "c1", False),  # bound to no customer: sees no one
    ],
)
def test_a_caller_sees_only_its_customers(
    customers: frozenset[str] | None, customer_id: str, visible: bool
) -> None:
    assert tenancy.may_see(customers, customer_id) is visible
