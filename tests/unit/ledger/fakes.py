"""An in-memory `UnitOfWork` for the ledger's use cases (app/ports.py): wallets, grants, holds,
entries and idempotency claims in dictionaries. Transactions run one at a time (as if every
transaction locked every wallet) and roll back on an exception, so use cases can be tested
without PostgreSQL; the real adapter is tested against PostgreSQL in tests/integration and e2e.

Only what the write path, balances and the webhook use cases (`fake_webhooks.py`) use is here;
the rest of the port raises."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from billing_common.errors import BillingError
from ledger_service.app.ports import Claim, StoredEntry
from ledger_service.domain.model import (
    AlertRule,
    Allocation,
    Automation,
    Entry,
    EntryType,
    Grant,
    Hold,
    HoldState,
    Wallet,
    WalletEvent,
    WalletState,
)
from tests.unit.ledger.fake_webhooks import FakeWebhookStore, WebhookTables

T = TypeVar("T")


@dataclass
class Tables:
    wallets: dict[str, tuple[Wallet, Decimal, datetime]] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)
    entries: dict[str, StoredEntry] = field(default_factory=dict)
    events: list[tuple[str, str, WalletEvent]] = field(default_factory=list)  # id, wallet, event
    keys: dict[str, list[Any]] = field(default_factory=dict)  # [method, fingerprint, response]
    alert_rules: dict[str, tuple[AlertRule, ...]] = field(default_factory=dict)
    webhooks: WebhookTables = field(default_factory=WebhookTables)


class FakeStore:
    def __init__(self, tables: Tables) -> None:
        self.t = tables

    @property
    def webhooks(self) -> FakeWebhookStore:
        return FakeWebhookStore(self.t.webhooks, self.t.events)

    # -- idempotency
    async def claim(
        self, requests: Sequence[tuple[str, str, bytes]], now: datetime
    ) -> dict[str, Claim]:
        out: dict[str, Claim] = {}
        for request_id, method, fingerprint in sorted(requests):
            stored = self.t.keys.get(request_id)
            if stored is None:
                self.t.keys[request_id] = [method, fingerprint, None]
                out[request_id] = Claim(request_id, True)
            else:
                out[request_id] = Claim(request_id, False, *stored)
        return out

    async def claim_and_lock(
        self,
        requests: Sequence[tuple[str, str, bytes, str]],
        now: datetime,
        time_under_lock: Callable[[], datetime],
    ) -> tuple[dict[str, Claim], dict[str, WalletState], datetime]:
        claims = await self.claim([(r, m, f) for r, m, f, _ in requests], now)
        wallets = [w for r, _, _, w in requests if claims[r].claimed]
        states, at = await self.lock_states(wallets, time_under_lock)
        return claims, states, at

    async def store_responses(self, responses: dict[str, bytes]) -> None:
        for request_id, payload in responses.items():
            self.t.keys[request_id][2] = payload

    # -- wallets and their state
    async def insert_wallet(self, wallet: Wallet, created_by: str) -> bool:
        if any(
            (w.customer_id, w.unit) == (wallet.customer_id, wallet.unit)
            for w, _, _ in self.t.wallets.values()
        ):
            return False
        self.t.wallets[wallet.id] = (wallet, Decimal(0), wallet.create_time)
        return True

    async def record_rule_author(self, wallet_id: str, actor: str) -> None:
        pass  # authorship is kept in the database only (tests/e2e check it)

    async def record_schedule_author(self, schedule_id: str, ended: bool, actor: str) -> None:
        pass

    async def replace_alert_rules(
        self, wallet_id: str, rules: Sequence[AlertRule], created_by: str
    ) -> None:
        self.t.alert_rules[wallet_id] = tuple(rules)

    async def get_wallet(self, wallet_id: str) -> tuple[Wallet, Decimal] | None:
        found = self.t.wallets.get(wallet_id)
        return None if found is None else (found[0], found[1])

    async def wallet_owners(self, wallet_ids: Iterable[str]) -> dict[str, str]:
        return {w: self.t.wallets[w][0].customer_id for w in wallet_ids if w in self.t.wallets}

    def _state(self, wallet_id: str, now: datetime) -> WalletState:
        wallet, overage, book_time = self.t.wallets[wallet_id]
        grants = {
            g.id: g
            for g in self.t.grants.values()
            if g.wallet_id == wallet_id
            and (
                g.remaining > 0
                or g.overage_paid > g.overage_returned
                or (
                    g.void_time is None
                    and g.effective_time <= now
                    and (g.expire_time is None or g.expire_time > now)
                )
            )
        }
        holds = {
            h.id: h
            for h in self.t.holds.values()
            if h.wallet_id == wallet_id and h.state is HoldState.ACTIVE
        }
        automation = Automation(alert_rules=self.t.alert_rules.get(wallet_id, ()))
        return WalletState(wallet, grants, overage, holds, automation, book_time=book_time)

    async def lock_states(
        self, wallet_ids: Iterable[str], time_under_lock: Callable[[], datetime]
    ) -> tuple[dict[str, WalletState], datetime]:
        now = time_under_lock()
        found = sorted(w for w in set(wallet_ids) if w in self.t.wallets)
        return {w: self._state(w, now) for w in found}, now

    async def state_at(self, wallet_id: str, at: datetime | None) -> WalletState | None:
        if at is not None:
            raise NotImplementedError("the fake keeps no history")
        if wallet_id not in self.t.wallets:
            return None
        return self._state(wallet_id, self.t.wallets[wallet_id][2])

    async def state_to_authorize(
        self, wallet_id: str, customer_id: str, unit: str, now: datetime
    ) -> WalletState | None:
        if wallet_id:
            return await self.state_at(wallet_id, None)
        return await self.state_now_of(customer_id, unit)

    async def state_now_of(self, customer_id: str, unit: str) -> WalletState | None:
        for wallet, _, _ in self.t.wallets.values():
            if (wallet.customer_id, wallet.unit) == (customer_id, unit):
                return await self.state_at(wallet.id, None)
        return None

    async def add_grants(self, state: WalletState, grant_ids: Iterable[str]) -> WalletState:
        extra = {g: self.t.grants[g] for g in grant_ids if g in self.t.grants}
        return replace(state, grants={**extra, **state.grants})

    async def save(
        self,
        before: dict[str, WalletState],
        after: dict[str, WalletState],
        new_entries: Sequence[tuple[str, str, str, str, Entry]],
        now: datetime,
        events: Sequence[tuple[str, str, WalletEvent]] = (),
        responses: dict[str, bytes] | None = None,
        released: Sequence[str] = (),
    ) -> None:
        for wallet_id, state in after.items():
            wallet, _, book_time = self.t.wallets[wallet_id]
            self.t.wallets[wallet_id] = (wallet, state.overage, max(book_time, now))
            self.t.grants.update(state.grants)
            self.t.holds.update(state.holds)
            self.t.alert_rules[wallet_id] = state.automation.alert_rules
        for entry_id, wallet_id, request_id, actor, entry in new_entries:
            self.t.entries[entry_id] = StoredEntry(
                entry_id, wallet_id, now, request_id, entry, actor
            )
        self.t.events += events
        await self.store_responses(responses or {})
        for request_id in released:
            self.t.keys.pop(request_id, None)

    # -- lookups
    async def get_grant(self, grant_id: str) -> Grant | None:
        return self.t.grants.get(grant_id)

    async def get_hold(self, hold_id: str) -> Hold | None:
        return self.t.holds.get(hold_id)

    async def get_entry(self, entry_id: str) -> StoredEntry | None:
        return self.t.entries.get(entry_id)

    async def refunds_of(self, entry_id: str) -> list[list[Allocation]]:
        return [
            list(s.entry.allocations)
            for s in self.t.entries.values()
            if s.entry.type is EntryType.REFUND and s.entry.related_id == entry_id
        ]

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"the fake store has no {name}")


class FakeUnitOfWork:
    """Transactions one at a time; an exception rolls the tables back. `fail_next` makes the next
    transactions fail with that error (a database that is down)."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.transactions = 0
        self.fail_next: list[BillingError] = []
        self._lock = asyncio.Lock()

    async def write(self, work: Callable[[Any], Awaitable[T]]) -> T:
        async with self._lock:
            self.transactions += 1
            if self.fail_next:
                raise self.fail_next.pop(0)
            saved = copy.deepcopy(self.tables)
            try:
                return await work(FakeStore(self.tables))
            except BaseException:
                self.tables = saved
                raise

    async def read(self, work: Callable[[Any], Awaitable[T]]) -> T:
        return await work(FakeStore(self.tables))

    async def settled_event_seq(self) -> int | None:
        return len(self.tables.events)
