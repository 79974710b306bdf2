"""Storage of webhook endpoints, deliveries and their attempts (all webhook storage in one
adapter, the `WebhookStore` port, which is why it runs a little past 400 lines).

Deliveries are rows, so nothing is lost when the ledger stops: the dispatcher turns wallet events
into delivery rows and moves the endpoint's cursor in one transaction, and the deliverer claims due
rows with `FOR UPDATE SKIP LOCKED` and a lease, so two ledger processes never send the same
delivery at the same time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger_service.adapters.db.event_horizon import Horizon, Snapshot
from ledger_service.adapters.db.tables import (
    wallet_events,
    wallets,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)
from ledger_service.app.ports import Claimed, DispatchTarget, EndpointSecrets, Sealed, new_id
from ledger_service.domain.model import EventType
from ledger_service.domain.webhooks import (
    Attempt,
    Delivery,
    DeliveryState,
    Outcome,
    WebhookEndpoint,
)

# Attempts whose outcome is not stored yet; stays so if the process stopped during the request.
IN_FLIGHT = "in flight (no outcome stored yet)"

# Where event cursors come from (migration 0009): only `wallet_event_cursor()` takes them.
CURSOR_SEQUENCE = "wallet_events_cursor_seq"


def _endpoint(row: Any) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row.id,
        wallet_id=row.wallet_id or "",
        url=row.url,
        types=tuple(EventType(t) for t in row.types),
        description=row.description,
        create_time=row.create_time,
        delete_time=row.delete_time,
    )


def _secrets(row: Any) -> EndpointSecrets:
    previous = (
        None
        if row.previous_secret_key_id is None
        else Sealed(row.previous_secret_key_id, bytes(row.previous_secret_ciphertext))
    )
    return EndpointSecrets(
        Sealed(row.secret_key_id, bytes(row.secret_ciphertext)),
        previous,
        row.previous_secret_expire_time if previous is not None else None,
    )


class WebhookRepository:
    """The `WebhookStore` port on PostgreSQL, on the connection (and transaction) of the
    `LedgerRepository` that hands it out."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # -- endpoints --------------------------------------------------------------------------

    async def lock_scope(self, wallet_id: str) -> None:
        """Serialise endpoint creation per scope (a wallet, or global) so the cap holds."""
        await self.conn.execute(
            select(func.pg_advisory_xact_lock(func.hashtext("webhook_endpoints:" + wallet_id)))
        )

    async def count_active(self, wallet_id: str) -> int:
        scope = (
            webhook_endpoints.c.wallet_id == wallet_id
            if wallet_id
            else webhook_endpoints.c.wallet_id.is_(None)
        )
        query = select(func.count()).where(scope, webhook_endpoints.c.delete_time.is_(None))
        return int((await self.conn.execute(query)).scalar_one())

    async def last_event_seq(self) -> int:
        query = select(func.coalesce(func.max(wallet_events.c.seq), 0))
        return int((await self.conn.execute(query)).scalar_one())

    async def settled_event_seq(self, horizon: Horizon) -> Horizon:
        """One poll of the settled horizon (see `event_horizon`): no lock, nobody waits.

        The sequence is read first and the snapshot after, in a statement of its own: in READ
        COMMITTED each statement takes a new snapshot (a transaction-wide one would be taken before
        the sequence is read). Only transactions that may insert events (holding RowExclusiveLock
        on the table) are listed, not readers of the table. Call it before the connection's
        transaction begins."""
        await self.conn.execution_options(isolation_level="READ COMMITTED")
        last = (
            await self.conn.execute(
                text(
                    "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END"
                    f" FROM {CURSOR_SEQUENCE}"
                )
            )
        ).scalar_one()
        row = (
            await self.conn.execute(
                text(
                    "SELECT pg_current_snapshot()::text AS snapshot,"
                    " array(SELECT x.transactionid::text FROM pg_locks r"
                    "  JOIN pg_locks x ON x.virtualtransaction = r.virtualtransaction"
                    "  WHERE r.locktype = 'relation' AND r.granted"
                    "   AND r.database = (SELECT oid FROM pg_database"
                    "    WHERE datname = current_database())"
                    "   AND r.relation = 'wallet_events'::regclass AND r.mode = 'RowExclusiveLock'"
                    "   AND x.locktype = 'transactionid' AND x.granted) AS holders"
                )
            )
        ).one()
        holders = frozenset(int(xid) for xid in row.holders)
        return horizon.advance(int(last), Snapshot.parse(row.snapshot), holders)

    async def insert_endpoint(self, endpoint: WebhookEndpoint, secret: Sealed, cursor: int) -> None:
        await self.conn.execute(
            webhook_endpoints.insert().values(
                id=endpoint.id,
                wallet_id=endpoint.wallet_id or None,
                url=endpoint.url,
                types=[t.value for t in endpoint.types],
                description=endpoint.description,
                secret_key_id=secret.key_id,
                secret_ciphertext=secret.ciphertext,
                cursor=cursor,
                create_time=endpoint.create_time,
            )
        )

    async def rotate_secret(
        self, endpoint_id: str, secret: Sealed, previous_until: datetime | None
    ) -> None:
        e = webhook_endpoints.c
        keep = previous_until is not None
        await self.conn.execute(
            update(webhook_endpoints)
            .where(e.id == endpoint_id)
            .values(
                # SET reads the row as it was: the current secret becomes the previous one.
                previous_secret_key_id=e.secret_key_id if keep else None,
                previous_secret_ciphertext=e.secret_ciphertext if keep else None,
                previous_secret_expire_time=previous_until,
                secret_key_id=secret.key_id,
                secret_ciphertext=secret.ciphertext,
            )
        )

    async def get_endpoint(self, endpoint_id: str, *, lock: bool = False) -> WebhookEndpoint | None:
        query = select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        if lock:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return None if row is None else _endpoint(row)

    async def list_endpoints(
        self,
        wallet_id: str,
        after_seq: int,
        limit: int,
        customers: frozenset[str] | None = None,
    ) -> list[tuple[int, WebhookEndpoint]]:
        query = select(webhook_endpoints).where(
            webhook_endpoints.c.delete_time.is_(None), webhook_endpoints.c.seq > after_seq
        )
        if wallet_id:
            query = query.where(webhook_endpoints.c.wallet_id == wallet_id)
        if customers is not None:
            owned = select(wallets.c.id).where(wallets.c.customer_id.in_(sorted(customers)))
            query = query.where(webhook_endpoints.c.wallet_id.in_(owned))
        rows = await self.conn.execute(query.order_by(webhook_endpoints.c.seq).limit(limit))
        return [(row.seq, _endpoint(row)) for row in rows]

    async def delete_endpoint(self, endpoint_id: str, now: datetime) -> None:
        """Mark it deleted and cancel what was not delivered yet."""
        await self.conn.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(delete_time=now)
        )
        await self.conn.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.endpoint_id == endpoint_id,
                webhook_deliveries.c.state == DeliveryState.PENDING.value,
            )
            .values(state=DeliveryState.CANCELLED.value, next_attempt_time=None, end_time=now)
        )

    # -- dispatch ---------------------------------------------------------------------------

    async def endpoints_behind(self, horizon: int, limit: int) -> list[DispatchTarget]:
        """Active endpoints whose cursor is behind `horizon`, locked; those another dispatcher
        holds are skipped."""
        rows = await self.conn.execute(
            select(webhook_endpoints)
            .where(webhook_endpoints.c.delete_time.is_(None), webhook_endpoints.c.cursor < horizon)
            .order_by(webhook_endpoints.c.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [
            DispatchTarget(row.id, row.wallet_id or "", tuple(row.types), row.cursor)
            for row in rows
        ]

    async def matching_events(self, target: DispatchTarget, horizon: int, limit: int) -> list[int]:
        query = select(wallet_events.c.seq).where(
            wallet_events.c.seq > target.cursor, wallet_events.c.seq <= horizon
        )
        if target.wallet_id:
            query = query.where(wallet_events.c.wallet_id == target.wallet_id)
        if target.types:
            query = query.where(wallet_events.c.type.in_(list(target.types)))
        rows = await self.conn.execute(query.order_by(wallet_events.c.seq).limit(limit))
        return list(rows.scalars())

    async def add_deliveries(
        self, endpoint_id: str, event_seqs: Sequence[int], cursor: int, now: datetime
    ) -> None:
        """Delivery rows for the events (due at once), and the endpoint's new cursor."""
        if event_seqs:
            await self.conn.execute(
                webhook_deliveries.insert(),
                [
                    {
                        "id": new_id(),
                        "endpoint_id": endpoint_id,
                        "event_seq": seq,
                        "state": DeliveryState.PENDING.value,
                        "attempts": 0,
                        "next_attempt_time": now,
                        "create_time": now,
                    }
                    for seq in event_seqs
                ],
            )
        await self.conn.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(cursor=cursor)
        )

    # -- delivery ---------------------------------------------------------------------------

    async def fail_exhausted(self, now: datetime, attempts_max: int) -> None:
        """Deliveries whose last attempt never stored its outcome (the process stopped) and that
        have no attempts left."""
        await self.conn.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.state == DeliveryState.PENDING.value,
                webhook_deliveries.c.next_attempt_time <= now,
                webhook_deliveries.c.attempts >= attempts_max,
            )
            .values(state=DeliveryState.FAILED.value, next_attempt_time=None, end_time=now)
        )

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
        """Claim due deliveries for one attempt each: count the attempt, log it as in flight and
        push next_attempt_time to the end of the lease, so no other deliverer picks them up
        before the outcome is stored (or the lease runs out because this process stopped)."""
        due = await self.conn.execute(
            select(webhook_deliveries.c.id)
            .where(
                webhook_deliveries.c.state == DeliveryState.PENDING.value,
                webhook_deliveries.c.next_attempt_time <= now,
            )
            .order_by(webhook_deliveries.c.next_attempt_time, webhook_deliveries.c.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list(due.scalars())
        if not ids:
            return []
        counted = await self.conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id.in_(ids))
            .values(attempts=webhook_deliveries.c.attempts + 1, next_attempt_time=lease_until)
            .returning(webhook_deliveries.c.id, webhook_deliveries.c.attempts)
        )
        attempts = {row.id: row.attempts for row in counted}
        await self.conn.execute(
            webhook_attempts.insert(),
            [
                {"delivery_id": d, "number": n, "attempt_time": now, "error": IN_FLIGHT}
                for d, n in attempts.items()
            ],
        )
        rows = await self.conn.execute(
            select(
                webhook_deliveries.c.id,
                webhook_endpoints.c.url,
                webhook_endpoints.c.secret_key_id,
                webhook_endpoints.c.secret_ciphertext,
                webhook_endpoints.c.previous_secret_key_id,
                webhook_endpoints.c.previous_secret_ciphertext,
                webhook_endpoints.c.previous_secret_expire_time,
                webhook_deliveries.c.endpoint_id,
                wallet_events.c.seq,
                wallet_events.c.id.label("event_id"),
                wallet_events.c.wallet_id,
                wallet_events.c.type,
                wallet_events.c.occurred_time,
                wallet_events.c.data,
            )
            .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
            .join(wallet_events, wallet_events.c.seq == webhook_deliveries.c.event_seq)
            .where(webhook_deliveries.c.id.in_(ids))
            .order_by(wallet_events.c.seq)
        )
        return [
            Claimed(
                delivery_id=row.id,
                attempt=attempts[row.id],
                endpoint_id=row.endpoint_id,
                url=row.url,
                secrets=_secrets(row),
                event_id=row.event_id,
                event_seq=row.seq,
                wallet_id=row.wallet_id,
                event_type=EventType(row.type),
                occurred_time=row.occurred_time,
                data=dict(row.data),
            )
            for row in rows
        ]

    async def record(self, results: Sequence[tuple[Claimed, int | None, str, Outcome]]) -> None:
        """Store each attempt's outcome. A delivery whose attempt count moved on (its lease ran
        out and another deliverer took it) or that was cancelled meanwhile keeps its state; the
        attempt is logged either way."""
        if not results:
            return
        await self.conn.execute(
            update(webhook_attempts)
            .where(
                webhook_attempts.c.delivery_id == bindparam("b_id"),
                webhook_attempts.c.number == bindparam("b_attempt"),
            )
            .values(status_code=bindparam("b_status"), error=bindparam("b_error")),
            [
                {"b_id": c.delivery_id, "b_attempt": c.attempt, "b_status": s, "b_error": e}
                for c, s, e, _ in results
            ],
        )
        await self.conn.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.id == bindparam("b_id"),
                webhook_deliveries.c.attempts == bindparam("b_attempt"),
                webhook_deliveries.c.state == DeliveryState.PENDING.value,
            )
            .values(
                state=bindparam("b_state"),
                last_status_code=bindparam("b_status"),
                last_error=bindparam("b_error"),
                next_attempt_time=bindparam("b_next"),
                end_time=bindparam("b_end"),
            ),
            [
                {
                    "b_id": c.delivery_id,
                    "b_attempt": c.attempt,
                    "b_state": o.state.value,
                    "b_status": s,
                    "b_error": e,
                    "b_next": o.next_attempt_time,
                    "b_end": o.end_time,
                }
                for c, s, e, o in results
            ],
        )

    # -- retention --------------------------------------------------------------------------

    async def purge(self, cutoffs: dict[DeliveryState, datetime], limit: int) -> int:
        """Delete up to `limit` finished deliveries that ended at or before their state's cutoff,
        oldest ending first, with their attempt logs. Rows another purger holds are skipped."""
        d = webhook_deliveries
        due = or_(
            *(
                and_(d.c.state == state.value, d.c.end_time <= cutoff)
                for state, cutoff in cutoffs.items()
            )
        )
        # The latest cutoff bounds the scan of the finished-deliveries index by end time.
        rows = await self.conn.execute(
            select(d.c.id)
            .where(d.c.state != DeliveryState.PENDING.value, d.c.end_time <= max(cutoffs.values()))
            .where(due)
            .order_by(d.c.end_time, d.c.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list(rows.scalars())
        if ids:
            await self.conn.execute(
                delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(ids))
            )
            await self.conn.execute(delete(d).where(d.c.id.in_(ids)))
        return len(ids)

    async def list_deliveries(
        self, endpoint_id: str, state: DeliveryState | None, before_seq: int | None, limit: int
    ) -> list[tuple[int, Delivery]]:
        query = (
            select(
                webhook_deliveries,
                wallet_events.c.id.label("event_id"),
                wallet_events.c.type.label("event_type"),
                wallet_events.c.wallet_id.label("wallet_id"),
            )
            .join(wallet_events, wallet_events.c.seq == webhook_deliveries.c.event_seq)
            .where(webhook_deliveries.c.endpoint_id == endpoint_id)
        )
        if state is not None:
            query = query.where(webhook_deliveries.c.state == state.value)
        if before_seq is not None:
            query = query.where(webhook_deliveries.c.seq < before_seq)
        rows = list(
            await self.conn.execute(query.order_by(webhook_deliveries.c.seq.desc()).limit(limit))
        )
        log: dict[str, list[Attempt]] = {row.id: [] for row in rows}
        if rows:
            attempts = await self.conn.execute(
                select(webhook_attempts)
                .where(webhook_attempts.c.delivery_id.in_(list(log)))
                .order_by(webhook_attempts.c.delivery_id, webhook_attempts.c.number)
            )
            for a in attempts:
                log[a.delivery_id].append(Attempt(a.number, a.attempt_time, a.status_code, a.error))
        return [
            (
                row.seq,
                Delivery(
                    id=row.id,
                    endpoint_id=row.endpoint_id,
                    event_id=row.event_id,
                    event_seq=row.event_seq,
                    event_type=EventType(row.event_type),
                    wallet_id=row.wallet_id,
                    state=DeliveryState(row.state),
                    attempts=row.attempts,
                    last_status_code=row.last_status_code,
                    last_error=row.last_error,
                    next_attempt_time=row.next_attempt_time,
                    create_time=row.create_time,
                    end_time=row.end_time,
                    attempt_log=tuple(log[row.id]),
                ),
            )
            for row in rows
        ]
