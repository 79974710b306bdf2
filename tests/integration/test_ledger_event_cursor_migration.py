"""Migration 0009 moves event cursors from an identity column to `wallet_event_cursor()`: the
numbering goes on where it was, both ways."""

from __future__ import annotations

import asyncio

import asyncpg
from alembic import command

from billing_common import migrations
from ledger_service.adapters.db import migrate

INSERT = (
    "INSERT INTO wallet_events (id, wallet_id, type, occurred_time, book_time, data)"
    " VALUES ($1, 'w', 'GRANT_CREATED', now(), now(), '{}'::jsonb) RETURNING seq"
)


async def insert_event(conn: asyncpg.Connection, event_id: str, *, commit: bool = True) -> int:
    tx = conn.transaction()
    await tx.start()
    seq: int = await conn.fetchval(INSERT, event_id)
    await (tx.commit() if commit else tx.rollback())
    return seq


async def test_event_cursors_go_on_across_the_cursor_migration_and_back(new_database) -> None:
    uri = await new_database("ledger_cursor")
    config = migrations.alembic_config(migrate.MIGRATIONS, uri)
    await asyncio.to_thread(migrate.upgrade, uri, "0008")
    conn = await asyncpg.connect(uri)
    try:
        # No wallet row: the foreign key is not what this is about.
        await conn.execute("SET session_replication_role = replica")
        assert await insert_event(conn, "a") == 1
        assert await insert_event(conn, "b", commit=False) == 2  # a gap
        await asyncio.to_thread(migrate.upgrade, uri, "0009")
        assert await insert_event(conn, "c") == 3
        assert await insert_event(conn, "d", commit=False) == 4
        await asyncio.to_thread(command.downgrade, config, "0008")
        assert await insert_event(conn, "e") == 5
        await asyncio.to_thread(migrate.upgrade, uri, "head")
        assert await insert_event(conn, "f") == 6
        assert [r["seq"] for r in await conn.fetch("SELECT seq FROM wallet_events")] == [1, 3, 5, 6]
    finally:
        await conn.close()
