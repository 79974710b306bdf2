"""Apply the rating service's Alembic migrations to a database (command and start-up hook)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database_uri: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("database_uri", database_uri)
    return config


def upgrade(database_uri: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_uri), revision)


async def upgrade_async(database_uri: str) -> None:
    # Alembic's env.py runs its own event loop, so it goes to a worker thread.
    await asyncio.to_thread(upgrade, database_uri)
