"""Idempotency keys: claim a request id, store its response, leases of synchronous ingest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from rating_service.adapters.db.rows import Store, lock_key
from rating_service.adapters.db.tables import idempotency_keys
from rating_service.app.records import Claim


class ClaimStore(Store):
    async def claim(self, request_id: str, method: str, fp: bytes, now: datetime) -> Claim:
        """Claim a request id. A concurrent holder makes this wait until it commits."""
        stmt = (
            pg_insert(idempotency_keys)
            .values(request_id=request_id, method=method, fingerprint=fp, create_time=now)
            .on_conflict_do_nothing(index_elements=["request_id"])
            .returning(idempotency_keys.c.request_id)
        )
        if (await self.conn.execute(stmt)).first() is not None:
            return Claim(True)
        return await self._stored_claim(request_id)

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
        """Claim a request id as in progress (response NULL) until `lease_until`, to be committed
        on its own before any work. An in-progress claim of the same request whose lease ran out
        (its holder crashed), or whose holder is provably gone (`holder_gone`: its session lock,
        `try_lock_request`, is free), is taken over; anything else is returned as found."""
        k = idempotency_keys
        insert = pg_insert(k).values(
            request_id=request_id,
            method=method,
            fingerprint=fp,
            create_time=now,
            lease_until=lease_until,
        )
        stmt = insert.on_conflict_do_update(
            index_elements=["request_id"],
            set_={"lease_until": insert.excluded.lease_until},
            where=(
                k.c.response.is_(None)
                & (true() if holder_gone else (k.c.lease_until < now))
                & (k.c.method == insert.excluded.method)
                & (k.c.fingerprint == insert.excluded.fingerprint)
            ),
        ).returning(k.c.request_id)
        if (await self.conn.execute(stmt)).first() is not None:
            return Claim(True)
        return await self._stored_claim(request_id)

    async def try_lock_request(self, request_id: str) -> bool:
        """The session advisory lock a synchronous request's holder keeps from before its claim
        until it is done: free while the claim is in progress means the holder is gone (its
        session died with it, a restart or a crash), so a retry may take the claim over."""
        key = lock_key("sync-request", request_id)
        found = await self.conn.execute(select(func.pg_try_advisory_lock(key)))
        return bool(found.scalar_one())

    async def renew_lease(self, request_id: str, lease_until: datetime) -> None:
        await self.conn.execute(
            update(idempotency_keys)
            .where(
                idempotency_keys.c.request_id == request_id, idempotency_keys.c.response.is_(None)
            )
            .values(lease_until=lease_until)
        )

    async def release_claim(self, request_id: str) -> None:
        """Give up an in-progress claim (the work failed), so a retry can run it again."""
        await self.conn.execute(
            idempotency_keys.delete().where(
                idempotency_keys.c.request_id == request_id, idempotency_keys.c.response.is_(None)
            )
        )

    async def stored_claim(self, request_id: str) -> Claim | None:
        """The request id's claim as stored (never claimed here), or None."""
        row = (
            await self.conn.execute(
                select(idempotency_keys).where(idempotency_keys.c.request_id == request_id)
            )
        ).first()
        return None if row is None else Claim(False, row.method, row.fingerprint, row.response)

    async def _stored_claim(self, request_id: str) -> Claim:
        row = (
            await self.conn.execute(
                select(idempotency_keys).where(idempotency_keys.c.request_id == request_id)
            )
        ).one()
        return Claim(False, row.method, row.fingerprint, row.response)

    async def store_response(self, request_id: str, response: bytes) -> None:
        await self.conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.request_id == request_id)
            .values(response=response, lease_until=None)
        )
