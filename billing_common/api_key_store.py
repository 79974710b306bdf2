"""API keys in a service's own database (table `api_keys`, created by each service's migration):
a key made on the ledger works on the ledger only. Only the key's hash is stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from billing_common import principal
from billing_common.api_keys import ApiKey, hash_key, key_id_of
from billing_common.errors import NotFound, RequestIdConflict


def api_keys_table(metadata: sa.MetaData) -> sa.Table:
    """The table, as each service's migration creates it (each service adds it to its own
    metadata, so its migration test compares it too)."""
    return sa.Table(
        "api_keys",
        metadata,
        sa.Column("key_id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("customers", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False, unique=True),
        sa.Column("created_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=True, unique=True),
        sa.Column("request_fingerprint", sa.LargeBinary(), nullable=True),
    )


api_keys = api_keys_table(sa.MetaData())

_RECORD = [
    api_keys.c.key_id,
    api_keys.c.name,
    api_keys.c.scopes,
    api_keys.c.customers,
    api_keys.c.secret_hash,
    api_keys.c.created_time,
    api_keys.c.expires_time,
    api_keys.c.revoked_time,
]


def _record(row: Any) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        name=row.name,
        scopes=frozenset(row.scopes),
        customers=None if row.customers is None else frozenset(row.customers),
        secret_hash=bytes(row.secret_hash),
        created_time=row.created_time,
        expires_time=row.expires_time,
        revoked_time=row.revoked_time,
    )


def _values(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "name": key.name,
        "scopes": sorted(key.scopes),
        "customers": None if key.customers is None else sorted(key.customers),
        "secret_hash": key.secret_hash,
        "created_time": key.created_time,
        "expires_time": key.expires_time,
        "revoked_time": key.revoked_time,
    }


class ApiKeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, key_id: str) -> ApiKey | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(*_RECORD).where(api_keys.c.key_id == key_id))
            ).first()
        return None if row is None else _record(row)

    async def create(self, key: ApiKey, request_id: str, fingerprint: bytes) -> tuple[ApiKey, bool]:
        """Store `key` under `request_id`; (the key, True), or for a request id used before
        with the same request, (the key stored then, False); RequestIdConflict otherwise."""
        insert = (
            postgresql.insert(api_keys)
            .values(**_values(key), request_id=request_id, request_fingerprint=fingerprint)
            .on_conflict_do_nothing(index_elements=["request_id"])
            .returning(api_keys.c.key_id)
        )
        async with self.engine.begin() as conn:
            if (await conn.execute(insert)).first() is not None:
                return key, True
            row = (
                await conn.execute(
                    sa.select(*_RECORD, api_keys.c.request_fingerprint).where(
                        api_keys.c.request_id == request_id
                    )
                )
            ).one()
        if bytes(row.request_fingerprint) != fingerprint:
            raise RequestIdConflict(
                f"request_id {request_id!r} was used before for a different CreateApiKey"
            )
        return _record(row), False

    async def replay(self, request_id: str, fingerprint: bytes) -> ApiKey | None:
        """The key an earlier CreateApiKey with this request id made (None: there was none);
        RequestIdConflict when that request was another."""
        query = sa.select(*_RECORD, api_keys.c.request_fingerprint).where(
            api_keys.c.request_id == request_id
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        if bytes(row.request_fingerprint) != fingerprint:
            raise RequestIdConflict(
                f"request_id {request_id!r} was used before for a different CreateApiKey"
            )
        return _record(row)

    async def list(self, after_key_id: str, limit: int) -> list[ApiKey]:
        query = (
            sa.select(*_RECORD)
            .where(api_keys.c.key_id > after_key_id)
            .order_by(api_keys.c.key_id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def revoke(self, key_id: str, now: datetime) -> ApiKey:
        """Revoke a key now; a key revoked before keeps its revocation time (idempotent)."""
        update = (
            sa.update(api_keys)
            .where(api_keys.c.key_id == key_id)
            .values(revoked_time=sa.func.coalesce(api_keys.c.revoked_time, now))
            .returning(*_RECORD)
        )
        async with self.engine.begin() as conn:
            row = (await conn.execute(update)).first()
        if row is None:
            raise NotFound(f"API key {key_id} does not exist", reason="API_KEY_NOT_FOUND")
        return _record(row)

    async def ensure(
        self, key: str, name: str, scopes: Sequence[str], now: datetime
    ) -> ApiKey | None:
        """Make sure the key in a file is a key of this service with these scopes (at start-up:
        the admin key, the rating service's key). A revoked one stays revoked. None when the
        file does not hold a key of ours."""
        key_id = key_id_of(key)
        if key_id is None:
            return None
        record = ApiKey(key_id, name, frozenset(scopes), None, hash_key(key), now)
        values = _values(record)
        # Every worker of a service makes sure of the same files at once. An upsert arbitrated on
        # the key id alone still fails on the secret hash's unique index when another worker's
        # insert of the same key is in flight, so: insert unless any unique index already holds
        # it (waiting for that insert), then set hash and scopes on the row that is there.
        insert = postgresql.insert(api_keys).values(**values).on_conflict_do_nothing()
        update = (
            sa.update(api_keys)
            .where(api_keys.c.key_id == key_id)
            .values(secret_hash=values["secret_hash"], scopes=values["scopes"])
            .returning(*_RECORD)
        )
        async with self.engine.begin() as conn:
            await conn.execute(insert)
            return _record((await conn.execute(update)).one())

    async def admin_exists(self, now: datetime) -> bool:
        """Whether a key with the admin scope is usable now."""
        query = sa.select(sa.func.count()).where(
            api_keys.c.scopes.contains([principal.ADMIN]),
            api_keys.c.revoked_time.is_(None),
            sa.or_(api_keys.c.expires_time.is_(None), api_keys.c.expires_time > now),
        )
        async with self.engine.connect() as conn:
            return bool((await conn.execute(query)).scalar_one())
