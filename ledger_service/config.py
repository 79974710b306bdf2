"""Settings: one frozen object, from environment variables, overridable by command-line flags."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from billing_common import api_keys, gc_tuning, settings
from ledger_service import limits
from ledger_service.domain.egress import EgressPolicy
from ledger_service.domain.webhooks import RetentionPolicy, RetryPolicy


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    # PostgreSQL URL (postgresql://user:pass@host:port/db). Empty: start the embedded server.
    database_url: str = ""
    # Data folder of the embedded PostgreSQL (kept between runs; shared with the rating service).
    data_dir: Path = Path(".data/postgres")
    # Database the ledger uses inside the embedded server.
    database_name: str = "ledger"
    # host:port to listen on; port 0 picks a free one.
    listen: str = "127.0.0.1:50051"
    # host:port of the HTTP/JSON port (the Connect protocol: billing_common/connect.py), the same
    # methods, credentials and TLS as the gRPC port; port 0 picks a free one, empty turns it off.
    http_listen: str = "127.0.0.1:8051"
    # The customer page (portal/, served at /portal/ on the HTTP port): its folder (empty: the
    # repository's portal/; "off": not served), the rating service's HTTP/JSON address the page
    # reads usage from (that service must allow this port's origin: its http_cors_origins), and
    # where "Buy credits" sends the customer (a form POST of wallet_id and customer_id to the
    # operator's checkout, which grants the credits; empty: the button is not shown).
    portal_dir: str = ""
    portal_rating_url: str = "https://127.0.0.1:8052"
    portal_topup_url: str = ""
    # Database connections in the pool (the bound on concurrent transactions).
    pool_size: int = 10
    # Apply migrations at start-up.
    migrate: bool = True
    # Seconds between expiry/settlement sweeps; 0 turns the sweeper off.
    sweep_interval_s: float = 30.0
    # Seconds between webhook rounds (turn new events into deliveries, send due ones); 0: off.
    webhook_interval_s: float = 1.0
    # Seconds a webhook request may take (connect to last byte of the answer's headers).
    webhook_timeout_s: float = 10.0
    # Seconds a webhook connection may take to open (within webhook_timeout_s's request).
    webhook_connect_timeout_s: float = 5.0
    # Wait after the first failed webhook attempt, doubling per failure up to webhook_retry_max_s.
    webhook_retry_base_s: float = 10.0
    webhook_retry_max_s: float = 3600.0
    # Attempts before a webhook delivery is FAILED for good (1 to 1,000).
    webhook_attempts_max: int = 12
    # Seconds a claimed delivery is left to its deliverer before another may send it again;
    # longer than a request can take (webhook_connect_timeout_s + webhook_timeout_s).
    webhook_lease_s: float = 120.0
    # Seconds a DELIVERED delivery and its attempt log are kept after it ended (0: purged at the
    # next round); FAILED and CANCELLED ones are kept webhook_failed_retention_s (not shorter).
    webhook_delivered_retention_s: float = 7 * 86400.0
    webhook_failed_retention_s: float = 30 * 86400.0
    # Deliveries purged per webhook round at most (1 to 100,000).
    webhook_purge_batch_size: int = 1000
    # Webhooks go over https to public addresses only (domain/egress.py). Comma-separated hosts
    # a webhook may also reach over plain http (their addresses must still be public, or allowed
    # below), and CIDR networks whose addresses a webhook may reach, over http too (an internal
    # receiver allowed on purpose, e.g. 10.20.0.0/16). Cloud metadata addresses never are.
    webhook_allow_http_hosts: str = ""
    webhook_allow_networks: str = ""
    # File with the key that encrypts secrets at rest (base64 of 32 bytes); the environment
    # variable LEDGER_SECRETS_KEY, if set, is used instead. Empty with the embedded PostgreSQL:
    # .data/secrets.key, created on first start. Required with a configured database.
    secrets_key_file: str = ""
    # Comma-separated files of older keys, still accepted for reading rows they sealed (also
    # LEDGER_SECRETS_OLD_KEYS: comma-separated base64 keys).
    secrets_old_key_files: str = ""
    # Late-event grace period for wallets created without one, in seconds.
    default_grace_s: int = 3600
    # Seconds in-flight calls get to finish on SIGTERM.
    shutdown_grace_s: float = 10.0
    # host:port of the Prometheus /metrics endpoint; port 0 picks a free one, empty turns it off.
    metrics_listen: str = "127.0.0.1:9464"
    log_level: str = "INFO"
    # Largest request message in bytes; larger is RESOURCE_EXHAUSTED (limits.py has the range).
    message_bytes_max: int = limits.MESSAGE_BYTES_MAX
    # Calls handled at once; more are RESOURCE_EXHAUSTED / TOO_MANY_CONCURRENT_RPCS.
    concurrent_rpcs_max: int = limits.CONCURRENT_RPCS_MAX
    # Seconds of silence after which a connection's peer is pinged (closed if it does not answer).
    keepalive_s: float = limits.KEEPALIVE_S
    # Seconds without calls after which a connection is closed.
    connection_idle_s: float = limits.CONNECTION_IDLE_S
    # Writes waiting for the write pipeline; more are WRITE_QUEUE_FULL.
    write_queue_max: int = limits.WRITE_QUEUE_MAX
    # Write-pipeline transactions running at once (at most pool_size - 1, so reads and other
    # writes always find a connection).
    write_in_flight: int = limits.WRITE_TRANSACTIONS_IN_FLIGHT
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
    # File holding the rating service's API key for the ledger (scopes read, write), made sure of
    # at start. Empty: with the embedded database .data/rating-ledger.key (created if missing).
    rating_key_file: Path = Path("")

    def __post_init__(self) -> None:
        _check_webhooks(self)
        self.webhook_egress()  # ValueError naming the setting
        api_keys.parse_identities(self.mtls_identities)
        settings.check_workers(self.workers)
        gc_tuning.gc_threshold(self.gc_threshold)

    def webhook_retry(self) -> RetryPolicy:
        return RetryPolicy(
            first_delay=timedelta(seconds=self.webhook_retry_base_s),
            delay_max=timedelta(seconds=self.webhook_retry_max_s),
            attempts_max=self.webhook_attempts_max,
        )

    def webhook_egress(self) -> EgressPolicy:
        return EgressPolicy.parse(self.webhook_allow_http_hosts, self.webhook_allow_networks)

    def webhook_retention(self) -> RetentionPolicy:
        return RetentionPolicy(
            delivered=timedelta(seconds=self.webhook_delivered_retention_s),
            failed=timedelta(seconds=self.webhook_failed_retention_s),
            batch_size_max=self.webhook_purge_batch_size,
        )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LedgerSettings:
        return settings.from_env(cls, "LEDGER", env)

    def with_args(self, args: argparse.Namespace) -> LedgerSettings:
        return settings.with_args(self, args)


def settings_parser() -> argparse.ArgumentParser:
    return settings.settings_parser(LedgerSettings, "LEDGER")


def _check_webhooks(s: LedgerSettings) -> None:
    """Refuse webhook settings that cannot work, naming the setting (at start, not mid-run)."""
    request_s = s.webhook_connect_timeout_s + s.webhook_timeout_s
    attempts, purge = limits.WEBHOOK_ATTEMPTS_LIMIT, limits.WEBHOOK_PURGE_BATCH_LIMIT
    rules = [  # (holds, what the setting must be); NaN never holds
        (s.webhook_timeout_s > 0, "webhook_timeout_s must be above 0"),
        (s.webhook_connect_timeout_s > 0, "webhook_connect_timeout_s must be above 0"),
        (s.webhook_retry_base_s > 0, "webhook_retry_base_s must be above 0"),
        (
            s.webhook_retry_max_s >= s.webhook_retry_base_s,
            "webhook_retry_max_s must be at least webhook_retry_base_s",
        ),
        (
            1 <= s.webhook_attempts_max <= attempts,
            f"webhook_attempts_max must be 1 to {attempts}",
        ),
        (
            s.webhook_lease_s > request_s,
            "webhook_lease_s must be longer than a request may take "
            f"(webhook_connect_timeout_s + webhook_timeout_s = {request_s:g} s)",
        ),
        (
            s.webhook_delivered_retention_s >= 0,
            "webhook_delivered_retention_s must not be negative",
        ),
        (
            s.webhook_failed_retention_s >= s.webhook_delivered_retention_s,
            "webhook_failed_retention_s must be at least webhook_delivered_retention_s",
        ),
        (
            1 <= s.webhook_purge_batch_size <= purge,
            f"webhook_purge_batch_size must be 1 to {purge:,}",
        ),
    ]
    problems = [must for holds, must in rules if not holds]
    if problems:
        raise ValueError("; ".join(problems))
