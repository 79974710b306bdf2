"""Migration 0011 encrypts the webhook secrets stored in clear before it: each opens with the
ledger's key, bound to its endpoint, and the clear column is gone. Without the key, a database
that has clear secrets is not migrated (an error naming the settings), and nothing changes."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from ledger_service.adapters.db import migrate
from ledger_service.adapters.secrets import AesGcmSealer
from ledger_service.app.ports import Sealed

SEALER = AesGcmSealer(bytes(range(32)))
INSERT = (
    "INSERT INTO webhook_endpoints (id, url, types, description, secret, cursor, create_time)"
    " VALUES ($1, 'https://hooks.example.com/x', '{}', '', $2, 0, now())"
)


async def test_clear_secrets_are_encrypted_by_the_migration(new_database) -> None:
    uri = await new_database("ledger_sealing")
    await asyncio.to_thread(migrate.upgrade, uri, "0010")
    conn = await asyncpg.connect(uri)
    try:
        await conn.execute(INSERT, "e1", "whsec_" + "a" * 64)
        await conn.execute(INSERT, "e2", "whsec_" + "b" * 64)
        await asyncio.to_thread(migrate.upgrade, uri, "head", SEALER)
        rows = await conn.fetch(
            "SELECT id, secret_key_id, secret_ciphertext FROM webhook_endpoints ORDER BY id"
        )
        opened = [
            SEALER.open(Sealed(r["secret_key_id"], bytes(r["secret_ciphertext"])), r["id"])
            for r in rows
        ]
        assert opened == ["whsec_" + "a" * 64, "whsec_" + "b" * 64]
        assert not any(b"aaaa" in bytes(r["secret_ciphertext"]) for r in rows)
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'webhook_endpoints' AND column_name = 'secret'"
        )
        assert columns == []
    finally:
        await conn.close()


async def test_without_the_key_a_database_with_clear_secrets_is_not_migrated(
    new_database,
) -> None:
    uri = await new_database("ledger_sealing_nokey")
    await asyncio.to_thread(migrate.upgrade, uri, "0010")
    conn = await asyncpg.connect(uri)
    try:
        await conn.execute(INSERT, "e1", "whsec_" + "a" * 64)
        with pytest.raises(RuntimeError, match="LEDGER_SECRETS_KEY"):
            await asyncio.to_thread(migrate.upgrade, uri, "head")
        assert await conn.fetchval("SELECT secret FROM webhook_endpoints") == "whsec_" + "a" * 64
        assert await conn.fetchval("SELECT version_num FROM ledger_alembic_version") == "0010"
    finally:
        await conn.close()
