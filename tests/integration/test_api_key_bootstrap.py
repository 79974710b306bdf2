"""Start-up of authentication over a real database: the admin key file (created mode 0600 with the
embedded database, made sure of when it exists), the rating service's key for the ledger, the
warnings with a configured database and with authentication off, and `create-admin-key`."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from billing_common import api_keys, auth_setup, database, principal
from billing_common.api_key_store import ApiKeyStore
from billing_common.clock import FakeClock
from ledger_service.adapters.grpc import scopes
from tests.support.servers import START

pytestmark = pytest.mark.asyncio
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def engine(ledger_db: str) -> AsyncIterator[AsyncEngine]:
    made = database.create_engine(ledger_db, pool_size=2)
    yield made
    await made.dispose()


async def start(
    store: ApiKeyStore, tmp_path: Path, *, embedded: bool, disabled: bool = False
) -> object:
    return await auth_setup.start(
        store,
        FakeClock(START),
        disabled=disabled,
        embedded=embedded,
        admin_key_file=tmp_path / "admin.key",
        service_keys=[
            auth_setup.KeyFile(
                tmp_path / "rating-ledger.key", "rating-service", scopes.RATING_CLIENT_SCOPES
            )
        ],
        scopes=scopes.method_scopes(),
        domain="ledger.billing",
        command="python -m ledger_service",
    )


async def stored(store: ApiKeyStore, path: Path) -> api_keys.ApiKey:
    key = path.read_text().strip()
    key_id = api_keys.key_id_of(key)
    assert key_id is not None
    record = await store.get(key_id)
    assert record is not None
    api_keys.verify(key, record, START)
    return record


async def test_the_embedded_first_start_writes_the_admin_and_rating_keys_for_their_owner_only(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    store = ApiKeyStore(engine)
    with capture_logs() as logs:
        assert await start(store, tmp_path, embedded=True) is not None
    for name in ("admin.key", "rating-ledger.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    admin = await stored(store, tmp_path / "admin.key")
    assert admin.scopes == frozenset({"read", "write", "catalogue", "admin", "webhooks"})
    rating = await stored(store, tmp_path / "rating-ledger.key")
    assert rating.scopes == frozenset(scopes.RATING_CLIENT_SCOPES)
    created = [e["path"] for e in logs if e["event"] == "api_key_file_created"]
    assert created == [str(tmp_path / "admin.key"), str(tmp_path / "rating-ledger.key")]
    assert not [e for e in logs if e["event"] == "no_admin_key"]

    # The next start keeps the files and their keys.
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    await start(store, tmp_path, embedded=True)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before
    assert len(await store.list("", 10)) == 2


async def test_an_existing_admin_key_file_is_made_an_admin_key_with_a_configured_database(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    _, key = api_keys.new_key()
    auth_setup.write_key(tmp_path / "admin.key", key)
    store = ApiKeyStore(engine)
    await start(store, tmp_path, embedded=False)
    assert "admin" in (await stored(store, tmp_path / "admin.key")).scopes
    assert not (tmp_path / "rating-ledger.key").exists()


async def test_a_configured_database_without_an_admin_key_starts_and_says_how_to_make_one(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    with capture_logs() as logs:
        assert await start(ApiKeyStore(engine), tmp_path, embedded=False) is not None
    assert list(tmp_path.iterdir()) == []
    [warning] = [e for e in logs if e["event"] == "no_admin_key"]
    assert "python -m ledger_service create-admin-key" in warning["detail"]


async def test_turning_authentication_off_warns_at_every_start(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    for _ in range(2):
        with capture_logs() as logs:
            assert await start(ApiKeyStore(engine), tmp_path, embedded=True, disabled=True) is None
        assert [e["log_level"] for e in logs if e["event"] == "authentication_disabled"] == [
            "warning"
        ]
    assert list(tmp_path.iterdir()) == []


async def test_a_file_that_holds_no_key_is_a_start_up_error(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    (tmp_path / "admin.key").write_text("hunter2\n")
    with pytest.raises(ValueError, match="does not hold an API key"):
        await start(ApiKeyStore(engine), tmp_path, embedded=True)


async def test_create_admin_key_prints_a_new_admin_key_once(
    engine: AsyncEngine, ledger_db: str
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ledger_service",
        "create-admin-key",
        "--name",
        "operator",
        env={**os.environ, "LEDGER_DATABASE_URL": ledger_db},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    key = out.decode().strip().splitlines()[-1]
    key_id = api_keys.key_id_of(key)
    assert key_id is not None
    record = await ApiKeyStore(engine).get(key_id)
    assert record is not None and record.name == "operator"
    assert "admin" in api_keys.verify(key, record, START).scopes


async def test_workers_starting_together_make_sure_of_one_key_without_a_unique_violation(
    ledger_db: str, tmp_path: Path
) -> None:
    """Every worker of a `--workers N` service makes sure of the same key files at once, each on
    its own connection: the upserts race on both unique indexes (key id and secret hash)."""
    engines = [database.create_engine(ledger_db, pool_size=2) for _ in range(8)]
    try:
        for attempt in range(10):
            folder = tmp_path / str(attempt)
            folder.mkdir()
            auth_setup.write_key(folder / "admin.key", api_keys.new_key()[1])
            stores = [ApiKeyStore(engine) for engine in engines]
            started = await asyncio.gather(
                *(start(store, folder, embedded=True) for store in stores)
            )
            assert all(authentication is not None for authentication in started)
            admin = await stored(stores[0], folder / "admin.key")
            assert principal.ADMIN in admin.scopes
    finally:
        for engine in engines:
            await engine.dispose()
