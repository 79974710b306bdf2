"""Settings: one frozen object, from environment variables, overridable by command-line flags."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from billing_common import settings
from ledger_service import limits


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
    # Unary debits of one wallet waiting for its group commit; more are WALLET_QUEUE_FULL.
    combiner_queue_max: int = limits.COMBINER_QUEUE_MAX
    # Secret that signs page tokens (at least 32 characters), the same on every replica so tokens
    # survive restarts and work on any of them. Empty: with the embedded PostgreSQL, one kept in
    # its data folder; with a configured database, a new one per process (tokens die with it).
    page_token_secret: str = ""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LedgerSettings:
        return settings.from_env(cls, "LEDGER", env)

    def with_args(self, args: argparse.Namespace) -> LedgerSettings:
        return settings.with_args(self, args)


def settings_parser() -> argparse.ArgumentParser:
    return settings.settings_parser(LedgerSettings, "LEDGER")
