"""A service that starts while its database restarts (a crash, a failover, the simulator's
database restarts) waits for it instead of exiting: auth_setup.start retries the key files'
statements while the store answers Unavailable, up to a deadline, then gives up with it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from billing_common import api_keys, auth_setup
from billing_common.clock import FakeClock
from billing_common.errors import Unavailable

pytestmark = pytest.mark.asyncio
START = datetime(2026, 1, 1, tzinfo=UTC)


class RestartingStore:
    """Answers Unavailable to its first `down` statements, as a database that is restarting."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.calls = 0

    def _statement(self) -> None:
        self.calls += 1
        if self.calls <= self.down:
            # A pooled connection that breaks is Unavailable; a new one to a server whose
            # socket is gone is a bare OSError from the driver.
            if self.calls % 2:
                raise FileNotFoundError(2, "No such file or directory")
            raise Unavailable("the database is unavailable; retry with the same request_id")

    async def ensure(
        self, key: str, name: str, scopes: object, now: datetime
    ) -> api_keys.ApiKey | None:
        self._statement()
        key_id = api_keys.key_id_of(key)
        if key_id is None:
            return None  # as the store does: not one of our keys
        return api_keys.ApiKey(key_id, name, frozenset(), None, api_keys.hash_key(key), now)

    async def admin_exists(self, now: datetime) -> bool:
        self._statement()
        return True


async def start(store: RestartingStore, tmp_path: Path, pauses: list[float]) -> object:
    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    return await auth_setup.start(
        store,  # type: ignore[arg-type]
        FakeClock(START),
        disabled=False,
        embedded=True,
        admin_key_file=tmp_path / "admin.key",
        scopes={},
        domain="test.billing",
        command="python -m ledger_service",
        pause=pause,
    )


async def test_a_start_during_a_database_restart_waits_and_then_starts(tmp_path: Path) -> None:
    store = RestartingStore(down=3)
    pauses: list[float] = []
    assert await start(store, tmp_path, pauses) is not None
    assert store.calls == 5  # three refused, then the admin key and the admin check
    assert len(pauses) == 3 and pauses == sorted(pauses)


async def test_an_error_that_is_not_the_database_being_down_is_not_waited_for(
    tmp_path: Path,
) -> None:
    (tmp_path / "admin.key").write_text("not a key\n")
    pauses: list[float] = []
    with pytest.raises(ValueError, match="does not hold an API key"):
        await start(RestartingStore(down=0), tmp_path, pauses)
    assert pauses == []


async def test_a_database_that_stays_down_ends_the_start_with_unavailable(tmp_path: Path) -> None:
    store = RestartingStore(down=10_000)
    pauses: list[float] = []
    with pytest.raises((Unavailable, FileNotFoundError)):
        await start(store, tmp_path, pauses)
    assert sum(pauses) <= auth_setup.START_WAIT_S
    assert sum(pauses) >= auth_setup.START_WAIT_S / 2
