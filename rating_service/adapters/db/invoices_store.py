"""Invoices (one row per customer per period) and the read models an invoice is computed from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal_column, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from rating_service.adapters.db.rows import (
    INVOICE,
    ZERO,
    Store,
    charge_of,
    new_id,
)
from rating_service.adapters.db.tables import (
    aggregates,
    charges,
    events,
    invoices,
    meters,
)
from rating_service.app.records import InvoiceRow, LineEvent
from rating_service.domain.invoice import LineTotal
from rating_service.domain.status import ChargeStatus, InvoiceStatus


class InvoiceStore(Store):
    async def ensure_invoices(
        self, periods: Mapping[tuple[str, datetime], tuple[str, datetime]], *, share: bool = True
    ) -> dict[tuple[str, datetime], InvoiceRow]:
        """Create missing invoice rows for (assignment, period_start) -> (customer, period_end);
        return them, locked FOR SHARE (or FOR UPDATE when share is False)."""
        if not periods:
            return {}
        keys = sorted(periods)
        await self.conn.execute(
            pg_insert(invoices)
            .values(
                [
                    {
                        "id": new_id(),
                        "assignment_id": a,
                        "period_start": p,
                        "customer_id": periods[(a, p)][0],
                        "period_end": periods[(a, p)][1],
                    }
                    for a, p in keys
                ]
            )
            .on_conflict_do_nothing(index_elements=["assignment_id", "period_start"])
        )
        q = (
            select(invoices)
            .where(tuple_(invoices.c.assignment_id, invoices.c.period_start).in_(keys))
            .order_by(invoices.c.assignment_id, invoices.c.period_start)
        )
        q = q.with_for_update(read=share)
        rows = await self.conn.execute(q)
        return {(r.assignment_id, r.period_start): INVOICE.load(r) for r in rows}

    async def get_invoice(self, invoice_id: str) -> InvoiceRow | None:
        row = (await self.conn.execute(select(invoices).where(invoices.c.id == invoice_id))).first()
        return None if row is None else INVOICE.load(row)

    async def find_invoice(self, assignment_id: str, period_start: datetime) -> InvoiceRow | None:
        row = (
            await self.conn.execute(
                select(invoices).where(
                    invoices.c.assignment_id == assignment_id,
                    invoices.c.period_start == period_start,
                )
            )
        ).first()
        return None if row is None else INVOICE.load(row)

    async def list_invoices(
        self,
        customer_id: str,
        status: str,
        before: tuple[datetime, int] | None,
        limit: int,
    ) -> list[InvoiceRow]:
        """Newest period first (ties: newest row first), after the (period_start, seq) cursor."""
        q = select(invoices).where(invoices.c.customer_id == customer_id)
        if status:
            q = q.where(invoices.c.status == status)
        if before is not None:
            q = q.where(tuple_(invoices.c.period_start, invoices.c.seq) < tuple_(*before))
        order = (invoices.c.period_start.desc(), invoices.c.seq.desc())
        rows = await self.conn.execute(q.order_by(*order).limit(limit))
        return [INVOICE.load(r) for r in rows]

    async def close_invoice(
        self, invoice_id: str, now: datetime, snapshot: dict[str, Any], closed_by: str
    ) -> None:
        await self.conn.execute(
            update(invoices)
            .where(invoices.c.id == invoice_id)
            .values(
                status=InvoiceStatus.FINAL, close_time=now, snapshot=snapshot, closed_by=closed_by
            )
        )

    async def usage_of_periods(
        self, assignment_id: str, period_starts: Sequence[datetime]
    ) -> Decimal:
        if not period_starts:
            return ZERO
        c = charges
        total = await self.conn.scalar(
            select(func.coalesce(func.sum(c.c.amount), 0)).where(
                c.c.assignment_id == assignment_id, c.c.period_start.in_(list(period_starts))
            )
        )
        return Decimal(total or 0)

    async def line_totals(self, assignment_id: str, period_start: datetime) -> list[LineTotal]:
        """Per (meter, price, version): charge sums by status, quantity change and ledger split."""
        c = charges
        rows = await self.conn.execute(
            select(
                c.c.meter_id,
                c.c.price_id,
                c.c.price_version,
                func.sum(c.c.amount).label("amount"),
                func.sum(c.c.quantity_after - c.c.quantity_before).label("quantity"),
                func.sum(c.c.amount).filter(c.c.status == ChargeStatus.DENIED).label("denied"),
                func.sum(c.c.amount).filter(c.c.status == ChargeStatus.PENDING).label("pending"),
                func.count().filter(c.c.status == ChargeStatus.PENDING).label("pending_count"),
                func.sum(c.c.amount).filter(c.c.status == ChargeStatus.FAILED).label("failed"),
                func.sum(c.c.prepaid).label("prepaid"),
                func.sum(c.c.promotional).label("promotional"),
                func.sum(c.c.overage).label("overage"),
                func.min(c.c.id).label("first_id"),
            )
            .where(c.c.assignment_id == assignment_id, c.c.period_start == period_start)
            .group_by(c.c.meter_id, c.c.price_id, c.c.price_version)
            .order_by(literal_column("first_id"))
        )
        return [
            LineTotal(
                meter_id=r.meter_id,
                price_id=r.price_id,
                price_version=r.price_version,
                amount=r.amount,
                quantity=r.quantity,
                # A status with no charge sums to NULL.
                denied=r.denied or ZERO,
                pending=r.pending or ZERO,
                pending_count=r.pending_count,
                failed=r.failed or ZERO,
                prepaid=r.prepaid,
                promotional=r.promotional,
                overage=r.overage,
            )
            for r in rows
        ]

    async def aggregates_of(self, assignment_id: str, period_start: datetime) -> dict[str, Decimal]:
        rows = await self.conn.execute(
            select(aggregates.c.meter_id, aggregates.c.quantity).where(
                aggregates.c.assignment_id == assignment_id,
                aggregates.c.period_start == period_start,
            )
        )
        return {r.meter_id: r.quantity for r in rows}

    async def line_events(
        self,
        assignment_id: str,
        period_start: datetime,
        price_id: str,
        version: int,
        after_id: int,
        limit: int,
    ) -> list[LineEvent]:
        rows = await self.conn.execute(
            select(
                charges,
                meters.c.key.label("meter_key"),
                meters.c.description.label("meter_description"),
                events.c.type.label("event_type"),
                events.c.properties.label("event_properties"),
            )
            .join(meters, meters.c.id == charges.c.meter_id)
            .join(events, events.c.id == charges.c.event_id)
            .where(
                charges.c.assignment_id == assignment_id,
                charges.c.period_start == period_start,
                charges.c.price_id == price_id,
                charges.c.price_version == version,
                charges.c.id > after_id,
            )
            .order_by(charges.c.id)
            .limit(limit)
        )
        return [LineEvent(r.event_type, dict(r.event_properties), charge_of(r)) for r in rows]
