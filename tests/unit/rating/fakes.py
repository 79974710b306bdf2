"""In-memory fakes of rating's ports: the storage (`app/stores.py`: `FakeUnitOfWork` over
`FakeStore`; synchronous ingest's sessions, `FakeSyncSessions` over the same tables) and the
ledger (`app/ports.py`: `FakeLedger`), so the use cases can be tested without PostgreSQL or a
ledger server; the real adapters are tested against both in tests/e2e.

Transactions run one at a time and roll back on an exception (a trial always does). Session
locks live outside the tables (a rollback keeps them) and go with their session, when it ends or
is killed (`FakeSyncSession.kill`: the connection lost, a crash). Only what ingest, the forwarder
(debits and refunds) and the invoices use is here; the rest of the port raises. Catalogue
entries are put in directly (`FakeUnitOfWork.add_meter`, ...).

Longer than 400 lines on purpose: the store, the synchronous sessions and the ledger share one
set of tables, locks and clock, and reading them together is how a test's world is understood.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import pickle
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from billing_common.clock import FakeClock
from billing_common.periods import Cadence
from rating_service.app.accept import RatingPolicy
from rating_service.app.commands import Idem
from rating_service.app.context import Context
from rating_service.app.delivery import ForwarderPolicy
from rating_service.app.forwarder import Forwarder
from rating_service.app.ingest import Ingest
from rating_service.app.invoices import Invoices
from rating_service.app.ports import (
    BatchRefused,
    Booked,
    DebitItem,
    LedgerAllocation,
    LedgerUnavailable,
    Refused,
    TopUpView,
    WalletView,
)
from rating_service.app.records import (
    Acknowledged,
    ChargeRow,
    Claim,
    FixedCharge,
    InvoiceRow,
    NewEvent,
    NewUndo,
    RefundPart,
    StoredPlan,
    StoredPrice,
    UndoRow,
)
from rating_service.domain.aggregation import AggregateState, Aggregation
from rating_service.domain.batch import AggKey, UniqueKey
from rating_service.domain.charges import NewCharge
from rating_service.domain.events import EventIn, EventOutcome
from rating_service.domain.fixed_charges import debits_fixed_charge
from rating_service.domain.invoice import InvoiceView, LineTotal
from rating_service.domain.meters import Meter
from rating_service.domain.model import Assignment, Plan, PlanPrice, PriceVersion
from rating_service.domain.pricing import Pricing, PricingModel
from rating_service.domain.status import (
    ChargeStatus,
    EventState,
    InvoiceStatus,
    LedgerRefusal,
    UndoStatus,
)

T = TypeVar("T")
ZERO = Decimal(0)


@dataclass
class StoredCharge:
    """A charge as the fake keeps it: what ingest wrote and what the forwarder recorded."""

    new: NewCharge
    id: int
    status: ChargeStatus
    forward_after: datetime
    ledger_entry_id: str = ""
    last_error: str = ""
    refunded: Decimal = ZERO
    unrefundable: Decimal = ZERO
    attempts: int = 0
    internal_errors: int = 0
    prepaid: Decimal = ZERO
    promotional: Decimal = ZERO
    overage: Decimal = ZERO


@dataclass
class StoredUndo:
    """An undo refund as the fake keeps it."""

    new: NewUndo
    id: int
    status: UndoStatus
    forward_after: datetime
    ledger_entry_id: str = ""
    last_error: str = ""
    attempts: int = 0
    internal_errors: int = 0

    def row(self) -> UndoRow:
        n = self.new
        return UndoRow(
            self.id,
            n.event_id,
            n.meter_id,
            n.wallet_id,
            n.debit_entry_id,
            n.amount,
            n.description,
            n.ledger_request_id,
            self.status,
            self.attempts,
            self.internal_errors,
        )


@dataclass
class Tables:
    meters: dict[str, Meter] = field(default_factory=dict)
    prices: dict[str, list[StoredPrice]] = field(default_factory=dict)
    plans: dict[str, StoredPlan] = field(default_factory=dict)
    assignments: dict[str, Assignment] = field(default_factory=dict)
    # assignment id -> (create time, who ended it: "" while it runs on)
    assignment_rows: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    keys: dict[str, Claim] = field(default_factory=dict)
    leases: dict[str, datetime] = field(default_factory=dict)  # in-progress synchronous claims
    events: dict[str, NewEvent] = field(default_factory=dict)
    aggregates: dict[AggKey, tuple[AggregateState, datetime]] = field(default_factory=dict)
    uniques: set[UniqueKey] = field(default_factory=set)
    charges: dict[int, StoredCharge] = field(default_factory=dict)
    refund_parts: list[RefundPart] = field(default_factory=list)
    invoices: dict[tuple[str, datetime], InvoiceRow] = field(default_factory=dict)
    undos: dict[int, StoredUndo] = field(default_factory=dict)
    fixed_charges: dict[tuple[str, datetime], FixedCharge] = field(default_factory=dict)
    next_id: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class FakeStore:
    def __init__(self, tables: Tables) -> None:
        self.t = tables

    # -- idempotency
    async def claim(self, request_id: str, method: str, fp: bytes, now: datetime) -> Claim:
        stored = self.t.keys.get(request_id)
        if stored is None:
            self.t.keys[request_id] = Claim(False, method, fp, None)
            return Claim(True)
        return stored

    async def store_response(self, request_id: str, response: bytes) -> None:
        self.t.keys[request_id] = replace(self.t.keys[request_id], response=response)

    # -- catalogue
    async def meters_by_ids(self, ids: Iterable[str]) -> dict[str, Meter]:
        return {i: self.t.meters[i] for i in set(ids) if i in self.t.meters}

    async def versions_of(self, price_ids: Iterable[str]) -> dict[str, list[StoredPrice]]:
        return {p: list(self.t.prices.get(p, [])) for p in set(price_ids)}

    async def plans_by_ids(self, ids: Iterable[str]) -> dict[str, StoredPlan]:
        return {i: self.t.plans[i] for i in set(ids) if i in self.t.plans}

    async def assignments_of(self, customer_ids: Iterable[str]) -> dict[str, list[Assignment]]:
        found = sorted(self.t.assignments.values(), key=lambda a: a.start_time)
        return {c: [a for a in found if a.customer_id == c] for c in set(customer_ids)}

    async def assignments_by_ids(self, ids: Iterable[str]) -> dict[str, Assignment]:
        return {i: self.t.assignments[i] for i in set(ids) if i in self.t.assignments}

    async def lock(self, *parts: object) -> None:
        pass  # transactions run one at a time

    async def insert_assignment(self, a: Assignment, now: datetime, created_by: str) -> None:
        self.t.assignments[a.id] = a
        self.t.assignment_rows[a.id] = (now, "")

    async def list_plans(self, after_seq: int, limit: int) -> list[tuple[StoredPlan, int]]:
        numbered = [(p, n) for n, p in enumerate(self.t.plans.values(), start=1)]
        return [(p, n) for p, n in numbered if n > after_seq][:limit]

    async def assignment_create_times(self, ids: Iterable[str]) -> dict[str, datetime]:
        return {i: self.t.assignment_rows[i][0] for i in set(ids) if i in self.t.assignment_rows}

    async def end_assignment(self, assignment_id: str, end_time: datetime, ended_by: str) -> None:
        found = self.t.assignments[assignment_id]
        self.t.assignments[assignment_id] = replace(found, end_time=end_time)
        self.t.assignment_rows[assignment_id] = (
            self.t.assignment_rows[assignment_id][0],
            ended_by,
        )

    async def shorten_invoices(self, assignment_id: str, end_time: datetime) -> None:
        for key, row in self.t.invoices.items():
            if row.assignment_id == assignment_id and row.period_end > end_time:
                self.t.invoices[key] = replace(row, period_end=end_time)

    async def rated_since(self, column: str, value: str, since: datetime) -> bool:
        assert column == "customer_id", "the fake answers for customers only"
        return any(
            e.customer_id == value and e.occurred_time >= since and e.status != EventState.DENIED
            for e in self.t.events.values()
        )

    # -- events and aggregates
    async def insert_events(self, new: Sequence[NewEvent]) -> set[str]:
        fresh = {e.id for e in new if e.id not in self.t.events}
        self.t.events.update({e.id: e for e in new if e.id in fresh})
        return fresh

    async def event_statuses(
        self, ids: Iterable[str], *, lock: bool = False
    ) -> dict[str, EventState]:
        return {i: self.t.events[i].status for i in set(ids) if i in self.t.events}

    async def set_event_status(self, event_ids: Iterable[str], status: EventState) -> None:
        for i in set(event_ids):
            if i in self.t.events and self.t.events[i].status == EventState.HELD:
                self.t.events[i] = replace(self.t.events[i], status=status)

    async def forget_events(self, event_ids: Sequence[str]) -> None:
        for i in event_ids:
            del self.t.events[i]

    async def lock_aggregates(self, keys: Iterable[AggKey], *, session: bool = False) -> None:
        pass  # one transaction at a time

    async def load_aggregates(self, keys: Iterable[AggKey]) -> dict[AggKey, AggregateState]:
        return {k: self.t.aggregates[k][0] for k in set(keys) if k in self.t.aggregates}

    async def save_aggregates(
        self, states: Mapping[AggKey, tuple[AggregateState, datetime]]
    ) -> None:
        self.t.aggregates.update(states)

    async def seen_values(self, items: Iterable[UniqueKey]) -> set[UniqueKey]:
        return set(items) & self.t.uniques

    async def insert_unique_values(self, items: Sequence[UniqueKey]) -> None:
        self.t.uniques.update(items)

    # -- charges
    def _row(self, c: StoredCharge) -> ChargeRow:
        meter = self.t.meters[c.new.meter_id]
        fields = {k: v for k, v in asdict(c.new).items() if k in ChargeRow.__dataclass_fields__}
        return ChargeRow(
            **{**fields, "id": c.id, "status": c.status},
            meter_key=meter.key,
            meter_description=meter.description,
            ledger_entry_id=c.ledger_entry_id,
            refunded=c.refunded,
            attempts=c.attempts,
            internal_errors=c.internal_errors,
        )

    def _pending(self, ids: Iterable[int]) -> list[StoredCharge]:
        found = (self.t.charges.get(i) for i in ids)
        return [c for c in found if c is not None and c.status == ChargeStatus.PENDING]

    async def insert_charges(self, new: Sequence[NewCharge]) -> list[int]:
        ids = []
        for n in new:
            charge_id = next(self.t.next_id)
            self.t.charges[charge_id] = StoredCharge(n, charge_id, n.status, n.forward_after)
            ids.append(charge_id)
        return ids

    async def pending_charges(self) -> int:
        return len(self._pending(self.t.charges))

    async def due_charges(self, now: datetime, limit: int) -> list[ChargeRow]:
        due = [c for c in self._pending(sorted(self.t.charges)) if c.forward_after <= now]
        return [self._row(c) for c in due[:limit]]

    async def charges_by_ids(self, ids: Iterable[int], *, lock: bool = False) -> list[ChargeRow]:
        return [self._row(self.t.charges[i]) for i in sorted(set(ids)) if i in self.t.charges]

    async def acknowledge(self, acks: Sequence[Acknowledged]) -> None:
        for a in acks:
            for c in self._pending([a.charge_id]):
                c.status, c.ledger_entry_id = ChargeStatus.ACKNOWLEDGED, a.entry_id
                c.last_error = ""
                c.prepaid, c.promotional = a.split.prepaid, a.split.promotional
                c.overage = a.split.overage

    async def mark_acknowledged(self, charge_id: int, entry_id: str) -> None:
        for c in self._pending([charge_id]):
            c.status, c.ledger_entry_id, c.last_error = ChargeStatus.ACKNOWLEDGED, entry_id, ""

    async def deny(self, ids_errors: Mapping[int, str]) -> None:
        for c in self._pending(ids_errors):
            c.status, c.last_error = ChargeStatus.DENIED, ids_errors[c.id]

    async def fail(self, ids_errors: Mapping[int, str], *, internal: bool = False) -> set[int]:
        moved = self._pending(ids_errors)
        for c in moved:
            c.status, c.last_error = ChargeStatus.FAILED, ids_errors[c.id]
            c.internal_errors += internal
        return {c.id for c in moved}

    async def back_off(
        self, retry: Mapping[int, tuple[datetime, str]], *, internal: bool = False
    ) -> None:
        for c in self._pending(retry):
            c.forward_after, c.last_error = retry[c.id]
            c.attempts += 1
            c.internal_errors += internal

    async def earlier_pending(self, charge: ChargeRow) -> bool:
        return any(
            self._row(c).key == charge.key and c.id < charge.id
            for c in self._pending(self.t.charges)
        )

    async def refundable_debits(self, charge: ChargeRow) -> list[ChargeRow]:
        return [
            self._row(c)
            for c in sorted(self.t.charges.values(), key=lambda c: -c.id)
            if self._row(c).key == charge.key
            and c.id < charge.id
            and c.status == ChargeStatus.ACKNOWLEDGED
            and c.refunded < c.new.amount
            and c.new.amount > 0
        ]

    async def refund_parts_of(self, charge_id: int) -> list[RefundPart]:
        parts = [p for p in self.t.refund_parts if p.charge_id == charge_id]
        return sorted(parts, key=lambda p: -p.debit_charge_id)

    async def plan_refund(
        self, charge_id: int, parts: Sequence[tuple[ChargeRow, Decimal, str]], unrefundable: Decimal
    ) -> None:
        for debit, amount, request_id in parts:
            self.t.charges[debit.id].refunded += amount
            self.t.refund_parts.append(
                RefundPart(charge_id, debit.id, debit.ledger_entry_id, amount, request_id, "")
            )
        self.t.charges[charge_id].unrefundable = unrefundable

    async def refund_part_done(self, request_id: str, entry_id: str) -> bool:
        for i, p in enumerate(self.t.refund_parts):
            if p.ledger_request_id == request_id and not p.ledger_entry_id:
                self.t.refund_parts[i] = replace(p, ledger_entry_id=entry_id)
                return True
        return False

    async def add_split(
        self, charge_id: int, prepaid: Decimal, promotional: Decimal, overage: Decimal
    ) -> None:
        c = self.t.charges[charge_id]
        c.prepaid += prepaid
        c.promotional += promotional
        c.overage += overage

    # -- undo refunds (synchronous ingest owes them: `FakeSyncStore.insert_undos`)
    def _pending_undos(self, ids: Iterable[int]) -> list[StoredUndo]:
        found = (self.t.undos.get(i) for i in ids)
        return [u for u in found if u is not None and u.status == UndoStatus.PENDING]

    # -- fixed charges
    async def debit_assignments(self, limit: int) -> list[tuple[Assignment, Plan, datetime | None]]:
        out: list[tuple[Assignment, Plan, datetime | None]] = []
        for a in self.t.assignments.values():
            plan = self.t.plans[a.plan_id].plan
            if debits_fixed_charge(plan):
                starts = [k[1] for k in self.t.fixed_charges if k[0] == a.id]
                out.append((a, plan, max(starts, default=None)))
        out.sort(key=lambda x: (x[2] is not None, x[2] or x[0].start_time, x[0].id))
        return out[:limit]

    async def insert_fixed_charges(self, new: Sequence[FixedCharge]) -> int:
        added = 0
        for f in new:
            if (f.assignment_id, f.period_start) not in self.t.fixed_charges:
                self.t.fixed_charges[(f.assignment_id, f.period_start)] = f
                added += 1
        return added

    async def due_fixed_charges(self, now: datetime, limit: int) -> list[FixedCharge]:
        due = [
            f
            for f in self.t.fixed_charges.values()
            if f.status == ChargeStatus.PENDING and f.forward_after <= now
        ]
        return sorted(due, key=lambda f: (f.forward_after, f.assignment_id))[:limit]

    async def save_fixed_charge(self, f: FixedCharge) -> None:
        key = (f.assignment_id, f.period_start)
        if self.t.fixed_charges[key].status == ChargeStatus.PENDING:
            self.t.fixed_charges[key] = f

    async def fixed_charge_of(
        self, assignment_id: str, period_start: datetime
    ) -> FixedCharge | None:
        return self.t.fixed_charges.get((assignment_id, period_start))

    async def due_undos(self, now: datetime, limit: int) -> list[UndoRow]:
        due = [u for u in self._pending_undos(sorted(self.t.undos)) if u.forward_after <= now]
        return [u.row() for u in due[:limit]]

    async def undo_done(self, undo_id: int, entry_id: str) -> None:
        for u in self._pending_undos([undo_id]):
            u.status, u.ledger_entry_id, u.last_error = UndoStatus.DONE, entry_id, ""

    async def undo_retry(
        self, undo_ids: Iterable[int], after: datetime, error: str, *, internal: bool = False
    ) -> None:
        for u in self._pending_undos(undo_ids):
            u.forward_after, u.last_error = after, error
            u.attempts += 1
            u.internal_errors += internal

    async def undo_fail(self, undo_id: int, error: str, *, internal: bool = False) -> set[int]:
        moved = self._pending_undos([undo_id])
        for u in moved:
            u.status, u.last_error = UndoStatus.FAILED, error
            u.internal_errors += internal
        return {u.id for u in moved}

    # -- invoices
    async def ensure_invoices(
        self, periods: Mapping[tuple[str, datetime], tuple[str, datetime]], *, share: bool = True
    ) -> dict[tuple[str, datetime], InvoiceRow]:
        for key in sorted(periods):
            if key not in self.t.invoices:
                customer_id, end = periods[key]
                seq = next(self.t.next_id)
                self.t.invoices[key] = InvoiceRow(
                    f"inv-{seq}", seq, customer_id, key[0], key[1], end, "DRAFT", None, None
                )
        return {k: self.t.invoices[k] for k in periods}

    async def get_invoice(self, invoice_id: str) -> InvoiceRow | None:
        return next((r for r in self.t.invoices.values() if r.id == invoice_id), None)

    async def find_invoice(self, assignment_id: str, period_start: datetime) -> InvoiceRow | None:
        return self.t.invoices.get((assignment_id, period_start))

    async def close_invoice(
        self, invoice_id: str, now: datetime, snapshot: dict[str, Any], closed_by: str
    ) -> None:
        for key, row in self.t.invoices.items():
            if row.id == invoice_id:
                self.t.invoices[key] = replace(
                    row, status=InvoiceStatus.FINAL, close_time=now, snapshot=snapshot
                )

    async def usage_of_periods(
        self, assignment_id: str, period_starts: Sequence[datetime]
    ) -> Decimal:
        starts = set(period_starts)
        return sum(
            (
                c.new.amount
                for c in self.t.charges.values()
                if c.new.assignment_id == assignment_id and c.new.period_start in starts
            ),
            ZERO,
        )

    async def line_totals(self, assignment_id: str, period_start: datetime) -> list[LineTotal]:
        lines: dict[tuple[str, str, int], list[StoredCharge]] = {}
        for c in sorted(self.t.charges.values(), key=lambda c: c.id):
            if (c.new.assignment_id, c.new.period_start) == (assignment_id, period_start):
                line = (c.new.meter_id, c.new.price_id, c.new.price_version)
                lines.setdefault(line, []).append(c)

        def total(items: list[StoredCharge], status: ChargeStatus | None = None) -> Decimal:
            return sum((c.new.amount for c in items if status is None or c.status == status), ZERO)

        return [
            LineTotal(
                meter_id=meter_id,
                price_id=price_id,
                price_version=version,
                amount=total(items),
                quantity=sum((c.new.quantity_after - c.new.quantity_before for c in items), ZERO),
                denied=total(items, ChargeStatus.DENIED),
                pending=total(items, ChargeStatus.PENDING),
                pending_count=sum(c.status == ChargeStatus.PENDING for c in items),
                failed=total(items, ChargeStatus.FAILED),
                prepaid=sum((c.prepaid for c in items), ZERO),
                promotional=sum((c.promotional for c in items), ZERO),
                overage=sum((c.overage for c in items), ZERO),
            )
            for (meter_id, price_id, version), items in lines.items()
        ]

    async def aggregates_of(self, assignment_id: str, period_start: datetime) -> dict[str, Decimal]:
        return {
            meter_id: state.quantity
            for (a, meter_id, start), (state, _) in self.t.aggregates.items()
            if (a, start) == (assignment_id, period_start)
        }

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"the fake store has no {name}")


class FakeLeader:
    """One process: it always leads."""

    async def held(self) -> bool:
        return True

    async def release(self) -> None:
        pass


class FakeUnitOfWork:
    """Transactions one at a time; an exception rolls the tables back."""

    def __init__(self) -> None:
        self.tables = Tables()
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tables]:
        """One transaction: the tables, put back as they were if the block raises."""
        async with self._lock:
            saved = copy.deepcopy(self.tables)
            try:
                yield self.tables
            except BaseException:
                self.tables = saved
                raise

    async def write(self, work: Callable[[Any], Awaitable[T]]) -> T:
        async with self.transaction() as tables:
            return await work(FakeStore(tables))

    async def read(self, work: Callable[[Any], Awaitable[T]]) -> T:
        return await work(FakeStore(self.tables))

    async def trial(self, work: Callable[[Any], Awaitable[T]]) -> T:
        async with self._lock:
            saved = copy.deepcopy(self.tables)
            try:
                return await work(FakeStore(self.tables))
            finally:
                self.tables = saved

    def leader(self, name: str) -> FakeLeader:
        return FakeLeader()

    # -- the catalogue, put in directly
    def add_meter(self, meter: Meter) -> None:
        self.tables.meters[meter.id] = meter

    def add_price(self, version: PriceVersion, unit: str, at: datetime) -> None:
        stored = self.tables.prices.setdefault(version.price_id, [])
        stored.append(StoredPrice(version, unit, at, next(self.tables.next_id)))

    def add_plan(self, plan: Plan, unit: str, at: datetime) -> None:
        self.tables.plans[plan.id] = StoredPlan(plan, unit, at)

    def add_assignment(self, assignment: Assignment) -> None:
        self.tables.assignments[assignment.id] = assignment
        self.tables.assignment_rows[assignment.id] = (assignment.start_time, "")

    def charges(self) -> list[StoredCharge]:
        return [self.tables.charges[i] for i in sorted(self.tables.charges)]


class SessionLost(Exception):
    """A synchronous session's connection is gone (as PostgreSQL's dropped connection: the
    servicer answers it UNAVAILABLE)."""


class FakeSyncStore(FakeStore):
    """`SyncStore` in memory: the fake store, plus the claims and session locks of synchronous
    ingest, held in the name of its session."""

    def __init__(self, tables: Tables, session: FakeSyncSession) -> None:
        super().__init__(tables)
        self.session = session

    async def try_lock_request(self, request_id: str) -> bool:
        return self.session.try_lock([("request", request_id)])

    async def stored_claim(self, request_id: str) -> Claim | None:
        return self.t.keys.get(request_id)

    async def claim_with_lease(
        self,
        request_id: str,
        method: str,
        fp: bytes,
        now: datetime,
        lease_until: datetime,
        *,
        holder_gone: bool = False,
    ) -> Claim:
        stored = self.t.keys.get(request_id)
        if stored is None:
            self.t.keys[request_id] = Claim(False, method, fp, None)
        elif not (
            stored.response is None
            and (holder_gone or self.t.leases[request_id] < now)
            and (stored.method, stored.fingerprint) == (method, fp)
        ):
            return stored
        self.t.leases[request_id] = lease_until
        return Claim(True)

    async def renew_lease(self, request_id: str, lease_until: datetime) -> None:
        if self.t.keys[request_id].response is None:
            self.t.leases[request_id] = lease_until

    async def release_claim(self, request_id: str) -> None:
        stored = self.t.keys.get(request_id)
        if stored is not None and stored.response is None:
            del self.t.keys[request_id]

    async def store_response(self, request_id: str, response: bytes) -> None:
        await super().store_response(request_id, response)
        self.t.leases.pop(request_id, None)

    async def charges_of_event(self, event_id: str, *, lock: bool = False) -> list[ChargeRow]:
        ids = [i for i, c in self.t.charges.items() if c.new.event_id == event_id]
        return await self.charges_by_ids(ids)

    async def lock_aggregates(self, keys: Iterable[AggKey], *, session: bool = False) -> None:
        if session and not self.session.try_lock([("aggregate", k) for k in keys], event=True):
            raise AssertionError("would wait for another session's aggregate lock")

    async def try_lock_aggregates(self, keys: Iterable[AggKey]) -> bool:
        wanted = [("aggregate", k) for k in keys]
        return bool(wanted) and self.session.try_lock(wanted, event=True)

    async def hold_charges(self, event_id: str, until: datetime) -> None:
        for c in self.t.charges.values():
            if c.new.event_id == event_id and c.status == ChargeStatus.PENDING:
                c.forward_after = until

    async def has_refund_parts(self, charge_ids: Iterable[int]) -> bool:
        ids = set(charge_ids)
        return any(p.charge_id in ids or p.debit_charge_id in ids for p in self.t.refund_parts)

    async def insert_undos(self, undos: Sequence[NewUndo]) -> list[int]:
        ids = []
        for u in undos:
            undo_id = next(self.t.next_id)
            self.t.undos[undo_id] = StoredUndo(u, undo_id, u.status, u.forward_after)
            ids.append(undo_id)
        return ids

    async def delete_unique_values(self, items: Sequence[UniqueKey]) -> None:
        self.t.uniques.difference_update(items)

    async def deny_event(self, event_id: str) -> None:
        for charge_id in [i for i, c in self.t.charges.items() if c.new.event_id == event_id]:
            del self.t.charges[charge_id]
        await self.set_event_status([event_id], EventState.DENIED)


class FakeSyncSession:
    """One synchronous request's session over the fake's tables. Its locks are kept in
    `FakeSyncSessions.locks` until given back, the session ends or it is killed; a killed
    session's every later stage raises `SessionLost`."""

    def __init__(self, sessions: FakeSyncSessions) -> None:
        self.sessions = sessions
        self.alive = True
        self.event_locks: set[object] = set()

    def try_lock(self, keys: Iterable[object], *, event: bool = False) -> bool:
        """Take all these locks (False, and none taken, when another session holds any)."""
        wanted = set(keys)
        locks = self.sessions.locks
        if any(locks.get(k, self) is not self for k in wanted):
            return False
        locks.update(dict.fromkeys(wanted, self))
        if event:
            self.event_locks |= wanted
        return True

    def _unlock(self, keys: Iterable[object]) -> None:
        for k in keys:
            if self.sessions.locks.get(k) is self:
                del self.sessions.locks[k]

    def kill(self) -> None:
        """The connection is lost: its locks go at once, its work fails from now on."""
        self.alive = False
        self._unlock(list(self.sessions.locks))

    @asynccontextmanager
    async def stage(self) -> AsyncIterator[FakeSyncStore]:
        if not self.alive:
            raise SessionLost("the session's connection is gone")
        async with self.sessions.uow.transaction() as tables:
            yield FakeSyncStore(tables, self)

    async def write(self, work: Callable[[FakeSyncStore], Awaitable[T]]) -> T:
        async with self.stage() as store:
            return await work(store)

    async def end_event(self) -> None:
        self._unlock(self.event_locks)
        self.event_locks = set()

    async def release_claim(self, request_id: str) -> None:
        if self.alive:
            async with self.stage() as store:
                await store.release_claim(request_id)


class FakeSyncSessions:
    """`SyncSessions` over a `FakeUnitOfWork`; the sessions open now are in `open_sessions`."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.locks: dict[object, FakeSyncSession] = {}
        self.open_sessions: list[FakeSyncSession] = []

    @asynccontextmanager
    async def open(self) -> AsyncIterator[FakeSyncSession]:
        session = FakeSyncSession(self)
        self.open_sessions.append(session)
        try:
            yield session
        finally:
            self.open_sessions.remove(session)
            session.kill()  # every lock it still holds goes with it


@dataclass
class Wallet:
    customer_id: str
    unit: str = "USD"
    # DENY wallets refuse what they cannot cover; None: unlimited (overage).
    balance: Decimal | None = None
    refusal: Refused | None = None  # every debit refused so


class FakeLedger:
    """The ledger port in memory: books a debit once per request id (a repeated request is
    answered with the original entry, as the ledger does), refuses what a DENY wallet cannot
    cover, and fails the next calls with `LedgerUnavailable` while `unavailable` > 0. Every call
    is kept in `calls`."""

    def __init__(self) -> None:
        self.wallets: dict[str, Wallet] = {}
        self.booked: dict[str, tuple[DebitItem, Booked]] = {}  # by request id
        self.refunds: dict[str, Booked] = {}
        self.calls: list[tuple[str, tuple[str, ...]]] = []  # (method, request ids)
        self.unavailable = 0
        self.batch_refused_over = 0  # a DebitBatch of more items than this is refused whole
        self.lose_answers = 0  # the next DebitBatch calls book, then their answers are lost
        self.refunds_unavailable = 0  # the next RefundDebit calls fail as unreachable
        # Set: the next DebitBatch books, sets `paused_at`, then answers only once `pause` is set.
        self.pause: asyncio.Event | None = None
        self.paused_at = asyncio.Event()
        self._entries = itertools.count(1)

    def _gate(self, method: str, request_ids: Sequence[str]) -> None:
        self.calls.append((method, tuple(request_ids)))
        if self.unavailable > 0:
            self.unavailable -= 1
            raise LedgerUnavailable("the ledger is unreachable")

    def debits_sent(self) -> list[str]:
        return [r for method, ids in self.calls if method == "DebitBatch" for r in ids]

    def _debit(self, item: DebitItem) -> Booked | Refused:
        if item.request_id in self.booked:
            return self.booked[item.request_id][1]
        wallet = self.wallets[item.wallet_id]
        if wallet.refusal is not None:
            return wallet.refusal
        if wallet.balance is not None:
            if wallet.balance < item.amount:
                return Refused(LedgerRefusal.DENIED, "INSUFFICIENT_CREDITS", "cannot cover it")
            wallet.balance -= item.amount
        allocation = LedgerAllocation(f"grant-{item.wallet_id}", -item.amount, overage=False)
        booked = Booked(f"entry-{next(self._entries)}", str(wallet.balance), (allocation,))
        self.booked[item.request_id] = (item, booked)
        return booked

    async def debit_batch(self, items: Sequence[DebitItem]) -> list[Booked | Refused]:
        self._gate("DebitBatch", [i.request_id for i in items])
        if 0 < self.batch_refused_over < len(items):
            refused = Refused(LedgerRefusal.LEDGER_FAILED, "INTERNAL", "batch failed")
            raise BatchRefused("the batch was refused", refused)
        results = [self._debit(i) for i in items]
        pause, self.pause = self.pause, None
        if pause is not None:
            self.paused_at.set()
            await pause.wait()
        if self.lose_answers > 0:
            self.lose_answers -= 1
            raise LedgerUnavailable("the answer was lost (deadline exceeded)")
        return results

    async def refund(
        self, request_id: str, entry_id: str, amount: Decimal, description: str
    ) -> Booked | Refused:
        self._gate("RefundDebit", [request_id])
        if self.refunds_unavailable > 0:
            self.refunds_unavailable -= 1
            raise LedgerUnavailable("the ledger is unreachable")
        if request_id not in self.refunds:
            allocation = LedgerAllocation("grant", amount, overage=False)
            self.refunds[request_id] = Booked(f"entry-{next(self._entries)}", "", (allocation,))
        return self.refunds[request_id]

    async def grant_kinds(self, grant_ids: Sequence[str]) -> dict[str, str]:
        self._gate("GetGrants", [])
        return dict.fromkeys(grant_ids, "PREPAID")

    async def wallet(self, wallet_id: str) -> WalletView | None:
        found = self.wallets.get(wallet_id)
        return None if found is None else WalletView(found.unit, found.customer_id)

    async def outstanding_overage(self, wallet_id: str, as_of: datetime | None) -> Decimal:
        return ZERO

    async def top_ups(self, wallet_id: str, start: datetime, end: datetime) -> list[TopUpView]:
        return []


# -- a rating service over the fakes -------------------------------------------------------------

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PERIOD_START = datetime(2026, 3, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 4, 1, tzinfo=UTC)
UNIT_PRICE = Decimal("0.25")


@dataclass
class World:
    """Ingest, the forwarder and the invoices over one Context of fakes, with one customer
    ("c1", wallet "w1") on a monthly plan anchored at PERIOD_START that prices meter "calls"
    (COUNT of "call" events) at UNIT_PRICE per call."""

    uow: FakeUnitOfWork
    clock: FakeClock
    ledger: FakeLedger
    context: Context
    ingest: Ingest
    forwarder: Forwarder
    invoices: Invoices
    request_ids: itertools.count[int]
    sessions: FakeSyncSessions

    async def send(self, *events: EventIn, request_id: str = "") -> list[EventOutcome]:
        """IngestEvents (asynchronous mode): each event's answer."""
        answers: list[list[EventOutcome]] = []

        def encode(outcomes: list[EventOutcome]) -> bytes:
            answers.append(outcomes)
            return pickle.dumps(outcomes)

        rid = request_id or f"r{next(self.request_ids)}"
        idem = Idem(rid, "IngestEvents", pickle.dumps(events))
        raw = await self.ingest.ingest(idem, events, False, encode, None)
        return answers[0] if answers else list(pickle.loads(raw))  # a replay: stored answer

    async def send_sync(self, *events: EventIn, request_id: str = "") -> list[EventOutcome]:
        """IngestEvents in synchronous mode: each event's answer (a replay's too)."""
        rid = request_id or f"r{next(self.request_ids)}"
        idem = Idem(rid, "IngestEvents", pickle.dumps(("sync", events)))
        raw = await self.ingest.ingest(idem, events, True, pickle.dumps, None)
        return list(pickle.loads(raw))

    async def close(self, request_id: str, at: datetime) -> InvoiceView:
        views: list[InvoiceView] = []

        def encode(view: InvoiceView) -> bytes:
            views.append(view)
            return pickle.dumps(view)

        idem = Idem(request_id, "CloseBillingPeriod", b"c1")
        raw = await self.invoices.close(idem, "c1", at, encode, None, "system")
        return views[-1] if views else pickle.loads(raw)  # type: ignore[no-any-return]


def call(event_id: str, at: datetime = T0, customer_id: str = "c1", **props: str) -> EventIn:
    return EventIn(event_id, customer_id, "call", at, props)


def world(*, forwarder: ForwarderPolicy | None = None, plan: Plan | None = None) -> World:
    """`plan`: the plan "plan1" of customer c1 (default: pay as you go, no fixed charge)."""
    uow, clock, ledger = FakeUnitOfWork(), FakeClock(T0), FakeLedger()
    uow.add_meter(Meter("m1", "calls", "call", Aggregation.COUNT, description="API calls"))
    pricing = Pricing(PricingModel.PER_UNIT, unit_price=UNIT_PRICE)
    uow.add_price(PriceVersion("p1", 1, "m1", PERIOD_START, pricing), "USD", PERIOD_START)
    plan = plan or Plan(
        "plan1", "Pay as you go", Cadence.MONTHLY, PERIOD_START, ZERO, (PlanPrice("p1"),)
    )
    uow.add_plan(plan, "USD", PERIOD_START)
    uow.add_assignment(Assignment("a1", "c1", "plan1", "w1", PERIOD_START))
    ledger.wallets["w1"] = Wallet("c1")
    context = Context(uow, clock, ledger)
    policy = forwarder or ForwarderPolicy(backoff_base_s=1, backoff_max_s=8)
    sessions = FakeSyncSessions(uow)
    return World(
        uow,
        clock,
        ledger,
        context,
        Ingest(context, RatingPolicy(), sessions),
        Forwarder(context, policy),
        Invoices(context),
        itertools.count(1),
        sessions,
    )
