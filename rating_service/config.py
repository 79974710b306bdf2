"""Settings: one frozen object, from environment variables, overridable by command-line flags."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from billing_common import api_keys, gc_tuning, settings
from billing_common.kafka_security import KafkaSecurity
from rating_service import limits


@dataclass(frozen=True, slots=True)
class RatingSettings:
    # PostgreSQL URL (postgresql://user:pass@host:port/db). Empty: start the embedded server.
    database_url: str = ""
    # Data folder of the embedded PostgreSQL (kept between runs; shared with the ledger).
    data_dir: Path = Path(".data/postgres")
    # Database the rating service uses inside the embedded server.
    database_name: str = "rating"
    # host:port to listen on; port 0 picks a free one.
    listen: str = "127.0.0.1:50052"
    # host:port of the HTTP/JSON port (the Connect protocol: billing_common/connect.py), the same
    # methods, credentials and TLS as the gRPC port; port 0 picks a free one, empty turns it off.
    http_listen: str = "127.0.0.1:8052"
    # Origins (comma-separated) whose pages may call the HTTP/JSON port from a browser (CORS):
    # by default the ledger's own, which serves the customer page (portal/).
    http_cors_origins: str = "https://127.0.0.1:8051"
    # The ledger's gRPC target (host:port).
    ledger_target: str = "127.0.0.1:50051"
    # Deadline of each call to the ledger, in seconds.
    ledger_timeout_s: float = 10.0
    # How the ledger client checks the ledger's certificate: this CA file; empty: with the
    # embedded database, the development CA (<data_dir's parent>/tls/ca.pem), else the system's
    # trusted roots. With ledger_tls_cert_file/ledger_tls_key_file it presents that client
    # certificate (mutual TLS). ledger_plaintext: development only, no TLS to the ledger.
    ledger_tls_ca_file: str = ""
    ledger_tls_cert_file: str = ""
    ledger_tls_key_file: str = ""
    ledger_plaintext: bool = False
    # Database connections in the pool (the bound on concurrent transactions).
    pool_size: int = 10
    # Apply migrations at start-up.
    migrate: bool = True
    # Run the forwarder (delivers pending charges to the ledger).
    forward: bool = True
    # Charges per DebitBatch call (the ledger takes at most 1,000).
    forward_batch_size: int = 500
    # Forwarder retry backoff: first delay and cap, in seconds.
    forward_backoff_base_s: float = 0.5
    forward_backoff_max_s: float = 60.0
    # INTERNAL (UNKNOWN, DATA_LOSS) answers of the ledger to one charge before it is FAILED.
    forward_internal_answers_max: int = 8
    # DebitBatch calls the forwarder has in flight at once, each for its own partition of the
    # wallets (a wallet's charges always go through one partition, in order), 1 to
    # limits.FORWARD_CONCURRENCY_MAX and fewer than pool_size.
    forward_concurrency: int = limits.FORWARD_CONCURRENCY
    # Seconds the forwarder sleeps when nothing is due.
    forward_idle_s: float = 0.5
    # Events older than this (seconds) are rejected with EVENT_TOO_OLD (default 3 days).
    grace_s: int = 259200
    # Events further than this (seconds) in the future are rejected with EVENT_IN_FUTURE.
    future_skew_s: int = 300
    # Synchronous ingest: seconds before the forwarder takes over an unanswered charge.
    sync_hold_s: int = 60
    # Seconds in-flight calls get to finish on SIGTERM.
    shutdown_grace_s: float = 10.0
    # host:port of the Prometheus /metrics endpoint; port 0 picks a free one, empty turns it off.
    metrics_listen: str = "127.0.0.1:9465"
    log_level: str = "INFO"
    # Largest request message in bytes; larger is RESOURCE_EXHAUSTED (limits.py has the range).
    message_bytes_max: int = limits.MESSAGE_BYTES_MAX
    # Calls handled at once; more are RESOURCE_EXHAUSTED / TOO_MANY_CONCURRENT_RPCS.
    concurrent_rpcs_max: int = limits.CONCURRENT_RPCS_MAX
    # Seconds of silence after which a connection's peer is pinged (closed if it does not answer).
    keepalive_s: float = limits.KEEPALIVE_S
    # Seconds without calls after which a connection is closed.
    connection_idle_s: float = limits.CONNECTION_IDLE_S
    # Secret that signs page tokens (at least 32 characters), the same on every replica so tokens
    # survive restarts and work on any of them. Empty: with the embedded PostgreSQL, one kept in
    # its data folder; with a configured database, a new one per process (tokens die with it).
    page_token_secret: str = ""
    # TLS (billing_common/tls.py): the server's certificate and key (PEM files); empty with the
    # embedded database: the development CA's, created in <data_dir's parent>/tls on first start;
    # empty with a configured database: a start-up error (unless plaintext).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Set: mutual TLS, every client must present a certificate this CA file signed.
    tls_client_ca_file: str = ""
    # Development only: serve without TLS (a warning at every start).
    plaintext: bool = False
    # Processes serving the port (1 to 64; SO_REUSEPORT). Each has its own event loop and its
    # own pool of pool_size connections: N workers open N x pool_size connections.
    workers: int = 1
    # After start-up, move the objects alive then out of the garbage collector's scans.
    gc_freeze: bool = True
    # Garbage collector thresholds "young,middle,old"; empty: Python's own (700,10,10).
    gc_threshold: str = gc_tuning.GC_THRESHOLD

    # Development only: accept every call without a credential (a warning at every start).
    auth_disabled: bool = False
    # File holding the admin API key (made sure of at start). Empty: with the embedded database
    # .data/admin.key (beside data_dir; created, mode 0600, if missing); with a configured
    # database, none (`create-admin-key` makes one).
    admin_key_file: Path = Path("")
    # With mutual TLS: client certificate common names and their scopes,
    # "name=scope,scope;name=scope" (a certificate not listed is refused).
    mtls_identities: str = ""
    # File holding the API key the rating service presents to the ledger. Empty: with the
    # embedded database .data/rating-ledger.key (the ledger creates it); else none.
    ledger_api_key_file: Path = Path("")
    # Kafka intake (README "Kafka intake"): the brokers (host:port, comma-separated); empty turns
    # it off. Every process (and worker) joins the consumer group and gets its share of the
    # topic's partitions.
    kafka_bootstrap_servers: str = ""
    kafka_topic: str = "billing.usage"
    kafka_group_id: str = "billing-rating"
    # Where rejected events and malformed messages go, with their reason in headers.
    kafka_dead_letter_topic: str = "billing.usage.dead-letter"
    # "json" (the Event message in proto3 JSON) or "protobuf" (a serialised Event).
    kafka_format: str = "json"
    # Messages per batch (one transaction per partition's batch), 1 to 1,000 (limits.py).
    kafka_batch_max: int = 500
    # How the intake connects (billing_common/kafka_security.py): PLAINTEXT, SSL, SASL_PLAINTEXT
    # or SASL_SSL. With SASL_*: the mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), the user
    # and the file holding the password (read at each connection; never a setting value). With
    # SSL/SASL_SSL: the CA file the broker's certificate is checked against; empty: the
    # system's trusted roots.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password_file: str = ""
    kafka_ssl_ca_file: str = ""

    def __post_init__(self) -> None:
        settings.check_workers(self.workers)
        api_keys.parse_identities(self.mtls_identities)
        gc_tuning.gc_threshold(self.gc_threshold)

    def kafka_security(self) -> KafkaSecurity:
        return KafkaSecurity(
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password_file=self.kafka_sasl_password_file,
            ssl_ca_file=self.kafka_ssl_ca_file,
        )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> RatingSettings:
        return settings.from_env(cls, "RATING", env)

    def with_args(self, args: argparse.Namespace) -> RatingSettings:
        return settings.with_args(self, args)


def settings_parser() -> argparse.ArgumentParser:
    return settings.settings_parser(RatingSettings, "RATING")
