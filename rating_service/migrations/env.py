"""Alembic environment for the rating database."""

from billing_common.migrations import run_env
from rating_service.adapters.db.tables import metadata

VERSION_TABLE = "rating_alembic_version"

run_env(metadata, VERSION_TABLE, "rating_service")
