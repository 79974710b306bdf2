"""The one place the ledger is wired: settings -> database -> app -> gRPC server + background
jobs (expiry sweeper, webhooks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import grpc
import structlog
from billing.ledger.v1 import ledger_pb2
from sqlalchemy.ext.asyncio import AsyncEngine

from billing_common import database, gc_tuning, paging
from billing_common.clock import Clock, SystemClock
from billing_common.grpc_server import (
    GrpcServer,
    add_servicer,
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


async def build(settings: LedgerSettings, clock: Clock | None = None) -> Ledger:
    server_limits = limits.check(settings)
    uri = await database_uri(settings)
    if settings.migrate:
        await upgrade_async(uri)
    engine = database.create_engine(uri, pool_size=settings.pool_size)
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

    server = GrpcServer(settings.listen, register, server_limits, DOMAIN)
    return Ledger(app, engine, server, webhooks, servicer)


async def run(settings: LedgerSettings) -> None:
    configure_logging(settings.log_level)
    exit_on_stop_signals()
    ledger = await build(settings)
    serve_metrics(settings.metrics_listen)
    gc_tuning.tune_after_start_up(settings.gc_tuning)
    jobs = []
    if settings.sweep_interval_s > 0:
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
    try:
        await serve_until_signal(ledger.server, settings.shutdown_grace_s, jobs)
    finally:
        await ledger.webhooks.close()
        await ledger.engine.dispose()
