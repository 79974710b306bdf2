"""The one place the ledger is wired: settings -> database -> app -> gRPC server + background
jobs (expiry sweeper, webhooks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
import structlog
from billing.ledger.v1 import ledger_pb2
from sqlalchemy.ext.asyncio import AsyncEngine

from billing_common import (
    api_key_service,
    api_keys,
    auth_setup,
    database,
    gc_tuning,
    paging,
    tls,
    workers,
)
from billing_common.api_key_store import ApiKeyStore
from billing_common.auth import Authentication
from billing_common.clock import Clock, SystemClock
from billing_common.grpc_handlers import add_servicer
from billing_common.grpc_server import (
    GrpcServer,
    every,
    exit_on_stop_signals,
    serve_until_signal,
)
from billing_common.logs import configure_logging
from billing_common.metrics import serve_metrics
from ledger_service import limits
from ledger_service.adapters.db.migrate import upgrade_async
from ledger_service.adapters.db.unit_of_work import SqlUnitOfWork
from ledger_service.adapters.grpc import scopes
from ledger_service.adapters.grpc.errors import DOMAIN
from ledger_service.adapters.grpc.servicer import LedgerServicer
from ledger_service.adapters.http.portal import portal_site
from ledger_service.adapters.http.resolver import SystemResolver
from ledger_service.adapters.http.webhook_sender import HttpxSender
from ledger_service.adapters.secrets import AesGcmSealer, load_sealer
from ledger_service.app.service import LedgerApp, LedgerPolicy
from ledger_service.app.webhooks import WebhookApp
from ledger_service.config import LedgerSettings

log = structlog.get_logger(__name__)

SERVICE_NAME = ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"].full_name


async def database_uri(settings: LedgerSettings) -> str:
    """The ledger database's libpq URI: the configured one, or one in the embedded server."""
    return await database.service_database_uri(
        settings.database_url, settings.data_dir, settings.database_name
    )


def page_tokens(settings: LedgerSettings) -> paging.PageTokens:
    """The page-token signer: the configured secret, else the embedded server's kept one."""
    embedded = None if settings.database_url else settings.data_dir.resolve()
    return paging.PageTokens(paging.load_secret(settings.page_token_secret, embedded), "ledger")


def sealer(settings: LedgerSettings) -> AesGcmSealer:
    """What encrypts secrets at rest (adapters/secrets.py says where the key comes from); a
    missing or malformed key is a SecretsKeyError (a ValueError) naming the setting."""
    embedded = None if settings.database_url else settings.data_dir.resolve().parent
    return load_sealer(settings.secrets_key_file, settings.secrets_old_key_files, embedded)


async def migrate(settings: LedgerSettings, uri: str) -> None:
    """Apply the migrations, with the sealer (migration 0011 encrypts secrets stored in clear)."""
    await upgrade_async(uri, sealer(settings))


async def authentication(
    settings: LedgerSettings, engine: AsyncEngine, clock: Clock
) -> Authentication | None:
    """The server's authentication, after making sure of the admin key and of the rating
    service's key for the ledger (auth_setup.py)."""

    def path(configured: Path, name: str) -> Path | None:
        return auth_setup.key_file_path(configured, settings.database_url, settings.data_dir, name)

    rating_key = path(settings.rating_key_file, auth_setup.RATING_LEDGER_KEY_FILE)
    return await auth_setup.start(
        ApiKeyStore(engine),
        clock,
        disabled=settings.auth_disabled,
        embedded=not settings.database_url,
        admin_key_file=path(settings.admin_key_file, auth_setup.ADMIN_KEY_FILE),
        service_keys=[]
        if rating_key is None
        else [auth_setup.KeyFile(rating_key, "rating-service", scopes.RATING_CLIENT_SCOPES)],
        scopes=scopes.method_scopes(),
        domain=DOMAIN,
        identities=api_keys.parse_identities(settings.mtls_identities),
        command="python -m ledger_service",
    )


@dataclass
class Ledger:
    """A wired ledger: its app, engine and (not yet started) server."""

    app: LedgerApp
    engine: AsyncEngine
    server: GrpcServer
    webhooks: WebhookApp
    servicer: LedgerServicer

    async def close(self, grace_s: float = 0) -> None:
        await self.server.stop(grace_s)
        await self.webhooks.close()
        await self.engine.dispose()


def make_app(settings: LedgerSettings, engine: AsyncEngine, clock: Clock) -> LedgerApp:
    """The use cases over a database engine, with the configured policy and write pipeline (the
    server and the admin commands both build it here)."""
    policy = LedgerPolicy(default_late_event_grace=timedelta(seconds=settings.default_grace_s))
    return LedgerApp(
        SqlUnitOfWork(engine),
        clock,
        policy,
        write_queue_max=settings.write_queue_max,
        # Reads and the other writes always find a pooled connection.
        write_in_flight=min(settings.write_in_flight, max(1, settings.pool_size - 1)),
    )


async def build(
    settings: LedgerSettings, clock: Clock | None = None, worker: int | None = None
) -> Ledger:
    server_limits = limits.check(settings)
    secrets_sealer = sealer(settings)
    server_tls = tls.server_tls(settings)
    uri = await database_uri(settings)
    if settings.migrate:
        await upgrade_async(uri, secrets_sealer)
    # No ping on taking a connection: the unit of work replaces one found dead at its first round
    # trip (adapters/db/unit_of_work.py).
    engine = database.create_engine(uri, pool_size=settings.pool_size, pre_ping=False)
    clock = clock or SystemClock()
    app = make_app(settings, engine, clock)
    auth = await authentication(settings, engine, clock)
    keys = api_key_service.ApiKeyServicer(ApiKeyStore(engine), clock, DOMAIN)
    webhooks = WebhookApp(
        app,
        HttpxSender(settings.webhook_timeout_s, settings.webhook_connect_timeout_s),
        settings.webhook_retry(),
        timedelta(seconds=settings.webhook_lease_s),
        settings.webhook_retention(),
        resolver=SystemResolver(settings.webhook_connect_timeout_s),
        sealer=secrets_sealer,
        egress_policy=settings.webhook_egress(),
    )
    tokens = page_tokens(settings)

    servicer = LedgerServicer(app, webhooks, tokens)

    def register(server: grpc.aio.Server) -> list[str]:
        # Writes answer with the bytes their idempotency record keeps (encoded once).
        return [
            add_servicer(server, servicer, ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"]),
            api_key_service.add_to_server(server, keys),
        ]

    server = GrpcServer(
        settings.listen,
        register,
        server_limits,
        DOMAIN,
        worker,
        auth,
        tls=server_tls,
        http_listen=settings.http_listen,
        http_site=portal_site(settings),
    )
    return Ledger(app, engine, server, webhooks, servicer)


def serve(settings: LedgerSettings) -> int:
    """`serve`: the ledger service in this process, or settings.workers processes sharing the port
    (billing_common/workers.py); returns the exit code."""
    return workers.serve(settings, run, database_uri, lambda uri: migrate(settings, uri))


async def run(
    settings: LedgerSettings,
    worker: int | None = None,
    started: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT: alone (worker None) or as one of the service's workers.
    The sweeper (expiry, allotments, top-ups, signals) runs in worker 0 of each process: several
    processes on one database share the due wallets (each sweep claims the wallets it takes:
    adapters/db/claims.py), and what is booked is decided under the wallets' locks. Webhook
    rounds run in every worker: they claim deliveries with SKIP LOCKED and a lease, and move
    endpoint cursors under locks."""
    configure_logging(settings.log_level)
    exit_on_stop_signals()
    ledger = await build(settings, worker=worker)
    serve_metrics(settings.metrics_listen)
    jobs = []
    if settings.sweep_interval_s > 0 and not worker:
        jobs.append(
            lambda stopping: every(
                settings.sweep_interval_s, stopping, ledger.app.run_expiry, "expiry_sweep"
            )
        )
        # Consumption signals are time-based (README "Insight"): the sweeper evaluates them.
        jobs.append(
            lambda stopping: every(
                settings.sweep_interval_s, stopping, ledger.app.run_signals, "signal_sweep"
            )
        )
    if settings.webhook_interval_s > 0:
        jobs.append(
            lambda stopping: every(
                settings.webhook_interval_s, stopping, ledger.webhooks.run_once, "webhooks"
            )
        )
    gc_tuning.tune_gc(settings.gc_freeze, gc_tuning.gc_threshold(settings.gc_threshold))
    try:
        await serve_until_signal(ledger.server, settings.shutdown_grace_s, jobs, started)
    finally:
        await ledger.webhooks.close()
        await ledger.engine.dispose()
