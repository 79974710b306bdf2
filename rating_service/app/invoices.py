"""Invoices: one per customer per billing period, computed from the period's charges.

A line per price version used in the period: quantity = sum of the quantity changes of its events,
amount = sum of their charges (so a line always equals its events, which ListInvoiceLineEvents
lists). When one version covers the meter's whole period the line also carries the tier breakdown
of the final aggregate, whose total equals the line amount by the incremental rule.
Credits applied come from how the ledger covered each acknowledged charge (prepaid, promotional,
overage); the overage part is split into what the wallet still owes and what was settled since.
Closing stores a snapshot and the invoice never changes again; closing needs the period to have
ended and no charge of it to be PENDING.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing_common.errors import InvalidArgument, Violation
from rating_service.adapters.db.repository import InvoiceRow, RatingRepository
from rating_service.app import commands as cmd
from rating_service.app.ports import LedgerPort
from rating_service.domain.errors import (
    ChargesPending,
    CustomerNotFound,
    InvoiceNotFound,
    PeriodNotEnded,
)
from rating_service.domain.model import assignment_at, billing_period
from rating_service.domain.pricing import PricingModel, breakdown

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
    )


async def compute(
    repo: RatingRepository, row: InvoiceRow, ledger: LedgerPort, now: datetime
) -> InvoiceView:
    """The invoice of a row: its snapshot when FINAL, else computed from the charges now.

    Overage: what the charges were booked as overage, split into what the wallet still owes at
    the period's end (or now, if earlier) and what later credits settled. The wallet's outstanding
    overage caps what this invoice calls due."""
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
            )
        )
    usage_total = sum((ln.amount for ln in lines), ZERO)
    booked_overage = sum((t["overage"] for t in totals), ZERO)
    due = booked_overage
    if booked_overage > 0:
        outstanding = await ledger.outstanding_overage(
            assignment.wallet_id, min(now, row.period_end)
        )
        due = min(booked_overage, outstanding)
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
        overage=due,
        close_time=row.close_time,
        overage_settled=booked_overage - due,
    )


async def invoice_row_for(
    repo: RatingRepository, customer_id: str, at: datetime, *, share: bool
) -> InvoiceRow:
    """The invoice row of the customer's period containing `at`, created if missing."""
    assignment = assignment_at((await repo.assignments_of([customer_id]))[customer_id], at)
    if assignment is None:
        raise CustomerNotFound(
            f"customer {customer_id!r} has no plan at {at.isoformat()}",
            violations=[Violation("customer_id", "no plan assignment at that time")],
        )
    plan = (await repo.plans_by_ids([assignment.plan_id]))[assignment.plan_id].plan
    period = billing_period(plan, assignment, at)
    rows = await repo.ensure_invoices(
        {(assignment.id, period.start): (customer_id, period.end)}, share=share
    )
    return rows[(assignment.id, period.start)]


class Invoices:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def get(self, invoice_id: str, customer_id: str, at: datetime | None) -> InvoiceView:
        if invoice_id:

            async def by_id(repo: RatingRepository) -> InvoiceView:
                row = await repo.get_invoice(invoice_id)
                if row is None:
                    raise InvoiceNotFound(f"invoice {invoice_id!r} does not exist")
                return await compute(repo, row, self.app.ledger, self.app.clock.now())

            return await self.app.read(by_id)
        if not customer_id:
            raise InvalidArgument.field(
                "invoice_id", "invoice_id or customer_id is required", "MISSING_FIELD"
            )
        when = at or self.app.clock.now()

        async def by_period(repo: RatingRepository) -> InvoiceView:
            row = await invoice_row_for(repo, customer_id, when, share=True)
            return await compute(repo, row, self.app.ledger, self.app.clock.now())

        return await self.app.write(by_period)

    async def list(
        self, customer_id: str, status: str, before: tuple[datetime, int] | None, limit: int
    ) -> list[tuple[tuple[datetime, int], InvoiceView]]:
        async def work(repo: RatingRepository) -> list[tuple[tuple[datetime, int], InvoiceView]]:
            rows = await repo.list_invoices(customer_id, status, before, limit)
            now = self.app.clock.now()
            return [
                ((r.period_start, r.seq), await compute(repo, r, self.app.ledger, now))
                for r in rows
            ]

        return await self.app.read(work)

    async def close(
        self,
        idem: cmd.Idem,
        customer_id: str,
        at: datetime,
        encode: Callable[[InvoiceView], bytes],
    ) -> bytes:
        async def work(repo: RatingRepository) -> bytes:
            row = await invoice_row_for(repo, customer_id, at, share=False)
            if row.status == "FINAL":
                return encode(await compute(repo, row, self.app.ledger, self.app.clock.now()))
            now = self.app.clock.now()
            if now < row.period_end:
                raise PeriodNotEnded(
                    f"the period ends at {row.period_end.isoformat()}; it can be closed after that"
                )
            view = await compute(repo, row, self.app.ledger, now)
            if any(ln.pending != 0 for ln in view.lines):
                raise ChargesPending("charges of the period are still on their way to the ledger")
            await repo.close_invoice(row.id, now, _to_json(view))
            final = await repo.get_invoice(row.id)
            assert final is not None
            return encode(await compute(repo, final, self.app.ledger, now))

        return await self.app.idempotent(idem, work)

    async def line_events(
        self, invoice_id: str, line_id: str, after_id: int, limit: int
    ) -> list[tuple[int, cmd.EventIn, Any]]:
        price_id, _, version = line_id.rpartition(":")
        if not price_id or not version.isdigit():
            raise InvalidArgument.field(
                "line_id", "is not a line of this invoice", "INVALID_LINE_ID"
            )

        async def work(repo: RatingRepository) -> list[tuple[int, cmd.EventIn, Any]]:
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
