"""What the ledger's use cases need from storage, as protocols (the ports).

The app layer talks only to a `UnitOfWork` (run work in one transaction, retried on contention, or
in a read) and the `LedgerStore` it hands out, with its `WebhookStore` in the same transaction;
`adapters/db` implements them on PostgreSQL (`unit_of_work.SqlUnitOfWork` over
`repository.LedgerRepository` and `webhooks.WebhookRepository`) and `tests/unit/ledger/fakes.py`
in memory. The signatures are the repository's; the semantics each promises are written on the
method.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from ledger_service.domain.burn import Signal, SignalPolicy
from ledger_service.domain.model import (
    AlertRule,
    Allocation,
    AllotmentSchedule,
    Entry,
    EntryType,
    EventType,
    Grant,
    GrantState,
    Hold,
    TopUp,
    TopUpRule,
    Wallet,
    WalletEvent,
    WalletState,
)
from ledger_service.domain.pool import MemberUsage, PoolMember
from ledger_service.domain.reports import Bucket, Movement, ReportWallet
from ledger_service.domain.webhooks import (
    Delivery,
    DeliveryState,
    Outcome,
    WebhookEndpoint,
)

T = TypeVar("T")


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming a request_id: new (claimed), or the stored earlier request."""

    request_id: str
    claimed: bool
    method: str = ""
    fingerprint: bytes = b""
    response: bytes | None = None


@dataclass(frozen=True, slots=True)
class StoredEntry:
    id: str
    wallet_id: str
    book_time: datetime
    request_id: str
    entry: Entry
    # Who wrote it: the caller's actor ("key:<id>", "cert:<cn>", "anonymous"), or "system" for
    # what the ledger books on its own (expiry, allotments, automatic top-ups).
    actor: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    id: str
    wallet_id: str
    book_time: datetime
    event: WalletEvent


@dataclass(frozen=True, slots=True)
class DispatchTarget:
    """An active webhook endpoint whose cursor is behind the event horizon."""

    id: str
    wallet_id: str  # "" for every wallet
    types: tuple[str, ...]  # () for every type
    cursor: int


@dataclass(frozen=True, slots=True)
class Sealed:
    """A secret encrypted at rest: the ciphertext and the id of the key that sealed it."""

    key_id: str
    ciphertext: bytes


class SecretUnavailable(Exception):
    """A sealed secret that no configured key opens (its key is gone, or the row was altered):
    an operator's problem, not a caller's."""


class Sealer(Protocol):
    """Encrypts secrets for storage (adapters/secrets.py: AES-GCM). `context` (the owning row's
    id) is bound to the ciphertext, so a sealed secret copied onto another row does not open."""

    def seal(self, plain: str, context: str) -> Sealed: ...

    def open(self, sealed: Sealed, context: str) -> str:
        """The plain secret; SecretUnavailable if no configured key opens it."""
        ...


class Resolver(Protocol):
    """Names to addresses (adapters/http/resolver.py: the system's resolver)."""

    async def resolve(self, host: str) -> list[str]:
        """The host's addresses as text; an IP literal (in any spelling the system accepts,
        2130706433 and 0x7f000001 included) gives itself; [] when the name does not resolve."""
        ...


@dataclass(frozen=True, slots=True)
class EndpointSecrets:
    """An endpoint's signing secret, and the one it replaced while the rotation's overlap
    window lasts (until `previous_until`)."""

    current: Sealed
    previous: Sealed | None = None
    previous_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed for one attempt, with what the request needs."""

    delivery_id: str
    attempt: int
    endpoint_id: str
    url: str
    secrets: EndpointSecrets
    event_id: str
    event_seq: int
    wallet_id: str
    event_type: EventType
    occurred_time: datetime
    data: dict[str, str]


class WebhookStore(Protocol):
    """Webhook endpoints, their deliveries and the attempt logs, inside the transaction of the
    `LedgerStore` that hands it out (`LedgerStore.webhooks`)."""

    async def lock_scope(self, wallet_id: str) -> None:
        """Serialise endpoint creation per scope (a wallet, or "" for global) until the
        transaction ends, so the per-scope cap holds."""
        ...

    async def count_active(self, wallet_id: str) -> int:
        """Endpoints not deleted in the scope (a wallet, or "" for the global ones)."""
        ...

    async def last_event_seq(self) -> int:
        """The highest event cursor written (0 before any event)."""
        ...

    async def insert_endpoint(self, endpoint: WebhookEndpoint, secret: Sealed, cursor: int) -> None:
        """Store a new endpoint; events after `cursor` are the ones it will be sent."""
        ...

    async def rotate_secret(
        self, endpoint_id: str, secret: Sealed, previous_until: datetime | None
    ) -> None:
        """Make `secret` the endpoint's signing secret; the one it replaces stays valid until
        `previous_until` (None: not at all), and the one before that is forgotten."""
        ...

    async def get_endpoint(self, endpoint_id: str, *, lock: bool = False) -> WebhookEndpoint | None:
        """The endpoint, deleted ones included; `lock` holds it until the transaction ends."""
        ...

    async def list_endpoints(
        self,
        wallet_id: str,
        after_seq: int,
        limit: int,
        customers: frozenset[str] | None = None,
    ) -> list[tuple[int, WebhookEndpoint]]:
        """Endpoints not deleted, in creation order after the cursor `after_seq`; with a
        wallet_id only that wallet's; with `customers` only those of their wallets (no
        every-wallet endpoint)."""
        ...

    async def delete_endpoint(self, endpoint_id: str, now: datetime) -> None:
        """Mark it deleted and cancel its deliveries still pending."""
        ...

    async def endpoints_behind(self, horizon: int, limit: int) -> list[DispatchTarget]:
        """Active endpoints whose cursor is behind `horizon`, locked; those another dispatcher
        holds are skipped."""
        ...

    async def matching_events(self, target: DispatchTarget, horizon: int, limit: int) -> list[int]:
        """The cursors of the target's events after its cursor, up to `horizon`, in order."""
        ...

    async def add_deliveries(
        self, endpoint_id: str, event_seqs: Sequence[int], cursor: int, now: datetime
    ) -> None:
        """Pending deliveries of the events (due at `now`), and the endpoint's new cursor."""
        ...

    async def fail_exhausted(self, now: datetime, attempts_max: int) -> None:
        """Pending deliveries that are due and have no attempts left (their last attempt never
        stored its outcome) become FAILED."""
        ...

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
        """Claim up to `limit` due deliveries (earliest due first) for one attempt each: count
        the attempt, log it as in flight and make it due again only at `lease_until`. Rows
        another deliverer holds are skipped."""
        ...

    async def record(self, results: Sequence[tuple[Claimed, int | None, str, Outcome]]) -> None:
        """Store each attempt's (status code, error) in its log, and the outcome on the
        delivery unless its attempt count moved on or it is no longer pending."""
        ...

    async def purge(self, cutoffs: dict[DeliveryState, datetime], limit: int) -> int:
        """Delete up to `limit` finished deliveries that ended at or before their state's cutoff,
        oldest ending first, with their attempt logs; how many went."""
        ...

    async def list_deliveries(
        self, endpoint_id: str, state: DeliveryState | None, before_seq: int | None, limit: int
    ) -> list[tuple[int, Delivery]]:
        """An endpoint's deliveries (optionally in one state), newest first, before the cursor
        `before_seq`, each with its attempt log."""
        ...


class SignalStore(Protocol):
    """Consumption signals (domain/burn.py), inside the transaction of the `LedgerStore` that
    hands it out (`LedgerStore.signals`)."""

    async def policies(self, wallet_ids: Sequence[str]) -> dict[str, SignalPolicy]:
        """Each wallet's policy, the defaults where none was set."""
        ...

    async def set_policy(self, policy: SignalPolicy, actor: str) -> None: ...

    async def open_signals(self, wallet_ids: Sequence[str]) -> dict[str, frozenset[Signal]]:
        """The open episodes of each wallet (every wallet asked for is in the answer)."""
        ...

    async def open_episodes(self, opened: Sequence[tuple[str, Signal, str]], now: datetime) -> None:
        """Open episodes (wallet_id, signal, event_id); one already open is an error."""
        ...

    async def close_episodes(self, closed: Sequence[tuple[str, Signal]], now: datetime) -> None:
        """Close the open episodes (wallet_id, signal) at `now`: their signals are re-armed."""
        ...

    async def due(
        self,
        now: datetime,
        active_days: int,
        every: timedelta,
        limit: int,
        only: Sequence[str] | None = None,
    ) -> list[str]:
        """Wallets to evaluate (a guess made before locking): booked on within `active_days`
        or with an open episode, not evaluated within `every`; least recently evaluated first;
        among `only` when given."""
        ...

    async def mark_evaluated(self, wallet_ids: Sequence[str], now: datetime) -> None: ...

    async def consumption(
        self, wallet_ids: Sequence[str], now: datetime, days: int
    ) -> dict[str, dict[int, Decimal]]:
        """Consumption (debits and captures minus refunds, by occurred_time) per wallet per
        trailing day k: (now - (k+1) days, now - k days], for k < `days`."""
        ...

    async def state_now(self, wallet_id: str, now: datetime) -> WalletState | None:
        """The wallet's state at `now` as a write loads it (automation included), unlocked."""
        ...


class LedgerStore(Protocol):
    """The write path's storage, inside one transaction."""

    @property
    def webhooks(self) -> WebhookStore:
        """The webhook storage, in the same transaction."""
        ...

    @property
    def signals(self) -> SignalStore:
        """The signal storage, in the same transaction."""
        ...

    async def claim(
        self, requests: Sequence[tuple[str, str, bytes]], now: datetime
    ) -> dict[str, Claim]:
        """Claim distinct (request_id, method, fingerprint) keys; a key another transaction
        holds waits for it to end. Unclaimed keys come back with the stored request."""
        ...

    async def store_responses(self, responses: dict[str, bytes]) -> None:
        """Store the encoded response of each claimed request_id."""
        ...

    async def claim_and_lock(
        self,
        requests: Sequence[tuple[str, str, bytes, str]],
        now: datetime,
        time_under_lock: Callable[[], datetime],
    ) -> tuple[dict[str, Claim], dict[str, WalletState], datetime]:
        """`claim` distinct (request_id, method, fingerprint, wallet_id) keys at `now`, then
        `lock_states` of the wallets of the requests claimed (one round trip on PostgreSQL)."""
        ...

    async def lock_states(
        self, wallet_ids: Iterable[str], time_under_lock: Callable[[], datetime]
    ) -> tuple[dict[str, WalletState], datetime]:
        """Lock the wallets that exist (in id order), then call `time_under_lock`, then load
        their live grants, active holds and automation at that time."""
        ...

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
        """Persist the difference between locked wallets' states, the new entries
        (entry_id, wallet_id, request_id, actor, entry) and events (event_id, wallet_id, event);
        store `responses` with their claimed request ids (as `store_responses` does) and forget the
        claims in `released` (requests refused: refusals are not remembered)."""
        ...

    async def add_grants(self, state: WalletState, grant_ids: Iterable[str]) -> WalletState:
        """The locked wallet's state with more of its grants loaded (ended ones included)."""
        ...

    async def get_wallet(self, wallet_id: str) -> tuple[Wallet, Decimal] | None: ...

    async def get_grant(self, grant_id: str) -> Grant | None: ...

    async def get_hold(self, hold_id: str) -> Hold | None: ...

    async def get_entry(self, entry_id: str) -> StoredEntry | None: ...

    async def refunds_of(self, entry_id: str) -> list[list[Allocation]]:
        """The allocations of every refund booked against a debit."""
        ...

    # -- the rest: wallets, rules, reads ---------------------------------------------------

    async def insert_wallet(self, wallet: Wallet, created_by: str) -> bool:
        """False when the customer already has a wallet in that unit. `created_by`: the actor."""
        ...

    async def list_wallets(
        self, customer_id: str, after_seq: int, limit: int, customers: frozenset[str] | None
    ) -> list[tuple[int, Wallet]]:
        """Wallets after a cursor: of `customer_id` (all when ""), only of `customers` (all
        when None)."""
        ...

    async def wallet_owners(self, wallet_ids: Iterable[str]) -> dict[str, str]: ...

    async def report_wallets(
        self,
        wallet_id: str,
        customer_id: str,
        after_seq: int,
        limit: int,
        customers: frozenset[str] | None,
    ) -> list[ReportWallet]:
        """The wallet `wallet_id` (whoever owns it), or a page of wallets after a cursor: of
        `customer_id` ("": every customer), only of `customers` when not None."""
        ...

    async def consumption_movements(
        self, wallet_ids: Sequence[str], start: datetime, end: datetime, bucket: Bucket
    ) -> list[Movement]:
        """Consuming allocations of these wallets that occurred in [start, end), summed per
        bucket, entry type, grant kind and feature (domain/reports.py)."""
        ...

    async def revenue_customers(
        self, after_seq: int, limit: int, customers: frozenset[str] | None
    ) -> list[tuple[int, str]]:
        """Customers with a wallet in the order of their first wallet, after a cursor (that
        wallet's seq), only `customers` when not None: (first wallet's seq, customer)."""
        ...

    async def revenue_movements(
        self,
        page: Sequence[str],
        customers: frozenset[str] | None,
        start: datetime,
        end: datetime,
        bucket: Bucket,
        *,
        total: bool,
    ) -> list[tuple[str | None, Movement, str, bool]]:
        """Allocations on grants booked before `end`, summed per bucket, entry type, grant kind
        and cost basis: per customer of `page`, and with `total` over all of `customers` (None:
        every one) under customer None: (customer, movement, unit, booked before `start`)."""
        ...

    async def replace_alert_rules(
        self, wallet_id: str, rules: Sequence[AlertRule], created_by: str
    ) -> None: ...

    async def record_rule_author(self, wallet_id: str, actor: str) -> None:
        """Who set the wallet's top-up rule now in force."""
        ...

    async def record_schedule_author(self, schedule_id: str, ended: bool, actor: str) -> None:
        """Who created (or, `ended`, ended) an allotment schedule."""
        ...

    async def topup_rule_of(self, wallet_id: str) -> TopUpRule | None:
        """The wallet's top-up rule as stored (None: it has none)."""
        ...

    async def delete_topup_rule(self, wallet_id: str) -> None:
        """Remove the wallet's top-up rule (the wallet is locked)."""
        ...

    async def alert_rules_of(self, wallet_id: str) -> list[AlertRule]: ...

    async def schedules_of(self, wallet_id: str) -> list[AllotmentSchedule]: ...

    async def get_schedule(self, schedule_id: str) -> AllotmentSchedule | None: ...

    async def get_topup(self, topup_id: str) -> TopUp | None: ...

    async def list_topups(
        self, wallet_id: str, before_seq: int | None, limit: int
    ) -> list[tuple[int, TopUp]]: ...

    async def events_after(
        self, wallet_id: str, after_seq: int, types: Sequence[str], limit: int, upto: int
    ) -> list[StoredEvent]: ...

    async def list_grants(
        self, wallet_id: str, state: GrantState | None, at: datetime, after_seq: int, limit: int
    ) -> list[tuple[int, Grant]]: ...

    async def list_entries(
        self,
        wallet_id: str,
        types: Sequence[EntryType],
        start: datetime | None,
        end: datetime | None,
        before_seq: int | None,
        limit: int,
        member_id: str = "",
    ) -> list[tuple[int, StoredEntry]]: ...

    # -- pool members ------------------------------------------------------------------------

    async def member_usages(
        self, wallet_id: str, member_ids: Sequence[str], now: datetime
    ) -> dict[str, MemberUsage]:
        """The wallet's members among `member_ids` (those that exist) with their spend in their
        period at `now`; read under the wallet's lock by writes."""
        ...

    async def upsert_member(self, member: PoolMember) -> PoolMember:
        """Create or change a member; the member as stored."""
        ...

    async def delete_member(self, wallet_id: str, member_id: str) -> bool:
        """Remove a member; False when there was none."""
        ...

    async def members_of(self, wallet_id: str) -> list[str]:
        """The wallet's member ids, in order."""
        ...

    async def state_at(self, wallet_id: str, at: datetime | None) -> WalletState | None:
        """The wallet as its journal stood at `at` (now: the materialised state, with its
        allotment schedules in its automation)."""
        ...

    async def state_to_authorize(
        self, wallet_id: str, customer_id: str, unit: str, now: datetime
    ) -> WalletState | None:
        """The wallet now (by `wallet_id`, else by customer and unit) as `state_at(_, None)`
        gives it, plus its top-up rule, pending top-ups and the credits topped up in `now`'s day
        and month: what Authorize needs to decide as a debit would (None: no such wallet)."""
        ...

    async def state_now_of(self, customer_id: str, unit: str) -> WalletState | None:
        """A customer's wallet in `unit`, as `state_at(wallet_id, None)` gives it (None: the
        customer has no wallet in that unit)."""
        ...

    async def wallets_due(self, now: datetime, wallet_id: str, limit: int) -> list[str]:
        """Wallets that look due for the sweeper (a guess: what is booked is decided under
        their locks)."""
        ...

    async def journal_totals(self, wallet_id: str) -> dict[str, Any]:
        """Recomputed totals for VerifyWallet."""
        ...


class UnitOfWork(Protocol):
    async def write(self, work: Callable[[LedgerStore], Awaitable[T]]) -> T:
        """Run `work` in one transaction; deadlocks and serialization failures run it again
        (so it must only depend on what it reads), and an unreachable database is
        `Unavailable`."""
        ...

    async def read(self, work: Callable[[LedgerStore], Awaitable[T]]) -> T:
        """Run `work` on a connection without a write transaction."""
        ...

    async def settled_event_seq(self) -> int | None:
        """The highest event cursor below which no event can still appear (it may lag a poll
        behind), or None when it cannot be taken right now (the caller keeps the last one)."""
        ...
