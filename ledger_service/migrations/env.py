"""Alembic environment for the ledger database."""

from billing_common.migrations import run_env
from ledger_service.adapters.db.tables import metadata
from ledger_service.migrations.env_settings import VERSION_TABLE

run_env(metadata, VERSION_TABLE, "ledger_service")
