"""Invoices: one per customer per billing period, computed from the period's charges.

A line per price version used in the period: quantity = sum of the quantity changes of its events,
amount = sum of their charges (so a line always equals its events, which ListInvoiceLineEvents
lists). When one version covers the meter's whole period the line also carries the tier breakdown
of the final aggregate, whose total equals the line amount by the incremental rule.
Credits applied come from how the ledger covered each acknowledged charge (prepaid, promotional,
overage); the overage part is split into what the wallet still owes and what was settled since.
Closing stores a snapshot and the invoice never changes again; closing needs the period to have
ended and no charge of it to be PENDING (counted, not summed: pending charges can add up to 0).
The ledger is asked for the wallet's outstanding overage before any transaction is opened (never
while holding invoice locks), as of the period's end once it has ended and at the ledger's own
now (no as_of) while it is open. Reading an invoice never writes: a period with no row yet gets a
draft built in memory (empty invoice_id: no usage has been recorded in it).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from billing_common.errors import InvalidArgument, Violation
from billing_common.money import exact
from rating_service.adapters.db.repository import ChargeRow, InvoiceRow, RatingRepository
from rating_service.app import commands as cmd
from rating_service.app.ports import LedgerPort, TopUpView
from rating_service.domain.errors import (
    ChargesPending,
    CustomerNotFound,
    InvoiceNotFound,
    PeriodNotEnded,
)
from rating_service.domain.model import assignment_at, billing_period
from rating_service.domain.pricing import PricingModel, breakdown

if TYPE_CHECKING:
    from rating_service.app.service import RatingApp

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class TierView:
    tier_index: int
    quantity: Decimal
    unit_price: Decimal
    flat_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class LineView:
    line_id: str
    meter_id: str
    price_id: str
    price_version: int
    description: str
    quantity: Decimal
    amount: Decimal
    tiers: tuple[TierView, ...]
    denied: Decimal
    pending: Decimal
    blocks: Decimal | None
    failed: Decimal = ZERO
    pending_count: int = 0


@dataclass(frozen=True, slots=True)
class InvoiceView:
    id: str
    customer_id: str
    assignment_id: str
    plan_id: str
    wallet_id: str
    period_start: datetime
    period_end: datetime
    status: str
    unit: str
    fixed_charge: Decimal
    lines: tuple[LineView, ...]
    usage_total: Decimal
    total: Decimal
    prepaid: Decimal
    promotional: Decimal
    overage: Decimal
    close_time: datetime | None
    overage_settled: Decimal = ZERO
    # Automatic top-ups (blocks bought) in the period, from the ledger; kept in the snapshot.
    top_ups: tuple[TopUpView, ...] = ()


def _to_json(v: InvoiceView) -> dict[str, Any]:
    def conv(x: Any) -> Any:
        if isinstance(x, Decimal):
            return str(x)
        if isinstance(x, datetime):
            return x.isoformat()
        if isinstance(x, tuple):
            return [conv(i) for i in x]
        if hasattr(x, "__dataclass_fields__"):
            return {f: conv(getattr(x, f)) for f in x.__dataclass_fields__}
        return x

    result: dict[str, Any] = conv(v)
    return result


def _from_json(d: dict[str, Any], close_time: datetime | None) -> InvoiceView:
    def dec(x: str | None) -> Decimal | None:
        return None if x is None else Decimal(x)

    lines = tuple(
        LineView(
            line_id=ln["line_id"],
            meter_id=ln["meter_id"],
            price_id=ln["price_id"],
            price_version=ln["price_version"],
            description=ln["description"],
            quantity=Decimal(ln["quantity"]),
            amount=Decimal(ln["amount"]),
            tiers=tuple(
                TierView(
                    t["tier_index"],
                    Decimal(t["quantity"]),
                    Decimal(t["unit_price"]),
                    Decimal(t["flat_price"]),
                    Decimal(t["amount"]),
                )
                for t in ln["tiers"]
            ),
            denied=Decimal(ln["denied"]),
            pending=Decimal(ln["pending"]),
            blocks=dec(ln["blocks"]),
            failed=Decimal(ln.get("failed", "0")),
            pending_count=ln.get("pending_count", 0),
        )
        for ln in d["lines"]
    )
    return InvoiceView(
        id=d["id"],
        customer_id=d["customer_id"],
        assignment_id=d["assignment_id"],
        plan_id=d["plan_id"],
        wallet_id=d["wallet_id"],
        period_start=datetime.fromisoformat(d["period_start"]),
        period_end=datetime.fromisoformat(d["period_end"]),
        status="FINAL",
        unit=d["unit"],
        fixed_charge=Decimal(d["fixed_charge"]),
        lines=lines,
        usage_total=Decimal(d["usage_total"]),
        total=Decimal(d["total"]),
        prepaid=Decimal(d["prepaid"]),
        promotional=Decimal(d["promotional"]),
        overage=Decimal(d["overage"]),
        close_time=close_time,
        overage_settled=Decimal(d.get("overage_settled", "0")),
        top_ups=tuple(
            TopUpView(
                t["top_up_id"],
                Decimal(t["credits"]),
                Decimal(t["unit_price"]),
                t["currency"],
                datetime.fromisoformat(t["create_time"]),
            )
            for t in d.get("top_ups", [])
        ),
    )


@exact
async def compute(repo: RatingRepository, row: InvoiceRow) -> InvoiceView:
    """The invoice of a row: its snapshot when FINAL, else computed from the charges now, with
    all the overage booked shown as due (`with_outstanding` caps it by what the wallet owes)."""
    if row.status == "FINAL" and row.snapshot is not None:
        return _from_json(row.snapshot, row.close_time)
    assignment = (await repo.assignments_by_ids([row.assignment_id]))[row.assignment_id]
    stored_plan = (await repo.plans_by_ids([assignment.plan_id]))[assignment.plan_id]
    plan = stored_plan.plan
    included = {p.price_id: p.included_quantity for p in plan.prices}
    totals = await repo.line_totals(row.assignment_id, row.period_start)
    versions = await repo.versions_of({t["price_id"] for t in totals})
    meters = await repo.meters_by_ids({t["meter_id"] for t in totals})
    quantities = await repo.aggregates_of(row.assignment_id, row.period_start)
    per_meter: dict[str, int] = {}
    for t in totals:
        per_meter[t["meter_id"]] = per_meter.get(t["meter_id"], 0) + 1
    lines = []
    for t in totals:
        version = next(
            s.version for s in versions[t["price_id"]] if s.version.version == t["price_version"]
        )
        meter = meters[t["meter_id"]]
        tiers: tuple[TierView, ...] = ()
        blocks = None
        if per_meter[t["meter_id"]] == 1:
            parts = breakdown(
                version.pricing,
                quantities.get(t["meter_id"], ZERO),
                included.get(t["price_id"], ZERO),
            )
            tiers = tuple(
                TierView(p.tier_index, p.quantity, p.unit_price, p.flat_price, p.amount)
                for p in parts
            )
            if version.pricing.model == PricingModel.PACKAGE:
                blocks = sum((p.quantity for p in parts), ZERO)
        lines.append(
            LineView(
                line_id=f"{t['price_id']}:{t['price_version']}",
                meter_id=t["meter_id"],
                price_id=t["price_id"],
                price_version=t["price_version"],
                description=f"{meter.description} ({version.pricing.model.value.lower()}, "
                f"price version {version.version})",
                quantity=t["quantity"],
                amount=t["amount"],
                tiers=tiers,
                denied=t["denied"] or ZERO,
                pending=t["pending"] or ZERO,
                blocks=blocks,
                failed=t["failed"] or ZERO,
                pending_count=t["pending_count"],
            )
        )
    usage_total = sum((ln.amount for ln in lines), ZERO)
    booked_overage = sum((t["overage"] for t in totals), ZERO)
    return InvoiceView(
        id=row.id,
        customer_id=row.customer_id,
        assignment_id=row.assignment_id,
        plan_id=plan.id,
        wallet_id=assignment.wallet_id,
        period_start=row.period_start,
        period_end=row.period_end,
        status=row.status,
        unit=stored_plan.unit,
        fixed_charge=plan.fixed_charge,
        lines=tuple(lines),
        usage_total=usage_total,
        total=plan.fixed_charge + usage_total,
        prepaid=sum((t["prepaid"] for t in totals), ZERO),
        promotional=sum((t["promotional"] for t in totals), ZERO),
        overage=booked_overage,
        close_time=row.close_time,
        overage_settled=ZERO,
    )


async def outstanding_of(ledger: LedgerPort, view: InvoiceView, now: datetime) -> Decimal | None:
    """What the wallet still owes as overage, for a draft that booked some (else None, and no
    ledger call). As of the period's end once it has ended; while open, the ledger's own now
    (our clock may run ahead of the ledger's, which refuses an as_of in its future)."""
    if view.status == "FINAL" or view.overage <= 0:
        return None
    as_of = view.period_end if now >= view.period_end else None
    return await ledger.outstanding_overage(view.wallet_id, as_of)


async def top_ups_of(ledger: LedgerPort, view: InvoiceView) -> tuple[TopUpView, ...]:
    """The period's automatic top-ups: the snapshot's for a FINAL invoice, else the ledger's."""
    if view.status == "FINAL":
        return view.top_ups
    return tuple(await ledger.top_ups(view.wallet_id, view.period_start, view.period_end))


async def completed(ledger: LedgerPort, view: InvoiceView, now: datetime) -> InvoiceView:
    """The view with what only the ledger knows: outstanding overage and top-ups."""
    outstanding = await outstanding_of(ledger, view, now)
    return replace(with_outstanding(view, outstanding), top_ups=await top_ups_of(ledger, view))


@exact
def with_outstanding(view: InvoiceView, outstanding: Decimal | None) -> InvoiceView:
    """Split the booked overage into due (capped by the wallet's outstanding) and settled."""
    if view.status == "FINAL" or outstanding is None:
        return view
    booked = view.overage + view.overage_settled
    due = min(booked, outstanding)
    return replace(view, overage=due, overage_settled=booked - due)


async def invoice_row_for(
    repo: RatingRepository, customer_id: str, at: datetime, *, create: bool
) -> InvoiceRow:
    """The invoice row of the customer's period containing `at`: created if missing (locked FOR
    UPDATE) when `create`, else read, or a DRAFT built in memory (id "") when there is none."""
    assignment = assignment_at((await repo.assignments_of([customer_id]))[customer_id], at)
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
        "", 0, customer_id, assignment.id, period.start, period.end, "DRAFT", None, None
    )


class Invoices:
    def __init__(self, app: RatingApp) -> None:
        self.app = app

    async def _view(self, locate: Callable[[RatingRepository], Any]) -> InvoiceView:
        """Read the invoice, then ask the ledger (no transaction open meanwhile)."""

        async def work(repo: RatingRepository) -> InvoiceView:
            return await compute(repo, await locate(repo))

        view = await self.app.read(work)
        return await completed(self.app.ledger, view, self.app.clock.now())

    async def get(self, invoice_id: str, customer_id: str, at: datetime | None) -> InvoiceView:
        if invoice_id:

            async def by_id(repo: RatingRepository) -> InvoiceRow:
                row = await repo.get_invoice(invoice_id)
                if row is None:
                    raise InvoiceNotFound(f"invoice {invoice_id!r} does not exist")
                return row

            return await self._view(by_id)
        if not customer_id:
            raise InvalidArgument.field(
                "invoice_id", "invoice_id or customer_id is required", "MISSING_FIELD"
            )
        when = at or self.app.clock.now()
        return await self._view(lambda repo: invoice_row_for(repo, customer_id, when, create=False))

    async def list(
        self, customer_id: str, status: str, before: tuple[datetime, int] | None, limit: int
    ) -> list[tuple[tuple[datetime, int], InvoiceView]]:
        async def work(repo: RatingRepository) -> list[tuple[tuple[datetime, int], InvoiceView]]:
            rows = await repo.list_invoices(customer_id, status, before, limit)
            return [((r.period_start, r.seq), await compute(repo, r)) for r in rows]

        found = await self.app.read(work)
        now = self.app.clock.now()
        return [(cursor, await completed(self.app.ledger, v, now)) for cursor, v in found]

    async def close(
        self,
        idem: cmd.Idem,
        customer_id: str,
        at: datetime,
        encode: Callable[[InvoiceView], bytes],
    ) -> bytes:
        # The ledger first, outside the locking transaction below.
        async def locate(repo: RatingRepository) -> InvoiceView:
            return await compute(repo, await invoice_row_for(repo, customer_id, at, create=False))

        draft = await self.app.read(locate)
        outstanding = await outstanding_of(self.app.ledger, draft, self.app.clock.now())
        top_ups = await top_ups_of(self.app.ledger, draft)

        async def work(repo: RatingRepository) -> bytes:
            row = await invoice_row_for(repo, customer_id, at, create=True)
            if row.status == "FINAL":
                return encode(await compute(repo, row))
            now = self.app.clock.now()
            if now < row.period_end:
                raise PeriodNotEnded(
                    f"the period ends at {row.period_end.isoformat()}; it can be closed after that"
                )
            view = replace(with_outstanding(await compute(repo, row), outstanding), top_ups=top_ups)
            if any(ln.pending_count for ln in view.lines):
                raise ChargesPending("charges of the period are still on their way to the ledger")
            await repo.close_invoice(row.id, now, _to_json(view))
            final = await repo.get_invoice(row.id)
            assert final is not None
            return encode(await compute(repo, final))

        return await self.app.idempotent(idem, work)

    async def line_events(
        self, invoice_id: str, line_id: str, after_id: int, limit: int
    ) -> builtins.list[tuple[int, cmd.EventIn, ChargeRow]]:  # (`list` is a method here)
        price_id, _, version = line_id.rpartition(":")
        if not price_id or not version.isdigit():
            raise InvalidArgument.field(
                "line_id", "is not a line of this invoice", "INVALID_LINE_ID"
            )

        async def work(repo: RatingRepository) -> list[tuple[int, cmd.EventIn, ChargeRow]]:
            row = await repo.get_invoice(invoice_id)
            if row is None:
                raise InvoiceNotFound(f"invoice {invoice_id!r} does not exist")
            found = await repo.line_events(
                row.assignment_id, row.period_start, price_id, int(version), after_id, limit
            )
            return [
                (
                    charge.id,
                    cmd.EventIn(
                        charge.event_id,
                        charge.customer_id,
                        r.event_type,
                        charge.occurred_time,
                        dict(r.event_properties),
                    ),
                    charge,
                )
                for r, charge in found
            ]

        return await self.app.read(work)
