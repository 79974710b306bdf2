"""Shared fixtures: a real PostgreSQL (embedded by default, or TEST_DATABASE_URL), fresh databases
per test, a ledger gRPC server on a real port with a fake clock, and (`both`) a rating server on its
own database over that ledger, sharing the clock; its forwarder is driven by hand (`drain`)."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from billing.ledger.v1 import ledger_pb2_grpc
from billing.rating.v1 import rating_pb2_grpc

from billing_common import database
from billing_common.clock import FakeClock
from ledger_service import main as ledger_main
from ledger_service.adapters.db.migrate import upgrade_async
from ledger_service.config import LedgerSettings
from rating_service import main as rating_main
from rating_service.config import RatingSettings
from tests.support import kafka_broker as kafka
from tests.support.channels import admin_key, admin_key_file, open_channel
from tests.support.rating import migrated_template
from tests.support.servers import START, NewDatabase, RatingOverLedger, RunningLedger
from tests.support.tls import rating_settings, server_settings, service_env
from tests.support.webhooks import RECEIVER_NETWORKS, TEST_SECRETS_KEY

_counter = itertools.count()

# Every ledger the tests start (in process or as a child process) encrypts webhook secrets with
# this key: with a configured database the ledger needs one (adapters/secrets.py).
os.environ.setdefault("LEDGER_SECRETS_KEY", TEST_SECRETS_KEY)


@pytest.fixture(scope="session", autouse=True)
def dev_tls() -> Iterator[None]:
    """TLS everywhere: the tests' development CA, made once; service processes started by the
    tests find its files in their environment (in-process servers get them as settings)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in service_env().items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session", autouse=True)
def admin_key_path() -> Path:
    """The session's admin key file: every test server is started with it (admin_key_file) and
    every test client sends its key (tests/support/channels.py)."""
    admin_key()
    return admin_key_file()


@pytest.fixture(scope="session")
def pg_server_uri() -> str:
    """libpq URI of a PostgreSQL server for the whole test session.

    The embedded server gets a folder of its own (not pytest's tmp_path, which pytest prunes
    while other sessions may still use it) and is stopped and deleted when the session ends.
    """
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return configured
    import pgserver

    data_dir = Path(tempfile.mkdtemp(prefix="billing-test-pg-"))
    return str(pgserver.get_server(data_dir, cleanup_mode="delete").get_uri())


@pytest.fixture(scope="session")
async def ledger_template(pg_server_uri: str) -> str:
    """A migrated ledger database that fresh test databases are copied from."""
    name = f"ledger_template_{os.getpid()}"
    await database.ensure_database(pg_server_uri, name)
    await upgrade_async(database.with_database(pg_server_uri, name))
    return name


@pytest.fixture(scope="session")
async def new_database(pg_server_uri: str) -> NewDatabase:
    """`await new_database("rating")`: URI of a new empty database (or a copy of `template`)."""

    async def create(prefix: str, template: str | None = None) -> str:
        name = f"{prefix}_{os.getpid()}_{next(_counter)}"
        conn = await asyncpg.connect(database.with_database(pg_server_uri, "postgres"))
        try:
            suffix = f' TEMPLATE "{template}"' if template else ""
            await conn.execute(f'CREATE DATABASE "{name}"{suffix}')
        finally:
            await conn.close()
        return database.with_database(pg_server_uri, name)

    return create


@pytest.fixture
async def ledger_db(new_database: NewDatabase, ledger_template: str) -> str:
    """URI of a fresh, migrated ledger database."""
    return await new_database("ledger", ledger_template)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def ledger_server(ledger_db: str, clock: FakeClock) -> AsyncIterator[RunningLedger]:
    """A ledger gRPC server on 127.0.0.1:<free port>, on its own database, with a fake clock."""
    settings = LedgerSettings(
        database_url=ledger_db,
        listen="127.0.0.1:0",
        migrate=False,
        pool_size=10,
        sweep_interval_s=0,
        webhook_allow_networks=RECEIVER_NETWORKS,
        **server_settings(),
        admin_key_file=admin_key_file(),
    )
    ledger = await ledger_main.build(settings, clock)
    port = await ledger.server.start()
    target = f"127.0.0.1:{port}"
    channel = open_channel(target)
    try:
        yield RunningLedger(
            target, clock, ledger, channel, ledger_pb2_grpc.LedgerServiceStub(channel)
        )
    finally:
        await channel.close()
        await ledger.close()


# -- the rating service over the real ledger --------------------------------------------------


@pytest.fixture(scope="session")
async def rating_template(pg_server_uri: str) -> str:
    return await migrated_template(pg_server_uri)


@pytest.fixture
async def both(
    new_database, rating_template: str, ledger_server
) -> AsyncIterator[RatingOverLedger]:  # type: ignore[no-untyped-def]
    uri = await new_database("rating", rating_template)
    settings = RatingSettings(
        database_url=uri,
        listen="127.0.0.1:0",
        migrate=False,
        pool_size=5,
        forward=False,
        ledger_target=ledger_server.target,
        **rating_settings(),
        # as the default: the ledger's own origin (its customer page calls this port)
        http_cors_origins=f"https://127.0.0.1:{ledger_server.ledger.server.http_port}",
        admin_key_file=admin_key_file(),
        ledger_api_key_file=admin_key_file(),
    )
    built = await rating_main.build(settings, ledger_server.clock)
    target = f"127.0.0.1:{await built.server.start()}"
    channel = open_channel(target)
    try:
        yield RatingOverLedger(
            rating_pb2_grpc.RatingServiceStub(channel), built, ledger_server, target
        )
    finally:
        await channel.close()
        await built.close()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafka.Broker]:
    """A real Kafka broker (KRaft) for the session, on free ports; skips, saying why, where Java
    or Kafka's jars (`make kafka-tools`) are missing."""
    reason = kafka.missing()
    if reason:
        pytest.skip(reason)
    broker = kafka.Broker(tmp_path_factory.mktemp("kafka")).start()
    try:
        yield broker
    finally:
        broker.stop()
