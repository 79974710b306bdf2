"""Alembic plumbing shared by the services: each has its own migrations folder, database and
version table; this runs them (as a command, or at start-up) and is the body of their env.py."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from billing_common.database import create_engine


def alembic_config(
    script_location: Path, database_uri: str, attributes: Mapping[str, Any] | None = None
) -> Config:
    """`attributes`: objects a migration may need (`context.config.attributes`), such as the
    ledger's secrets sealer for the migration that encrypts webhook secrets."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("database_uri", database_uri)
    config.attributes.update(attributes or {})
    return config


def upgrade(
    script_location: Path,
    database_uri: str,
    revision: str = "head",
    attributes: Mapping[str, Any] | None = None,
) -> None:
    command.upgrade(alembic_config(script_location, database_uri, attributes), revision)


async def upgrade_async(
    script_location: Path, database_uri: str, attributes: Mapping[str, Any] | None = None
) -> None:
    # Alembic's env.py runs its own event loop, so it goes to a worker thread.
    await asyncio.to_thread(upgrade, script_location, database_uri, "head", attributes)


def run_env(metadata: MetaData, version_table: str, service: str) -> None:
    """The body of a service's migrations/env.py (async engine, own version table)."""
    if context.is_offline_mode():
        raise SystemExit(f"offline migrations are not supported; run `python -m {service} migrate`")

    def migrate(connection: Connection) -> None:
        context.configure(
            connection=connection, target_metadata=metadata, version_table=version_table
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_engine(context.config.get_main_option("database_uri") or "", pool_size=1)
        try:
            async with engine.connect() as conn:
                await conn.run_sync(migrate)
                await conn.commit()
        finally:
            await engine.dispose()  # a failed migration leaves no connection open either

    asyncio.run(main())
