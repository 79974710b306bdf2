"""The ledger's tenant rule (domain/tenancy.py)."""

from __future__ import annotations

import pytest

from ledger_service.domain import tenancy
from ledger_service.domain.errors import WalletNotFound


@pytest.mark.parametrize(
    ("customers", "owner", "visible"),
    [
        (None, "c1", True),  # unscoped: every customer
        (frozenset({"c1"}), "c1", True),
        (frozenset({"c1", "c2"}), "c2", True),
        (frozenset({"c1"}), "c2", False),
        (frozenset(), "c1", False),  # bound to no customer: sees nothing
        (frozenset({"c1"}), "", False),
    ],
)
def test_a_caller_sees_only_its_customers_wallets(
    customers: frozenset[str] | None, owner: str, visible: bool
) -> None:
    assert tenancy.may_see(customers, owner) is visible


def test_a_foreign_wallet_raises_the_given_missing_error_itself() -> None:
    missing = WalletNotFound("wallet 'w1' does not exist")
    with pytest.raises(WalletNotFound) as raised:
        tenancy.check(frozenset({"c1"}), "c2", missing)
    assert raised.value is missing
    tenancy.check(frozenset({"c1"}), "c1", missing)  # visible: nothing raised
