"""The one place the rating service is wired: settings -> database -> ledger client -> context
-> use cases (catalogue, ingest, invoices, usage) and the forwarder -> gRPC server. The server,
the simulator and the tests all build it here (`build`, or `make_app` over an engine)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
import structlog
from billing.rating.v1 import rating_pb2, rating_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from billing_common import (
    api_key_service,
    api_keys,
    auth_setup,
    database,
    devcerts,
    gc_tuning,
    paging,
    tls,
    workers,
)
from billing_common.api_key_store import ApiKeyStore
from billing_common.clock import Clock, SystemClock
from billing_common.grpc_server import GrpcServer, exit_on_stop_signals, serve_until_signal
from billing_common.logs import configure_logging
from billing_common.metrics import serve_metrics
from rating_service import limits
from rating_service.adapters.db.migrate import upgrade_async
from rating_service.adapters.db.sessions import SqlSyncSessions
from rating_service.adapters.db.unit_of_work import SqlUnitOfWork
from rating_service.adapters.grpc import scopes
from rating_service.adapters.grpc.errors import DOMAIN
from rating_service.adapters.grpc.servicer import RatingServicer
from rating_service.adapters.kafka_intake import IntakeSettings, KafkaIntake
from rating_service.adapters.ledger_client import LedgerClient
from rating_service.app.accept import RatingPolicy
from rating_service.app.catalogue import Catalogue
from rating_service.app.context import Context
from rating_service.app.forwarder import Forwarder, ForwarderPolicy
from rating_service.app.ingest import Ingest
from rating_service.app.invoices import Invoices
from rating_service.app.ports import LedgerPort
from rating_service.app.usage import Usage
from rating_service.app.use_cases import RatingApp
from rating_service.config import RatingSettings

log = structlog.get_logger(__name__)

SERVICE_NAME = rating_pb2.DESCRIPTOR.services_by_name["RatingService"].full_name


async def database_uri(settings: RatingSettings) -> str:
    """The rating database's libpq URI: the configured one, or one in the embedded server."""
    return await database.service_database_uri(
        settings.database_url, settings.data_dir, settings.database_name
    )


def page_tokens(settings: RatingSettings) -> paging.PageTokens:
    """The page-token signer: the configured secret, else the embedded server's kept one."""
    embedded = None if settings.database_url else settings.data_dir.resolve()
    return paging.PageTokens(paging.load_secret(settings.page_token_secret, embedded), "rating")


def ledger_credentials(settings: RatingSettings) -> grpc.ChannelCredentials | None:
    """How the ledger client connects (settings ledger_tls_*): TLS trusting the configured CA,
    else the embedded deployment's development CA, else the system's roots; None (plain text)
    only with ledger_plaintext."""
    if settings.ledger_plaintext:
        log.warning(
            "ledger_tls_disabled",
            detail="ledger_plaintext=true: calls to the ledger travel without TLS; for "
            "development only",
        )
        return None
    ca: Path | None = None
    if settings.ledger_tls_ca_file:
        ca = Path(settings.ledger_tls_ca_file)
    elif not settings.database_url:
        ca = devcerts.ensure(tls.dev_folder(settings.data_dir)).ca
    cert = Path(settings.ledger_tls_cert_file) if settings.ledger_tls_cert_file else None
    key = Path(settings.ledger_tls_key_file) if settings.ledger_tls_key_file else None
    return tls.channel_credentials(ca, cert, key)


@dataclass
class Rating:
    """A wired rating service: use cases, forwarder, engine, servicer and (not yet started)
    server."""

    app: RatingApp
    forwarder: Forwarder
    engine: AsyncEngine
    server: GrpcServer
    ledger: LedgerPort
    servicer: RatingServicer

    async def close(self, grace_s: float = 0) -> None:
        await self.server.stop(grace_s)
        close = getattr(self.ledger, "close", None)
        if close is not None:
            await close()
        await self.engine.dispose()


def make_app(
    settings: RatingSettings, engine: AsyncEngine, clock: Clock, ledger: LedgerPort
) -> RatingApp:
    """The use cases over one Context, with the configured policy."""
    context = Context(SqlUnitOfWork(engine), clock, ledger)
    policy = RatingPolicy(
        grace=timedelta(seconds=settings.grace_s),
        future_skew=timedelta(seconds=settings.future_skew_s),
        sync_hold=timedelta(seconds=settings.sync_hold_s),
        # Three connections stay free of synchronous calls: one for the claim and answer of the
        # synchronous requests themselves, one the forwarder holds while it leads (its advisory
        # lock), one for everything else (and the forwarder's rounds).
        sync_concurrency_max=max(1, settings.pool_size - 3),
    )
    return RatingApp(
        context,
        Catalogue(context),
        Ingest(context, policy, SqlSyncSessions(engine)),
        Invoices(context),
        Usage(context),
    )


def ledger_key_file(settings: RatingSettings) -> Path | None:
    """The file of the key the rating service presents to the ledger: the configured one (which
    must exist), else .data/rating-ledger.key with the embedded database (the ledger creates it,
    so it is read when first needed)."""
    path = auth_setup.key_file_path(
        settings.ledger_api_key_file,
        settings.database_url,
        settings.data_dir,
        auth_setup.RATING_LEDGER_KEY_FILE,
    )
    if path is None:
        log.warning(
            "no_ledger_api_key",
            detail="ledger_api_key_file is not set: calls to the ledger carry no credential "
            "(create a ledger key with scopes read and write and set ledger_api_key_file)",
        )
    elif path == settings.ledger_api_key_file and not path.exists():
        raise ValueError(f"setting ledger_api_key_file: {path} does not exist")
    return path


def make_forwarder(settings: RatingSettings, context: Context) -> Forwarder:
    return Forwarder(
        context,
        ForwarderPolicy(
            batch_size_max=settings.forward_batch_size,
            backoff_base_s=settings.forward_backoff_base_s,
            backoff_max_s=settings.forward_backoff_max_s,
            idle_s=settings.forward_idle_s,
            internal_answers_max=settings.forward_internal_answers_max,
            concurrency=settings.forward_concurrency,
        ),
    )


def make_intake(settings: RatingSettings, ingest: Ingest) -> KafkaIntake:
    """The Kafka intake (adapters/kafka_intake.py): every process and worker joins the group."""
    return KafkaIntake(
        IntakeSettings(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic=settings.kafka_topic,
            group_id=settings.kafka_group_id,
            dead_letter_topic=settings.kafka_dead_letter_topic,
            format=settings.kafka_format,
            batch_max=settings.kafka_batch_max,
            security=settings.kafka_security(),
        ),
        ingest,
    )


async def build(
    settings: RatingSettings,
    clock: Clock | None = None,
    ledger: LedgerPort | None = None,
    worker: int | None = None,
) -> Rating:
    server_limits = limits.check(settings)
    server_tls = tls.server_tls(settings)
    uri = await database_uri(settings)
    if settings.migrate:
        await upgrade_async(uri)
    engine = database.create_engine(uri, pool_size=settings.pool_size)
    clock = clock or SystemClock()
    port = ledger or LedgerClient(
        settings.ledger_target,
        settings.ledger_timeout_s,
        credentials=ledger_credentials(settings),
        key_file=ledger_key_file(settings),
    )
    app = make_app(settings, engine, clock, port)
    auth = await auth_setup.start(
        ApiKeyStore(engine),
        clock,
        disabled=settings.auth_disabled,
        embedded=not settings.database_url,
        admin_key_file=auth_setup.key_file_path(
            settings.admin_key_file,
            settings.database_url,
            settings.data_dir,
            auth_setup.ADMIN_KEY_FILE,
        ),
        scopes=scopes.method_scopes(),
        domain=DOMAIN,
        identities=api_keys.parse_identities(settings.mtls_identities),
        command="python -m rating_service",
    )
    keys = api_key_service.ApiKeyServicer(ApiKeyStore(engine), clock, DOMAIN)
    forwarder = make_forwarder(settings, app.context)
    servicer = RatingServicer(app, page_tokens(settings))

    def register(server: grpc.aio.Server) -> list[str]:
        rating_pb2_grpc.add_RatingServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME, api_key_service.add_to_server(server, keys)]

    return Rating(
        app,
        forwarder,
        engine,
        GrpcServer(
            settings.listen,
            register,
            server_limits,
            DOMAIN,
            worker,
            auth,
            tls=server_tls,
            http_listen=settings.http_listen,
            http_cors_origins=settings.http_cors_origins.split(","),
        ),
        port,
        servicer,
    )


def serve(settings: RatingSettings) -> int:
    """`serve`: the rating service in this process, or settings.workers processes sharing the port
    (billing_common/workers.py); returns the exit code."""
    return workers.serve(settings, run, database_uri, upgrade_async)


async def run(
    settings: RatingSettings,
    worker: int | None = None,
    started: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT: alone (worker None) or as one of the service's workers.
    The forwarder runs in worker 0 only: the other workers would only wait for its leadership
    (one forwarding process per database, a session advisory lock: app/forwarder.py), and a
    waiting forwarder keeps a pooled connection busy for nothing."""
    configure_logging(settings.log_level)
    exit_on_stop_signals()
    rating = await build(settings, worker=worker)
    serve_metrics(settings.metrics_listen)
    jobs = [rating.forwarder.run] if settings.forward and not worker else []
    if settings.kafka_bootstrap_servers:
        jobs.append(make_intake(settings, rating.app.ingest).run)
    gc_tuning.tune_gc(settings.gc_freeze, gc_tuning.gc_threshold(settings.gc_threshold))
    try:
        await serve_until_signal(rating.server, settings.shutdown_grace_s, jobs, started)
    finally:
        close = getattr(rating.ledger, "close", None)
        if close is not None:
            await close()
        await rating.engine.dispose()
