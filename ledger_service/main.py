"""The one place the ledger is wired: settings -> database -> app -> gRPC server + background
jobs (expiry sweeper, webhooks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import grpc
import structlog
from billing.ledger.v1 import ledger_pb2
from sqlalchemy.ext.asyncio import AsyncEngine

from billing_common import database, gc_tuning, paging, workers
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
from ledger_service.adapters.grpc.errors import DOMAIN
from ledger_service.adapters.grpc.servicer import LedgerServicer
from ledger_service.adapters.http.webhook_sender import HttpxSender
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
    uri = await database_uri(settings)
    if settings.migrate:
        await upgrade_async(uri)
    # No ping on taking a connection: the unit of work replaces one found dead at its first round
    # trip (adapters/db/unit_of_work.py).
    engine = database.create_engine(uri, pool_size=settings.pool_size, pre_ping=False)
    app = make_app(settings, engine, clock or SystemClock())
    webhooks = WebhookApp(
        app,
        HttpxSender(settings.webhook_timeout_s, settings.webhook_connect_timeout_s),
        settings.webhook_retry(),
        timedelta(seconds=settings.webhook_lease_s),
        settings.webhook_retention(),
    )
    tokens = page_tokens(settings)

    servicer = LedgerServicer(app, webhooks, tokens)

    def register(server: grpc.aio.Server) -> list[str]:
        # Writes answer with the bytes their idempotency record keeps (encoded once).
        return [
            add_servicer(server, servicer, ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"])
        ]

    server = GrpcServer(settings.listen, register, server_limits, DOMAIN, worker)
    return Ledger(app, engine, server, webhooks, servicer)


def serve(settings: LedgerSettings) -> int:
    """`serve`: the ledger service in this process, or settings.workers processes sharing the port
    (billing_common/workers.py); returns the exit code."""
    return workers.serve(settings, run, database_uri, upgrade_async)


async def run(
    settings: LedgerSettings,
    worker: int | None = None,
    started: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT: alone (worker None) or as one of the service's workers.
    The expiry sweeper runs in one process only (alone, or worker 0): its writes are correct
    in any number of processes (it decides under the wallets' locks), but N sweepers would
    contend for the same due wallets for nothing. Webhook rounds run in every process: they
    claim deliveries with SKIP LOCKED and a lease, and move endpoint cursors under locks."""
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
