"""The invoice use cases: read, list and close a customer's invoice for a billing period, and
list the events behind a line. What an invoice says is the domain's (`domain/invoice.py`); this
module loads its inputs and asks the ledger what only the ledger knows.

Closing stores a snapshot and the invoice never changes again; closing needs the period to have
ended and no charge of it to be PENDING. The ledger is asked for the wallet's outstanding overage
before any transaction is opened (never while holding invoice locks), as of the period's end once
it has ended and at the ledger's own now (no as_of) while it is open. Reading an invoice never
writes: a period with no row yet gets a draft built in memory (empty invoice_id: no usage has
been recorded in it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from billing_common.errors import InvalidArgument, RequestIdConflict, Violation
from billing_common.periods import Period
from rating_service.app import commands as cmd
from rating_service.app.context import Context
from rating_service.app.ports import LedgerPort, LedgerUnavailable, TopUpView
from rating_service.app.records import ChargeRow, InvoiceRow
from rating_service.app.stores import RatingStore
from rating_service.domain import tenancy
from rating_service.domain.commitments import earlier_periods
from rating_service.domain.errors import (
    ChargesPending,
    CustomerNotFound,
    InvoiceNotFound,
    PeriodNotEnded,
    RequestInProgress,
)
from rating_service.domain.invoice import (
    InvoiceView,
    compute_invoice,
    from_snapshot,
    pending_charges,
    snapshot_of,
    with_outstanding,
)
from rating_service.domain.model import assignment_at, billing_period
from rating_service.domain.status import ChargeStatus, InvoiceStatus

ZERO = Decimal(0)

# What these use cases can raise (tests/unit/test_use_case_errors.py checks it against the code).
RAISES = (
    InvalidArgument,
    RequestIdConflict,
    RequestInProgress,
    CustomerNotFound,
    InvoiceNotFound,
    PeriodNotEnded,
    ChargesPending,
    LedgerUnavailable,  # outstanding overage and top-ups are asked of the ledger
)

# The events behind an invoice line: (charge id as cursor, the event, its charge).
LineEvents = list[tuple[int, cmd.EventIn, ChargeRow]]


async def compute(repo: RatingStore, row: InvoiceRow) -> InvoiceView:
    """The invoice of a row: its snapshot when FINAL, else computed from the charges now."""
    if row.status == InvoiceStatus.FINAL and row.snapshot is not None:
        return from_snapshot(row.snapshot, row.close_time)
    assignment = (await repo.assignments_by_ids([row.assignment_id]))[row.assignment_id]
    stored_plan = (await repo.plans_by_ids([assignment.plan_id]))[assignment.plan_id]
    totals = await repo.line_totals(row.assignment_id, row.period_start)
    stored = await repo.versions_of({t.price_id for t in totals})
    versions = {
        (s.version.price_id, s.version.version): s.version
        for items in stored.values()
        for s in items
    }
    meters = await repo.meters_by_ids({t.meter_id for t in totals})
    quantities = await repo.aggregates_of(row.assignment_id, row.period_start)
    fixed = await repo.fixed_charge_of(row.assignment_id, row.period_start)
    earlier = earlier_periods(
        stored_plan.plan, assignment, Period(row.period_start, row.period_end)
    )
    # An ANNUAL commitment: the usage of the year's earlier periods, in one query.
    earlier_usage = await repo.usage_of_periods(row.assignment_id, [p.start for p in earlier])
    return compute_invoice(
        row,
        assignment,
        stored_plan.plan,
        stored_plan.unit,
        totals,
        versions,
        meters,
        quantities,
        fixed.amount if fixed and fixed.status == ChargeStatus.ACKNOWLEDGED else ZERO,
        fixed_charge_pending=fixed is not None and fixed.status == ChargeStatus.PENDING,
        earlier_usage=earlier_usage,
    )


async def outstanding_of(ledger: LedgerPort, view: InvoiceView, now: datetime) -> Decimal | None:
    """What the wallet still owes as overage, for a draft that booked some (else None, and no
    ledger call). As of the period's end once it has ended; while open, the ledger's own now
    (our clock may run ahead of the ledger's, which refuses an as_of in its future)."""
    if view.status == InvoiceStatus.FINAL or view.overage <= 0:
        return None
    as_of = view.period_end if now >= view.period_end else None
    return await ledger.outstanding_overage(view.wallet_id, as_of)


async def top_ups_of(ledger: LedgerPort, view: InvoiceView) -> tuple[TopUpView, ...]:
    """The period's automatic top-ups: the snapshot's for a FINAL invoice, else the ledger's."""
    if view.status == InvoiceStatus.FINAL:
        return view.top_ups
    return tuple(await ledger.top_ups(view.wallet_id, view.period_start, view.period_end))


async def completed(ledger: LedgerPort, view: InvoiceView, now: datetime) -> InvoiceView:
    """The view with what only the ledger knows: outstanding overage and top-ups."""
    outstanding = await outstanding_of(ledger, view, now)
    return replace(with_outstanding(view, outstanding), top_ups=await top_ups_of(ledger, view))


async def invoice_row_for(
    repo: RatingStore,
    customer_id: str,
    at: datetime,
    *,
    create: bool,
    customers: tenancy.Customers = None,
) -> InvoiceRow:
    """The invoice row of the customer's period containing `at`: created if missing (locked FOR
    UPDATE) when `create`, else read, or a DRAFT built in memory (id "") when there is none. A
    customer outside `customers` has no plan (CUSTOMER_NOT_FOUND), before anything is written."""
    assigned = (
        (await repo.assignments_of([customer_id]))[customer_id]
        if tenancy.may_see(customers, customer_id)
        else []
    )
    assignment = assignment_at(assigned, at)
    if assignment is None:
        raise CustomerNotFound(
            f"customer {customer_id!r} has no plan at {at.isoformat()}",
            violations=[Violation("customer_id", "no plan assignment at that time")],
        )
    plan = (await repo.plans_by_ids([assignment.plan_id]))[assignment.plan_id].plan
    period = billing_period(plan, assignment, at)
    key = (assignment.id, period.start)
    if create:
        rows = await repo.ensure_invoices({key: (customer_id, period.end)}, share=False)
        return rows[key]
    found = await repo.find_invoice(*key)
    if found is not None:
        return found
    return InvoiceRow(
        "", 0, customer_id, assignment.id, period.start, period.end, InvoiceStatus.DRAFT, None, None
    )


class Invoices:
    def __init__(self, context: Context) -> None:
        self.context = context

    async def _view(self, locate: Callable[[RatingStore], Awaitable[InvoiceRow]]) -> InvoiceView:
        """Read the invoice, then ask the ledger (no transaction open meanwhile)."""

        async def work(repo: RatingStore) -> InvoiceView:
            return await compute(repo, await locate(repo))

        view = await self.context.read(work)
        return await completed(self.context.ledger, view, self.context.clock.now())

    async def get(
        self,
        invoice_id: str,
        customer_id: str,
        at: datetime | None,
        customers: tenancy.Customers,
    ) -> InvoiceView:
        if invoice_id:

            async def by_id(repo: RatingStore) -> InvoiceRow:
                return await _visible_invoice(repo, invoice_id, customers)

            return await self._view(by_id)
        if not customer_id:
            raise InvalidArgument.field(
                "invoice_id", "invoice_id or customer_id is required", "MISSING_FIELD"
            )
        when = at or self.context.clock.now()
        return await self._view(
            lambda repo: invoice_row_for(repo, customer_id, when, create=False, customers=customers)
        )

    async def list(
        self,
        customer_id: str,
        status: str,
        before: tuple[datetime, int] | None,
        limit: int,
        customers: tenancy.Customers,
    ) -> list[tuple[tuple[datetime, int], InvoiceView]]:
        if not tenancy.may_see(customers, customer_id):
            return []  # as for a customer without invoices

        async def work(repo: RatingStore) -> list[tuple[tuple[datetime, int], InvoiceView]]:
            rows = await repo.list_invoices(customer_id, status, before, limit)
            return [((r.period_start, r.seq), await compute(repo, r)) for r in rows]

        found = await self.context.read(work)
        now = self.context.clock.now()
        return [(cursor, await completed(self.context.ledger, v, now)) for cursor, v in found]

    async def close(
        self,
        idem: cmd.Idem,
        customer_id: str,
        at: datetime,
        encode: Callable[[InvoiceView], bytes],
        customers: tenancy.Customers,
        actor: str,
    ) -> bytes:
        # The ledger first, outside the locking transaction below.
        async def locate(repo: RatingStore) -> InvoiceView:
            row = await invoice_row_for(repo, customer_id, at, create=False, customers=customers)
            return await compute(repo, row)

        draft = await self.context.read(locate)
        outstanding = await outstanding_of(self.context.ledger, draft, self.context.clock.now())
        top_ups = await top_ups_of(self.context.ledger, draft)

        async def work(repo: RatingStore) -> bytes:
            row = await invoice_row_for(repo, customer_id, at, create=True, customers=customers)
            if row.status == InvoiceStatus.FINAL:
                return encode(await compute(repo, row))
            now = self.context.clock.now()
            if now < row.period_end:
                raise PeriodNotEnded(
                    f"the period ends at {row.period_end.isoformat()}; it can be closed after that"
                )
            view = replace(with_outstanding(await compute(repo, row), outstanding), top_ups=top_ups)
            if pending_charges(view):
                raise ChargesPending("charges of the period are still on their way to the ledger")
            await repo.close_invoice(row.id, now, snapshot_of(view), actor)
            final = await repo.get_invoice(row.id)
            assert final is not None
            return encode(await compute(repo, final))

        return await self.context.idempotent(idem, work)

    async def line_events(
        self,
        invoice_id: str,
        line_id: str,
        after_id: int,
        limit: int,
        customers: tenancy.Customers,
    ) -> LineEvents:
        price_id, _, version = line_id.rpartition(":")
        if not price_id or not version.isdigit():
            raise InvalidArgument.field(
                "line_id", "is not a line of this invoice", "INVALID_LINE_ID"
            )

        async def work(repo: RatingStore) -> LineEvents:
            row = await _visible_invoice(repo, invoice_id, customers)
            found = await repo.line_events(
                row.assignment_id, row.period_start, price_id, int(version), after_id, limit
            )
            return [
                (
                    line.charge.id,
                    cmd.EventIn(
                        line.charge.event_id,
                        line.charge.customer_id,
                        line.type,
                        line.charge.occurred_time,
                        line.properties,
                    ),
                    line.charge,
                )
                for line in found
            ]

        return await self.context.read(work)


async def _visible_invoice(
    repo: RatingStore, invoice_id: str, customers: tenancy.Customers
) -> InvoiceRow:
    """An invoice the caller may see: INVOICE_NOT_FOUND for another customer's, as for none."""
    row = await repo.get_invoice(invoice_id)
    if row is None or not tenancy.may_see(customers, row.customer_id):
        raise InvoiceNotFound(f"invoice {invoice_id!r} does not exist")
    return row
