"""What rating's use cases need from storage, as protocols (the ports), in the domain's terms and
the records of `app/records.py`: no database rows, no SQL types, no dicts.

A use case runs its work through a `UnitOfWork` (one transaction retried on contention, a read,
or a trial that is always rolled back) and the `RatingStore` it hands out. The PostgreSQL adapter
implements them (`adapters/db/unit_of_work.py` over `adapters/db/repository.RatingRepository`);
the unit tests use an in-memory fake (`tests/unit/rating/fakes.py`). The semantics each method
promises are written on it.

Synchronous ingest, which keeps one connection and its session locks across the ledger call,
has ports of its own beside these: `app/sync_sessions.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from rating_service.app.records import (
    Acknowledged,
    ChargeRow,
    Claim,
    FixedCharge,
    InvoiceRow,
    LineEvent,
    NewEvent,
    RefundPart,
    StoredPlan,
    StoredPrice,
    UndoRow,
    UsageEvent,
)
from rating_service.domain.aggregation import AggregateState
from rating_service.domain.batch import AggKey, UniqueKey
from rating_service.domain.charges import NewCharge
from rating_service.domain.invoice import LineTotal
from rating_service.domain.meters import Meter
from rating_service.domain.model import Assignment, Plan, PriceVersion
from rating_service.domain.status import EventState

T = TypeVar("T")

# An invoice period: (assignment id, period start).
PeriodKey = tuple[str, datetime]


class RatingStore(Protocol):
    """Everything the use cases store and read, inside one transaction."""

    # -- idempotency -------------------------------------------------------------------------

    async def claim(self, request_id: str, method: str, fp: bytes, now: datetime) -> Claim:
        """Claim a request id; a concurrent holder makes this wait until it ends. Not claimed:
        the stored request (method, fingerprint, response)."""
        ...

    async def store_response(self, request_id: str, response: bytes) -> None: ...

    # -- catalogue ---------------------------------------------------------------------------

    async def insert_meter(self, meter: Meter, now: datetime, created_by: str) -> bool:
        """False when a meter with the same key exists. `created_by`: the caller's actor (as
        for every catalogue row below)."""
        ...

    async def get_meter(self, meter_id: str) -> tuple[Meter, datetime, int] | None:
        """The meter, its create time and its list cursor."""
        ...

    async def list_meters(
        self, after_seq: int, limit: int
    ) -> list[tuple[Meter, datetime, int]]: ...

    async def meters_by_ids(self, ids: Iterable[str]) -> dict[str, Meter]:
        """The meters that exist (unknown ids are left out)."""
        ...

    async def lock(self, *parts: object) -> None:
        """Serialise work on what `parts` names until the transaction ends."""
        ...

    async def versions_of(self, price_ids: Iterable[str]) -> dict[str, list[StoredPrice]]:
        """Every asked price id, with its versions in version order ([] for an unknown one)."""
        ...

    async def insert_price_version(
        self, v: PriceVersion, unit: str, now: datetime, created_by: str
    ) -> None: ...

    async def list_prices(
        self, meter_id: str, price_id: str, after_seq: int, limit: int
    ) -> list[StoredPrice]: ...

    async def insert_plan(self, plan: Plan, unit: str, now: datetime, created_by: str) -> None: ...

    async def plans_by_ids(self, ids: Iterable[str]) -> dict[str, StoredPlan]: ...

    async def insert_assignment(self, a: Assignment, now: datetime, created_by: str) -> None: ...

    async def assignments_of(self, customer_ids: Iterable[str]) -> dict[str, list[Assignment]]:
        """Every asked customer, with its assignments by start time ([] for none)."""
        ...

    async def assignments_by_ids(self, ids: Iterable[str]) -> dict[str, Assignment]: ...

    async def list_plans(self, after_seq: int, limit: int) -> list[tuple[StoredPlan, int]]:
        """Plans after a cursor, oldest first, each with its sequence number (the cursor)."""
        ...

    async def assignment_create_times(self, ids: Iterable[str]) -> dict[str, datetime]:
        """When each assignment (that exists) was created."""
        ...

    async def end_assignment(self, assignment_id: str, end_time: datetime, ended_by: str) -> None:
        """Give the assignment its end (the customer is locked; it had none)."""
        ...

    async def shorten_invoices(self, assignment_id: str, end_time: datetime) -> None:
        """The assignment's invoices whose period runs past `end_time` end there (only a DRAFT
        can: a FINAL one's period ended before now, and an end is never in the past)."""
        ...

    async def rated_since(self, column: str, value: str, since: datetime) -> bool:
        """Whether an event that occurred at or after `since` was already rated: a charge by this
        price (column "price_id"), or any event of this customer not DENIED ("customer_id")."""
        ...

    # -- events and aggregates ---------------------------------------------------------------

    async def insert_events(self, new: Sequence[NewEvent]) -> set[str]:
        """Store the events whose id is new; return those ids. A concurrent insert of the same
        id waits for the other transaction, so exactly one of them sees the id as new."""
        ...

    async def event_statuses(
        self, ids: Iterable[str], *, lock: bool = False
    ) -> dict[str, EventState]:
        """The stored events among `ids`; `lock` holds them until the transaction ends."""
        ...

    async def set_event_status(self, event_ids: Iterable[str], status: EventState) -> None:
        """Move events out of HELD (to ACCEPTED or DENIED); other statuses are final."""
        ...

    async def forget_events(self, event_ids: Sequence[str]) -> None:
        """Take back events inserted earlier in this transaction and then rejected."""
        ...

    async def lock_aggregates(self, keys: Iterable[AggKey], *, session: bool = False) -> None:
        """Hold the aggregates until the transaction ends (`session`: until released, past
        commit; synchronous ingest)."""
        ...

    async def load_aggregates(self, keys: Iterable[AggKey]) -> dict[AggKey, AggregateState]:
        """The stored aggregates among `keys` (a key never counted is left out)."""
        ...

    async def save_aggregates(
        self, states: Mapping[AggKey, tuple[AggregateState, datetime]]
    ) -> None:
        """Store each aggregate's new state (with its period's end)."""
        ...

    async def seen_values(self, items: Iterable[UniqueKey]) -> set[UniqueKey]:
        """The values a UNIQUE_COUNT aggregate has counted already, among `items`."""
        ...

    async def insert_unique_values(self, items: Sequence[UniqueKey]) -> None: ...

    async def events_in(
        self, customer_id: str, event_type: str, start: datetime, end: datetime, limit: int
    ) -> list[UsageEvent]:
        """The customer's events of the type in [start, end), not DENIED, by time then id."""
        ...

    # -- charges -----------------------------------------------------------------------------

    async def insert_charges(self, new: Sequence[NewCharge]) -> list[int]:
        """Store new charges; their ids, in order."""
        ...

    async def pending_charges(self) -> int:
        """How many charges wait for the ledger (the forwarder's backlog)."""
        ...

    async def due_charges(self, now: datetime, limit: int) -> list[ChargeRow]:
        """PENDING charges due at `now`, oldest first."""
        ...

    async def charges_by_ids(self, ids: Iterable[int], *, lock: bool = False) -> list[ChargeRow]:
        """The charges, by id; `lock` holds them until the transaction ends."""
        ...

    async def acknowledge(self, acks: Sequence[Acknowledged]) -> None:
        """Record the ledger's bookings; only PENDING charges change."""
        ...

    async def mark_acknowledged(self, charge_id: int, entry_id: str) -> None:
        """A refund charge all of whose parts are booked; only a PENDING charge changes."""
        ...

    async def deny(self, ids_errors: Mapping[int, str]) -> None:
        """DENIED with the ledger's error; only PENDING charges change."""
        ...

    async def fail(self, ids_errors: Mapping[int, str], *, internal: bool = False) -> set[int]:
        """FAILED for good with the error (`internal`: counted as an INTERNAL-like answer);
        returns the ids it moved (only PENDING charges move)."""
        ...

    async def back_off(
        self, retry: Mapping[int, tuple[datetime, str]], *, internal: bool = False
    ) -> None:
        """Try again at the given time, with the last error kept; an attempt is counted (and an
        INTERNAL-like answer when `internal`). Only PENDING charges change."""
        ...

    async def earlier_pending(self, charge: ChargeRow) -> bool:
        """Whether an earlier charge of the same aggregate still waits for the ledger."""
        ...

    async def refundable_debits(self, charge: ChargeRow) -> list[ChargeRow]:
        """Earlier acknowledged positive charges of the same aggregate with something left to
        refund, newest first, locked."""
        ...

    async def refund_parts_of(self, charge_id: int) -> list[RefundPart]:
        """The refund's planned parts, newest debit first."""
        ...

    async def plan_refund(
        self, charge_id: int, parts: Sequence[tuple[ChargeRow, Decimal, str]], unrefundable: Decimal
    ) -> None:
        """Record the refund's parts (debit, amount, request id), what each takes off its debit,
        and the amount no debit was left to cover."""
        ...

    async def refund_part_done(self, request_id: str, entry_id: str) -> bool:
        """Record a part's ledger entry; False when it was recorded already."""
        ...

    async def add_split(
        self, charge_id: int, prepaid: Decimal, promotional: Decimal, overage: Decimal
    ) -> None:
        """Add a booked part's credit split to the refund charge's."""
        ...

    # -- undo refunds ------------------------------------------------------------------------

    async def due_undos(self, now: datetime, limit: int) -> list[UndoRow]: ...

    async def undo_done(self, undo_id: int, entry_id: str) -> None: ...

    async def undo_retry(
        self, undo_ids: Iterable[int], after: datetime, error: str, *, internal: bool = False
    ) -> None: ...

    async def undo_fail(self, undo_id: int, error: str, *, internal: bool = False) -> set[int]: ...

    # -- fixed charges -----------------------------------------------------------------------

    async def debit_assignments(self, limit: int) -> list[tuple[Assignment, Plan, datetime | None]]:
        """Assignments whose plan debits a fixed charge, with the start of the last period
        booked (None: none yet), the least advanced first."""
        ...

    async def insert_fixed_charges(self, new: Sequence[FixedCharge]) -> int:
        """Write those not written yet (one per assignment and period start); how many were."""
        ...

    async def due_fixed_charges(self, now: datetime, limit: int) -> list[FixedCharge]: ...

    async def save_fixed_charge(self, f: FixedCharge) -> None:
        """The outcome of a send; only a PENDING row changes."""
        ...

    async def fixed_charge_of(
        self, assignment_id: str, period_start: datetime
    ) -> FixedCharge | None: ...

    # -- invoices ----------------------------------------------------------------------------

    async def ensure_invoices(
        self, periods: Mapping[PeriodKey, tuple[str, datetime]], *, share: bool = True
    ) -> dict[PeriodKey, InvoiceRow]:
        """Create the missing invoices of (assignment, period start) -> (customer, period end);
        return them all, held until the transaction ends (shared, or exclusive when not
        `share`)."""
        ...

    async def get_invoice(self, invoice_id: str) -> InvoiceRow | None: ...

    async def find_invoice(
        self, assignment_id: str, period_start: datetime
    ) -> InvoiceRow | None: ...

    async def list_invoices(
        self, customer_id: str, status: str, before: tuple[datetime, int] | None, limit: int
    ) -> list[InvoiceRow]:
        """Newest period first (ties: newest row first), after the (period_start, seq) cursor."""
        ...

    async def close_invoice(
        self, invoice_id: str, now: datetime, snapshot: dict[str, Any], closed_by: str
    ) -> None:
        """FINAL, with the snapshot it will be shown from from now on; `closed_by`: the actor."""
        ...

    async def line_totals(self, assignment_id: str, period_start: datetime) -> list[LineTotal]:
        """Per (meter, price, version), in the order of their first charge: charge sums by
        status, quantity change and ledger split."""
        ...

    async def aggregates_of(self, assignment_id: str, period_start: datetime) -> dict[str, Decimal]:
        """Each meter's quantity in the period."""
        ...

    async def usage_of_periods(
        self, assignment_id: str, period_starts: Sequence[datetime]
    ) -> Decimal:
        """The sum of the charges of these billing periods (what their invoices count as usage),
        in one query however many periods."""
        ...

    async def line_events(
        self,
        assignment_id: str,
        period_start: datetime,
        price_id: str,
        version: int,
        after_id: int,
        limit: int,
    ) -> list[LineEvent]:
        """The line's charges after the charge id `after_id`, with their events, by id."""
        ...


class Leader(Protocol):
    """Work only one process may do at a time (the forwarder): held as long as this process's
    hold lasts (a crash or a lost connection ends it at once, and another process takes over)."""

    async def held(self) -> bool:
        """Whether this process leads now (asked for again if it was lost)."""
        ...

    async def release(self) -> None: ...


class UnitOfWork(Protocol):
    async def write(self, work: Callable[[RatingStore], Awaitable[T]]) -> T:
        """Run `work` in one transaction; deadlocks and serialization failures run it again
        (so it must only depend on what it reads)."""
        ...

    async def read(self, work: Callable[[RatingStore], Awaitable[T]]) -> T:
        """Run `work` without a write transaction."""
        ...

    async def trial(self, work: Callable[[RatingStore], Awaitable[T]]) -> T:
        """Run `work` in a transaction that is always rolled back (a preview)."""
        ...

    def leader(self, name: str) -> Leader:
        """The leadership of the work called `name`, one process at a time per database."""
        ...
