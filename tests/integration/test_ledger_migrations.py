"""The Alembic migrations produce exactly the schema the code's tables describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from billing_common.database import create_engine
from ledger_service.adapters.db.tables import metadata
from ledger_service.migrations.env_settings import VERSION_TABLE


async def test_migrations_match_the_tables(ledger_db: str) -> None:
    engine = create_engine(ledger_db, pool_size=1)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"version_table": VERSION_TABLE}),
                    metadata,
                )
            )
    finally:
        await engine.dispose()
    assert diff == []
