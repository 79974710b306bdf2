"""Apply the rating service's Alembic migrations to a database (command and start-up hook)."""

from __future__ import annotations

from pathlib import Path

from billing_common import migrations

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def upgrade(database_uri: str, revision: str = "head") -> None:
    migrations.upgrade(MIGRATIONS, database_uri, revision)


async def upgrade_async(database_uri: str) -> None:
    await migrations.upgrade_async(MIGRATIONS, database_uri)
