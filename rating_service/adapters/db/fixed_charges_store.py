"""Fixed charges: one row per (assignment, period) of a plan that debits its fixed charge."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert

from rating_service.adapters.db.rows import ASSIGNMENT, FIXED_CHARGE, STORED_PLAN, Store
from rating_service.adapters.db.tables import assignments, fixed_charges, plans
from rating_service.app.records import FixedCharge
from rating_service.domain.model import Assignment, FixedChargeCollection, Plan
from rating_service.domain.status import ChargeStatus


class FixedChargeStore(Store):
    async def debit_assignments(self, limit: int) -> list[tuple[Assignment, Plan, datetime | None]]:
        """Assignments whose plan debits a fixed charge, with the start of the last period
        booked (None: none yet), the least advanced first, at most `limit`."""
        last = (
            select(
                fixed_charges.c.assignment_id,
                func.max(fixed_charges.c.period_start).label("last_start"),
            )
            .group_by(fixed_charges.c.assignment_id)
            .subquery()
        )
        rows = (
            await self.conn.execute(
                select(assignments, last.c.last_start)
                .select_from(
                    assignments.join(plans, plans.c.id == assignments.c.plan_id).outerjoin(
                        last, last.c.assignment_id == assignments.c.id
                    )
                )
                .where(
                    plans.c.fixed_charge_collection == FixedChargeCollection.DEBIT.value,
                    plans.c.fixed_charge > 0,
                )
                .order_by(last.c.last_start.asc().nulls_first(), assignments.c.id)
                .limit(limit)
            )
        ).all()
        plan_ids = list({r.plan_id for r in rows})
        found = await self.conn.execute(select(plans).where(plans.c.id.in_(plan_ids)))
        by_id = {r.id: STORED_PLAN.load(r).plan for r in found}
        return [(ASSIGNMENT.load(r), by_id[r.plan_id], r.last_start) for r in rows]

    async def insert_fixed_charges(self, new: Sequence[FixedCharge]) -> int:
        """Write the rows not written yet (one per assignment and period); how many were."""
        if not new:
            return 0
        result = await self.conn.execute(
            insert(fixed_charges)
            .on_conflict_do_nothing(index_elements=["assignment_id", "period_start"])
            .returning(fixed_charges.c.assignment_id),
            [FIXED_CHARGE.dump(f) for f in new],
        )
        return len(result.fetchall())

    async def due_fixed_charges(self, now: datetime, limit: int) -> list[FixedCharge]:
        rows = await self.conn.execute(
            select(fixed_charges)
            .where(
                fixed_charges.c.status == ChargeStatus.PENDING,
                fixed_charges.c.forward_after <= now,
            )
            .order_by(fixed_charges.c.forward_after, fixed_charges.c.assignment_id)
            .limit(limit)
        )
        return [FIXED_CHARGE.load(r) for r in rows]

    async def save_fixed_charge(self, f: FixedCharge) -> None:
        """The outcome of a send; only a PENDING row changes."""
        await self.conn.execute(
            update(fixed_charges)
            .where(
                fixed_charges.c.assignment_id == f.assignment_id,
                fixed_charges.c.period_start == f.period_start,
                fixed_charges.c.status == ChargeStatus.PENDING,
            )
            .values(
                status=f.status.value,
                ledger_entry_id=f.ledger_entry_id,
                last_error=f.last_error,
                attempts=f.attempts,
                internal_errors=f.internal_errors,
                forward_after=f.forward_after,
            )
        )

    async def fixed_charge_of(
        self, assignment_id: str, period_start: datetime
    ) -> FixedCharge | None:
        row = (
            await self.conn.execute(
                select(fixed_charges).where(
                    and_(
                        fixed_charges.c.assignment_id == assignment_id,
                        fixed_charges.c.period_start == period_start,
                    )
                )
            )
        ).first()
        return None if row is None else FIXED_CHARGE.load(row)
