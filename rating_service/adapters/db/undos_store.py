"""Undo refunds: what a synchronous refusal owes for the debits booked on the event's other
meters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from rating_service.adapters.db.rows import NEW_UNDO, UNDO, Store
from rating_service.adapters.db.tables import (
    undo_refunds,
)
from rating_service.app.records import NewUndo, UndoRow
from rating_service.domain.status import UndoStatus


class UndoStore(Store):
    async def insert_undos(self, undos: Sequence[NewUndo]) -> list[int]:
        """Record refunds owed; their ids, in order."""
        if not undos:
            return []
        result = await self.conn.execute(
            undo_refunds.insert().returning(undo_refunds.c.id, undo_refunds.c.ledger_request_id),
            [NEW_UNDO.dump(u) for u in undos],
        )
        by_request = {r.ledger_request_id: r.id for r in result}
        return [by_request[u.ledger_request_id] for u in undos]

    async def due_undos(self, now: datetime, limit: int) -> list[UndoRow]:
        rows = await self.conn.execute(
            select(*(undo_refunds.c[f] for f in UndoRow.__dataclass_fields__))
            .where(undo_refunds.c.status == UndoStatus.PENDING, undo_refunds.c.forward_after <= now)
            .order_by(undo_refunds.c.id)
            .limit(limit)
        )
        return [UNDO.load(r) for r in rows]

    async def pending_undos(self) -> int:
        query = (
            select(func.count())
            .select_from(undo_refunds)
            .where(undo_refunds.c.status == UndoStatus.PENDING)
        )
        return int((await self.conn.execute(query)).scalar_one())

    async def undo_done(self, undo_id: int, entry_id: str) -> None:
        await self.conn.execute(
            update(undo_refunds)
            .where(undo_refunds.c.id == undo_id, undo_refunds.c.status == UndoStatus.PENDING)
            .values(status=UndoStatus.DONE, ledger_entry_id=entry_id, last_error="")
        )

    async def undo_retry(
        self, undo_ids: Iterable[int], after: datetime, error: str, *, internal: bool = False
    ) -> None:
        """Try again at `after` (`internal`: an INTERNAL-like answer, counted)."""
        values: dict[str, Any] = {
            "attempts": undo_refunds.c.attempts + 1,
            "forward_after": after,
            "last_error": error,
        }
        if internal:
            values["internal_errors"] = undo_refunds.c.internal_errors + 1
        await self.conn.execute(
            update(undo_refunds)
            .where(
                undo_refunds.c.id.in_(list(undo_ids)), undo_refunds.c.status == UndoStatus.PENDING
            )
            .values(**values)
        )

    async def undo_fail(self, undo_id: int, error: str, *, internal: bool = False) -> set[int]:
        values: dict[str, Any] = {"status": UndoStatus.FAILED, "last_error": error}
        if internal:
            values["internal_errors"] = undo_refunds.c.internal_errors + 1
        result = await self.conn.execute(
            update(undo_refunds)
            .where(undo_refunds.c.id == undo_id, undo_refunds.c.status == UndoStatus.PENDING)
            .values(**values)
            .returning(undo_refunds.c.id)
        )
        return {r.id for r in result}
