"""Authentication at start-up, the same in both services: key files (the admin key, the rating
service's key for the ledger), the development switch, and the interceptor the server runs.

- `auth_disabled=true`: no credential is asked for (every call runs as principal.ANONYMOUS);
  a warning is logged at every start.
- `admin_key_file`: if the file exists, its key is made sure of as an admin key (its hash upserted;
  a revoked one stays revoked). If not, with the embedded database, a new admin key is created and
  written there, mode 0600. With a configured database the service starts anyway and logs how to
  create an admin key when none exists.
- A service that starts while its database is restarting (a crash, a failover) waits for it:
  these statements are retried while the database is unreachable (database.is_transient), with
  growing pauses, for up to START_WAIT_S seconds; then the start fails with that error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from billing_common import api_keys, database, principal
from billing_common.api_key_store import ApiKeyStore
from billing_common.auth import Authentication
from billing_common.clock import Clock

log = structlog.get_logger(__name__)

ADMIN_KEY_FILE = "admin.key"
START_WAIT_S = 30.0  # how long a start waits for a database that is restarting
RATING_LEDGER_KEY_FILE = "rating-ledger.key"


@dataclass(frozen=True, slots=True)
class KeyFile:
    """A key a service makes sure of at start: its file, the name and the scopes of its key."""

    path: Path
    name: str
    scopes: Sequence[str]


def key_file_path(configured: Path, database_url: str, data_dir: Path, name: str) -> Path | None:
    """A key file setting's path: the configured one, else with the embedded database `name` in
    the data folder's parent (`.data/` by default); None with a configured database."""
    if str(configured) not in ("", "."):
        return configured
    return None if database_url else data_dir.parent / name


def read_key(path: Path) -> str | None:
    """The key in a key file, or None when there is no such file."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def write_key(path: Path, key: str) -> str:
    """Write a key file readable by its owner only, unless one exists (another process of the
    service got there first: its key is returned). Written whole before it appears."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        return read_key(path) or key
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return key


async def ensure_key(store: ApiKeyStore, file: KeyFile, clock: Clock, create: bool) -> bool:
    """Make sure the key in `file` is a key of this service with its scopes, creating key and
    file when `create` and there is none; False when there is no file (and none was made).
    ValueError when the file does not hold one of our keys."""
    key = read_key(file.path)
    if key is None:
        if not create:
            return False
        key = write_key(file.path, api_keys.new_key()[1])
        log.info("api_key_file_created", name=file.name, path=str(file.path))
    record = await store.ensure(key, file.name, file.scopes, clock.now())
    if record is None:
        raise ValueError(f"{file.path} does not hold an API key (bk_<id>_<secret>)")
    if record.revoked_time is not None:
        log.warning("api_key_file_revoked", name=file.name, path=str(file.path))
    return True


async def start(
    store: ApiKeyStore,
    clock: Clock,
    *,
    disabled: bool,
    embedded: bool,
    admin_key_file: Path | None,
    service_keys: Sequence[KeyFile] = (),
    scopes: Mapping[str, str],
    domain: str,
    identities: Mapping[str, frozenset[str]] | None = None,
    command: str,
    pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Authentication | None:
    """The server's authentication (None when turned off), after making sure of its key files
    (waiting for a database that is restarting: the module's docstring)."""
    if disabled:
        log.warning(
            "authentication_disabled",
            detail="auth_disabled=true: every call is accepted without a credential "
            "(development only)",
        )
        return None

    async def make_sure() -> bool:
        if admin_key_file is not None:
            admin = KeyFile(admin_key_file, "admin", [principal.ADMIN, *_ALL])
            await ensure_key(store, admin, clock, embedded)
        for file in service_keys:
            await ensure_key(store, file, clock, embedded)
        return await store.admin_exists(clock.now())

    if not await _waiting_for_the_database(make_sure, pause):
        log.warning(
            "no_admin_key",
            detail="no usable admin API key exists: create one with "
            f"`{command} create-admin-key` (or set admin_key_file to a file holding one)",
        )
    return Authentication(store, clock, scopes, domain, identities)


async def _waiting_for_the_database(
    step: Callable[[], Awaitable[bool]], pause: Callable[[float], Awaitable[None]]
) -> bool:
    """`step`, again after a pause while the database is unreachable, for up to
    START_WAIT_S seconds in all (pauses from 0.1 s, doubling, at most 2 s). Each try is whole:
    the key files are made sure of by idempotent statements."""
    waited, wait = 0.0, 0.1
    while True:
        try:
            return await step()
        except Exception as error:  # a refused connection is a bare OSError, not Unavailable
            if not database.is_transient(error) or waited + wait > START_WAIT_S:
                raise
            log.warning("database_unavailable_at_start", retry_in_s=wait, waited_s=waited)
            await pause(wait)
            waited, wait = waited + wait, min(wait * 2, 2.0)


# The bootstrap admin key holds every scope: it is the operator's key.
_ALL = sorted(principal.SCOPES - {principal.ADMIN})


async def create_admin_key(store: ApiKeyStore, clock: Clock, name: str) -> str:
    """A new admin key (every scope), stored by its hash; the key is returned, to be shown once."""
    key_id, key = api_keys.new_key()
    record = api_keys.ApiKey(
        key_id, name, principal.SCOPES, None, api_keys.hash_key(key), clock.now()
    )
    await store.create(record, f"create-admin-key:{key_id}", b"create-admin-key")
    return key


async def create_admin_key_in(uri: str, name: str) -> str:
    """`create-admin-key`: a new admin key in the service's database at `uri`, returned to be
    printed once."""
    from billing_common.clock import SystemClock

    engine = database.create_engine(uri, pool_size=2)
    try:
        return await create_admin_key(ApiKeyStore(engine), SystemClock(), name)
    finally:
        await engine.dispose()
