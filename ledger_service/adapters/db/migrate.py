"""Apply the ledger's Alembic migrations to a database (command and start-up hook)."""

from __future__ import annotations

from pathlib import Path

from billing_common import migrations
from ledger_service.app.ports import Sealer

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
# Where migration 0011 finds the sealer that encrypts the webhook secrets stored in clear before.
SEALER = "secrets_sealer"


def upgrade(database_uri: str, revision: str = "head", sealer: Sealer | None = None) -> None:
    attributes = {} if sealer is None else {SEALER: sealer}
    migrations.upgrade(MIGRATIONS, database_uri, revision, attributes)


async def upgrade_async(database_uri: str, sealer: Sealer | None = None) -> None:
    """`sealer`: needed only to migrate a database that has webhook secrets stored in clear."""
    await migrations.upgrade_async(
        MIGRATIONS, database_uri, {} if sealer is None else {SEALER: sealer}
    )
