"""Settings: one frozen object, from environment variables, overridable by command-line flags."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path


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
    # Late-event grace period for wallets created without one, in seconds.
    default_grace_s: int = 3600
    # Seconds in-flight calls get to finish on SIGTERM.
    shutdown_grace_s: float = 10.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LedgerSettings:
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"LEDGER_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _coerce(f.type, raw)
        return cls(**values)  # type: ignore[arg-type]

    def with_args(self, args: argparse.Namespace) -> LedgerSettings:
        given = {f.name: getattr(args, f.name) for f in fields(self) if hasattr(args, f.name)}
        return replace(self, **given)


def settings_parser() -> argparse.ArgumentParser:
    """The settings as flags, a parent of the command parser and of each subcommand, so they may
    stand before or after the subcommand. An unset flag leaves no attribute (SUPPRESS), so the
    environment's value stands."""
    parser = argparse.ArgumentParser(add_help=False)
    for f in fields(LedgerSettings):
        flag = "--" + f.name.replace("_", "-")
        env = f"env LEDGER_{f.name.upper()}"
        if str(f.type) == "bool":
            action = argparse.BooleanOptionalAction
            parser.add_argument(
                flag, dest=f.name, action=action, default=argparse.SUPPRESS, help=env
            )
        else:
            kind = {"int": int, "float": float, "Path": Path}.get(str(f.type), str)
            parser.add_argument(flag, dest=f.name, type=kind, default=argparse.SUPPRESS, help=env)
    return parser


def _coerce(kind: object, raw: str) -> object:
    name = str(kind)
    if name == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if name == "int":
        return int(raw)
    if name == "float":
        return float(raw)  # a duration in seconds, never money
    if name == "Path":
        return Path(raw)
    return raw
