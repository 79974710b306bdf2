"""Alembic settings shared by env.py and the schema check."""

VERSION_TABLE = "ledger_alembic_version"
