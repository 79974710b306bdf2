"""Alembic environment for the rating database (async engine, own version table)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from billing_common.database import create_engine
from rating_service.adapters.db.tables import metadata

VERSION_TABLE = "rating_alembic_version"


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_engine(context.config.get_main_option("database_uri") or "", pool_size=1)
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `python -m rating_service migrate`")
asyncio.run(_main())
