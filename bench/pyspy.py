"""Sampling a service with py-spy (`pip install py-spy`; a sampling profiler, so the service runs
at full speed) and reading the samples by layer: used by `bench/run.py --profile` and by
`bench/profile_ledger.py`."""

from __future__ import annotations

import asyncio
import collections
import sys
from dataclasses import dataclass, field
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"
RATE_HZ = 100  # samples per second: enough for shares of a few percent over 3-20 s

# Layers, by the first matching path fragment of a frame (most specific first).
LAYERS = [
    ("sqlalchemy", "sqlalchemy/"),
    ("asyncpg", "asyncpg/"),
    ("grpc", "grpc/"),
    ("protobuf", "google/protobuf"),
    ("structlog/logging", "structlog/"),
    ("ledger domain", "ledger_service/domain/"),
    ("ledger app", "ledger_service/app/"),
    ("ledger db adapter", "ledger_service/adapters/db/"),
    ("ledger grpc adapter", "ledger_service/adapters/grpc/"),
    ("rating domain", "rating_service/domain/"),
    ("rating app", "rating_service/app/"),
    ("rating adapters", "rating_service/adapters/"),
    ("billing_common", "billing_common/"),
    ("decimal/dataclasses/uuid", "dataclasses.py"),
    ("asyncio", "asyncio/"),
]


def layer_of(frame: str) -> str:
    for name, fragment in LAYERS:
        if fragment in frame:
            return name
    return "other"


@dataclass
class Samples:
    total: int = 0
    own: collections.Counter[str] = field(default_factory=collections.Counter)
    inclusive: collections.Counter[str] = field(default_factory=collections.Counter)
    layers: collections.Counter[str] = field(default_factory=collections.Counter)

    def layer_shares(self) -> dict[str, float]:
        """Percent of own samples per layer, largest first."""
        if not self.total:
            return {}
        return {n: round(100 * c / self.total, 1) for n, c in self.layers.most_common()}


def read(raw: Path) -> Samples:
    """py-spy's raw (collapsed stacks) output: `frame;frame;... count` per line."""
    s = Samples()
    if not raw.exists():
        return s
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        s.total += n
        s.own[frames[-1]] += n
        s.layers[layer_of(frames[-1])] += n
        for f in set(frames):
            s.inclusive[f] += n
    return s


async def record(pid: int, seconds: float, raw: Path, rate_hz: int = RATE_HZ) -> None:
    """Sample a process and its children (a service's workers) for `seconds`; non-blocking, so
    the service is not paused while it is sampled."""
    spy = await asyncio.create_subprocess_exec(
        str(PY_SPY),
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--nonblocking",
        "--duration",
        str(max(1, int(seconds))),
        "--rate",
        str(rate_hz),
        "--format",
        "raw",
        "--output",
        str(raw),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.wait_for(spy.wait(), seconds + 60)
