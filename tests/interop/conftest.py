"""Interop fixtures: the ledger as a real process on the embedded PostgreSQL, and the Python
client importable from its source folder.

clients/python is its own distribution (billing-client) and is not installed into .venv by
`make setup` (the root pyproject.toml owns that), so its source folder goes on sys.path here."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from billing_common.process import ServiceProcess, start_service
from tests.support.channels import admin_key_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "clients" / "python" / "src"))
sys.path.insert(0, str(ROOT / "tools"))


@pytest.fixture
async def ledger_process(ledger_db: str) -> AsyncIterator[ServiceProcess]:
    env = {
        "LEDGER_DATABASE_URL": ledger_db,
        "LEDGER_ADMIN_KEY_FILE": str(admin_key_file()),
        "LEDGER_LISTEN": "127.0.0.1:0",
        "LEDGER_MIGRATE": "false",
        "LEDGER_SWEEP_INTERVAL_S": "0",
    }
    service = await start_service("ledger_service", env, cwd=ROOT)
    try:
        yield service
    finally:
        await service.kill()


@pytest.fixture
async def rating_process(
    ledger_process: ServiceProcess,
    new_database,  # type: ignore[no-untyped-def]
) -> AsyncIterator[ServiceProcess]:
    """The rating service as a real process on its own database, talking to `ledger_process`."""
    env = {
        "RATING_DATABASE_URL": await new_database("rating"),
        "RATING_ADMIN_KEY_FILE": str(admin_key_file()),
        "RATING_LEDGER_API_KEY_FILE": str(admin_key_file()),
        "RATING_LISTEN": "127.0.0.1:0",
        "RATING_LEDGER_TARGET": ledger_process.target,
    }
    service = await start_service("rating_service", env, cwd=ROOT)
    try:
        yield service
    finally:
        await service.kill()
