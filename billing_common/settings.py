"""Settings from environment variables (`<PREFIX>_<FIELD>`) and command-line flags
(`--<field>`), for a service's frozen settings dataclass."""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

S = TypeVar("S", bound="DataclassInstance")  # a settings dataclass

# Pooled database connections per process: at least 2, so a long write never leaves reads
# without a connection; at most 1,000 (PostgreSQL's max_connections must allow N workers x it).
POOL_SIZE_RANGE = (2, 1000)


# Processes serving a service's port (`workers`); far above the cores a service is given.
WORKERS_MAX = 64


def check_workers(workers: int) -> None:
    """ValueError naming the setting unless 1 <= workers <= WORKERS_MAX."""
    if not 1 <= workers <= WORKERS_MAX:
        raise ValueError(
            f"setting workers={workers} is outside 1..{WORKERS_MAX} "
            "(processes serving the port; use about one per core)"
        )


def check_common(settings: Any) -> None:
    """The rules every service's settings share, ValueError naming the setting: `pool_size` in
    POOL_SIZE_RANGE, and every duration (a field named `*_s`) a finite number of seconds, 0 or
    more (0 turns a periodic job off where the setting says so)."""
    low, high = POOL_SIZE_RANGE
    if not low <= settings.pool_size <= high:
        raise ValueError(f"setting pool_size={settings.pool_size} is outside {low}..{high}")
    for f in fields(settings):
        if f.name.endswith("_s"):
            value = getattr(settings, f.name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(
                    f"setting {f.name}={value} must be a finite number of seconds, 0 or more"
                )


def from_env(cls: type[S], prefix: str, env: dict[str, str] | None = None) -> S:
    source = dict(os.environ if env is None else env)
    values: dict[str, object] = {}
    for f in fields(cls):
        raw = source.get(f"{prefix}_{f.name.upper()}")
        if raw is not None:
            values[f.name] = _coerce(f.type, raw)
    return cls(**values)


def with_args(settings: S, args: argparse.Namespace) -> S:
    """The settings with every flag given on the command line applied."""
    given = {f.name: getattr(args, f.name) for f in fields(settings) if hasattr(args, f.name)}
    return replace(settings, **given)


def settings_parser(cls: type[Any], prefix: str) -> argparse.ArgumentParser:
    """The settings as flags, a parent of the command parser and of each subcommand, so they may
    stand before or after the subcommand. An unset flag leaves no attribute (SUPPRESS), so the
    environment's value stands."""
    parser = argparse.ArgumentParser(add_help=False)
    for f in fields(cls):
        flag = "--" + f.name.replace("_", "-")
        env = f"env {prefix}_{f.name.upper()}"
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
