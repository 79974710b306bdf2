"""Prometheus metrics: per-RPC counts by status code and latency histograms (recorded by the
`rpc` handler decorator for every service), domain counters each service defines, and the HTTP
endpoint that exposes them."""

from __future__ import annotations

import structlog
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from billing_common.listening import PortInUse, is_address_in_use

log = structlog.get_logger(__name__)

RPC_REQUESTS = Counter(
    "billing_rpc_requests", "RPCs handled, by method and gRPC status code", ["method", "code"]
)
RPC_LATENCY = Histogram(
    "billing_rpc_latency_seconds",
    "RPC handling time in seconds, by method",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# Ledger domain counters.
DEBITS = Counter("billing_ledger_debits", "Debits booked (including captures)")
DENIALS = Counter("billing_ledger_denials", "Debits refused for insufficient credits")
EXPIRIES = Counter("billing_ledger_expiries", "Expiry write-offs booked")
TOP_UPS = Counter("billing_ledger_top_ups", "Automatic top-ups started")
# Rating domain metrics.
EVENTS_INGESTED = Counter("billing_rating_events", "Events ingested, by status", ["status"])
CHARGES_FAILED = Counter(
    "billing_rating_charges_failed",
    "Charges (kind debit or refund) and undo refunds (kind undo) the ledger refused for good: "
    "FAILED, never sent again; by the ledger's reason",
    ["kind", "reason"],
)
FORWARDER_BACKLOG = Gauge(
    "billing_rating_forwarder_backlog", "Charges accepted but not yet acknowledged by the ledger"
)

# The rating service's Kafka intake (rating_service/adapters/kafka_intake.py).
KAFKA_MESSAGES = Counter(
    "billing_rating_kafka_messages",
    "Messages read from the usage topic, by outcome: accepted, duplicate, rejected (sent to the "
    "dead-letter topic with the reason) or malformed (likewise)",
    ["outcome"],
)
KAFKA_LAG = Gauge(
    "billing_rating_kafka_lag",
    "Messages of a partition on the usage topic not yet committed by this consumer",
    ["partition"],
)
KAFKA_BATCH_SECONDS = Histogram(
    "billing_rating_kafka_batch_seconds",
    "Time from reading a partition's batch to committing its offset, in seconds",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def serve_metrics(listen: str) -> int | None:
    """Expose /metrics over HTTP on host:port (port 0 picks a free one; empty turns it off).
    Returns the port."""
    if not listen:
        return None
    host, _, port = listen.rpartition(":")
    try:
        server, _thread = start_http_server(int(port), addr=host or "127.0.0.1")
    except OSError as exc:
        if is_address_in_use(exc):
            raise PortInUse("metrics_listen", listen) from None
        raise
    bound = int(server.server_address[1])
    log.info("metrics_started", listen=f"{host}:{bound}", path="/metrics")
    return bound
