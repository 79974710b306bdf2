"""A fake ledger for rating tests: books debits and refunds in memory, idempotent by request id,
with DENY wallets, and an outage switch."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from billing_common.money import format_amount
from rating_service.app.ports import (
    Booked,
    DebitItem,
    LedgerAllocation,
    LedgerUnavailable,
    Refused,
)


@dataclass
class FakeLedger:
    balances: dict[str, Decimal] = field(default_factory=dict)
    deny: set[str] = field(default_factory=set)
    # Every wallet exists in CREDITS unless listed here (missing) or in `units`.
    missing: set[str] = field(default_factory=set)
    units: dict[str, str] = field(default_factory=dict)
    down: bool = False
    booked: dict[str, Booked] = field(default_factory=dict)
    # How many times each request id was booked (replays do not count): must never exceed 1.
    bookings: Counter[str] = field(default_factory=Counter)
    amounts: dict[str, Decimal] = field(default_factory=dict)
    debit_of: dict[str, tuple[str, Decimal]] = field(
        default_factory=dict
    )  # entry -> wallet, amount
    refunded: dict[str, Decimal] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def balance(self, wallet: str) -> Decimal:
        return self.balances.get(wallet, Decimal(0))

    def _book(self, request_id: str, wallet: str, amount: Decimal, description: str) -> Booked:
        self.balances[wallet] = self.balance(wallet) + amount
        entry_id = f"entry-{next(self._ids)}"
        alloc = LedgerAllocation(f"grant-{wallet}", amount, False)
        booked = Booked(entry_id, format_amount(self.balances[wallet]), (alloc,))
        self.booked[request_id] = booked
        self.bookings[request_id] += 1
        self.amounts[request_id] = amount
        self.descriptions[request_id] = description
        return booked

    async def debit_batch(self, items: Sequence[DebitItem]) -> list[Booked | Refused]:
        if self.down:
            raise LedgerUnavailable("the fake ledger is down")
        results: list[Booked | Refused] = []
        for i in items:
            if i.request_id in self.booked:
                results.append(self.booked[i.request_id])
            elif i.wallet_id in self.deny and self.balance(i.wallet_id) < i.amount:
                results.append(Refused(9, "INSUFFICIENT_CREDITS", "not enough credits"))
            else:
                booked = self._book(i.request_id, i.wallet_id, -i.amount, i.description)
                self.debit_of[booked.entry_id] = (i.wallet_id, i.amount)
                results.append(booked)
        return results

    async def refund(
        self, request_id: str, entry_id: str, amount: Decimal, description: str
    ) -> Booked | Refused:
        if self.down:
            raise LedgerUnavailable("the fake ledger is down")
        if request_id in self.booked:
            return self.booked[request_id]
        wallet, debited = self.debit_of[entry_id]
        if self.refunded.get(entry_id, Decimal(0)) + amount > debited:
            return Refused(9, "REFUND_EXCEEDS_DEBIT", "too much")
        self.refunded[entry_id] = self.refunded.get(entry_id, Decimal(0)) + amount
        return self._book(request_id, wallet, amount, description)

    async def grant_kinds(self, grant_ids: Sequence[str]) -> dict[str, str]:
        if self.down:
            raise LedgerUnavailable("the fake ledger is down")
        return {g: "PREPAID" for g in grant_ids}

    async def outstanding_overage(self, wallet_id: str, as_of: object) -> Decimal:
        if self.down:
            raise LedgerUnavailable("the fake ledger is down")
        return Decimal(0)

    async def wallet_unit(self, wallet_id: str) -> str | None:
        if self.down:
            raise LedgerUnavailable("the fake ledger is down")
        return None if wallet_id in self.missing else self.units.get(wallet_id, "CREDITS")

    async def top_ups(self, wallet_id: str, start: object, end: object) -> list[object]:
        return []
