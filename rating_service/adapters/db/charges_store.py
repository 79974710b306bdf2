"""Charges on their way to the ledger: their status, retries, and the refund parts of negative
ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select, update

from rating_service.adapters.db.rows import (
    REFUND_PART,
    Store,
    charge_of,
)
from rating_service.adapters.db.tables import (
    charges,
    meters,
    refund_parts,
)
from rating_service.app.records import Acknowledged, ChargeRow, RefundPart
from rating_service.domain.charges import NEW_CHARGE_COLUMNS, NewCharge
from rating_service.domain.status import ChargeStatus


class ChargeStore(Store):
    async def insert_charges(self, new: Sequence[NewCharge]) -> list[int]:
        """Store new charges; their ids, in order."""
        if not new:
            return []
        rows = [{f: getattr(c, f) for f in NEW_CHARGE_COLUMNS} for c in new]
        result = await self.conn.execute(
            charges.insert().returning(charges.c.id, charges.c.ledger_request_id), rows
        )
        by_request = {r.ledger_request_id: r.id for r in result}
        return [by_request[c.ledger_request_id] for c in new]

    async def hold_charges(self, event_id: str, until: datetime) -> None:
        """Keep the forwarder off the event's PENDING charges until `until` (`now` releases)."""
        await self.conn.execute(
            update(charges)
            .where(charges.c.event_id == event_id, charges.c.status == ChargeStatus.PENDING)
            .values(forward_after=until)
        )

    def _charge_select(self) -> Any:
        return select(
            charges,
            meters.c.key.label("meter_key"),
            meters.c.description.label("meter_description"),
        ).join(meters, meters.c.id == charges.c.meter_id)

    async def pending_charges(self) -> int:
        """Charges accepted but not acknowledged by the ledger yet (the forwarder's backlog)."""
        query = (
            select(func.count())
            .select_from(charges)
            .where(charges.c.status == ChargeStatus.PENDING)
        )
        return int((await self.conn.execute(query)).scalar_one())

    async def due_charges(self, now: datetime, limit: int) -> list[ChargeRow]:
        rows = await self.conn.execute(
            self._charge_select()
            .where(charges.c.status == ChargeStatus.PENDING, charges.c.forward_after <= now)
            .order_by(charges.c.id)
            .limit(limit)
        )
        return [charge_of(r) for r in rows]

    async def charges_of_event(self, event_id: str, *, lock: bool = False) -> list[ChargeRow]:
        q = self._charge_select().where(charges.c.event_id == event_id).order_by(charges.c.id)
        if lock:
            q = q.with_for_update(of=charges)
        return [charge_of(r) for r in await self.conn.execute(q)]

    async def charges_by_ids(self, ids: Iterable[int], *, lock: bool = False) -> list[ChargeRow]:
        q = self._charge_select().where(charges.c.id.in_(list(ids))).order_by(charges.c.id)
        if lock:
            q = q.with_for_update(of=charges)
        return [charge_of(r) for r in await self.conn.execute(q)]

    async def acknowledge(self, acks: Sequence[Acknowledged]) -> None:
        """Only PENDING rows change."""
        if acks:
            await self.conn.execute(
                update(charges)
                .where(charges.c.id == bindparam("b_id"), charges.c.status == ChargeStatus.PENDING)
                .values(
                    status=ChargeStatus.ACKNOWLEDGED,
                    ledger_entry_id=bindparam("b_entry_id"),
                    prepaid=bindparam("b_prepaid"),
                    promotional=bindparam("b_promotional"),
                    overage=bindparam("b_overage"),
                    last_error="",
                ),
                [
                    {
                        "b_id": a.charge_id,
                        "b_entry_id": a.entry_id,
                        "b_prepaid": a.split.prepaid,
                        "b_promotional": a.split.promotional,
                        "b_overage": a.split.overage,
                    }
                    for a in acks
                ],
            )

    async def mark_acknowledged(self, charge_id: int, entry_id: str) -> None:
        await self.conn.execute(
            update(charges)
            .where(charges.c.id == charge_id, charges.c.status == ChargeStatus.PENDING)
            .values(status=ChargeStatus.ACKNOWLEDGED, ledger_entry_id=entry_id, last_error="")
        )

    async def deny(self, ids_errors: Mapping[int, str]) -> None:
        if ids_errors:
            await self.conn.execute(
                update(charges)
                .where(charges.c.id == bindparam("b_id"), charges.c.status == ChargeStatus.PENDING)
                .values(status=ChargeStatus.DENIED, last_error=bindparam("b_error")),
                [{"b_id": i, "b_error": e} for i, e in ids_errors.items()],
            )

    async def fail(self, ids_errors: Mapping[int, str], *, internal: bool = False) -> set[int]:
        """A permanent ledger refusal (not a DENY), or the last of the bounded INTERNAL answers
        (`internal`, counted): the charge stops here, FAILED, and the invoice shows it; retrying
        would be refused the same way forever. Returns the ids it moved (only PENDING ones move).
        One statement per charge: failures are rare, and each needs its own answer."""
        moved: set[int] = set()
        for charge_id, error in ids_errors.items():
            values: dict[str, Any] = {"status": ChargeStatus.FAILED, "last_error": error}
            if internal:
                values["internal_errors"] = charges.c.internal_errors + 1
            result = await self.conn.execute(
                update(charges)
                .where(charges.c.id == charge_id, charges.c.status == ChargeStatus.PENDING)
                .values(**values)
                .returning(charges.c.id)
            )
            moved |= {r.id for r in result}
        return moved

    async def back_off(
        self, retry: Mapping[int, tuple[datetime, str]], *, internal: bool = False
    ) -> None:
        """Try again at the given time; `internal`: the answer was INTERNAL-like (counted, as
        only so many of those are retried)."""
        if retry:
            values: dict[str, Any] = {
                "attempts": charges.c.attempts + 1,
                "forward_after": bindparam("b_after"),
                "last_error": bindparam("b_error"),
            }
            if internal:
                values["internal_errors"] = charges.c.internal_errors + 1
            await self.conn.execute(
                update(charges)
                .where(charges.c.id == bindparam("b_id"), charges.c.status == ChargeStatus.PENDING)
                .values(**values),
                [{"b_id": i, "b_after": t, "b_error": e} for i, (t, e) in retry.items()],
            )

    async def earlier_pending(self, charge: ChargeRow) -> bool:
        """Whether an earlier charge of the same aggregate still waits for the ledger."""
        row = (
            await self.conn.execute(
                select(charges.c.id)
                .where(
                    charges.c.assignment_id == charge.assignment_id,
                    charges.c.meter_id == charge.meter_id,
                    charges.c.period_start == charge.period_start,
                    charges.c.id < charge.id,
                    charges.c.status == ChargeStatus.PENDING,
                )
                .limit(1)
            )
        ).first()
        return row is not None

    async def refundable_debits(self, charge: ChargeRow) -> list[ChargeRow]:
        """Acknowledged positive charges of the same aggregate with something left to refund,
        newest first (refunds return the latest usage first), locked."""
        rows = await self.conn.execute(
            self._charge_select()
            .where(
                charges.c.assignment_id == charge.assignment_id,
                charges.c.meter_id == charge.meter_id,
                charges.c.period_start == charge.period_start,
                charges.c.id < charge.id,
                charges.c.status == ChargeStatus.ACKNOWLEDGED,
                charges.c.amount > 0,
                charges.c.amount > charges.c.refunded,
            )
            .order_by(charges.c.id.desc())
            .with_for_update(of=charges)
        )
        return [charge_of(r) for r in rows]

    async def refund_parts_of(self, charge_id: int) -> list[RefundPart]:
        rows = await self.conn.execute(
            select(refund_parts)
            .where(refund_parts.c.charge_id == charge_id)
            .order_by(refund_parts.c.debit_charge_id.desc())
        )
        return [REFUND_PART.load(r) for r in rows]

    async def plan_refund(
        self, charge_id: int, parts: Sequence[tuple[ChargeRow, Decimal, str]], unrefundable: Decimal
    ) -> None:
        for debit, amount, request_id in parts:
            await self.conn.execute(
                update(charges)
                .where(charges.c.id == debit.id)
                .values(refunded=charges.c.refunded + amount)
            )
            await self.conn.execute(
                refund_parts.insert().values(
                    charge_id=charge_id,
                    debit_charge_id=debit.id,
                    debit_entry_id=debit.ledger_entry_id,
                    amount=amount,
                    ledger_request_id=request_id,
                )
            )
        await self.conn.execute(
            update(charges).where(charges.c.id == charge_id).values(unrefundable=unrefundable)
        )

    async def refund_part_done(self, request_id: str, entry_id: str) -> bool:
        """Record a part's ledger entry; False when another forwarder recorded it first (then
        its credit split was counted already)."""
        row = (
            await self.conn.execute(
                update(refund_parts)
                .where(
                    refund_parts.c.ledger_request_id == request_id,
                    refund_parts.c.ledger_entry_id == "",
                )
                .values(ledger_entry_id=entry_id)
                .returning(refund_parts.c.charge_id)
            )
        ).first()
        return row is not None

    async def add_split(
        self, charge_id: int, prepaid: Decimal, promotional: Decimal, overage: Decimal
    ) -> None:
        await self.conn.execute(
            update(charges)
            .where(charges.c.id == charge_id)
            .values(
                prepaid=charges.c.prepaid + prepaid,
                promotional=charges.c.promotional + promotional,
                overage=charges.c.overage + overage,
            )
        )

    async def has_refund_parts(self, charge_ids: Iterable[int]) -> bool:
        wanted = list(set(charge_ids))
        if not wanted:
            return False
        row = (
            await self.conn.execute(
                select(refund_parts.c.charge_id)
                .where(
                    refund_parts.c.charge_id.in_(wanted)
                    | refund_parts.c.debit_charge_id.in_(wanted)
                )
                .limit(1)
            )
        ).first()
        return row is not None
