"""The garbage collector, tuned for a long-running server.

After start-up (stubs, SQLAlchemy metadata, the app built) nothing of what was allocated then is
ever garbage: `gc.freeze()` moves it to a permanent generation the collector no longer scans. The
thresholds are raised (GC_THRESHOLD) so the collector runs far less often on a request path that
allocates many short-lived objects (rows, protobuf messages, dataclasses) which reference counting
frees anyway. Every collection is measured (billing_gc_pause_seconds, billing_gc_cpu_seconds_total).
Measured in docs/benchmarks.md ("Garbage collector"). Settings: `gc_freeze` and `gc_threshold`
(LEDGER_GC_THRESHOLD / RATING_GC_THRESHOLD; empty keeps Python's own).
"""

from __future__ import annotations

import gc
import time

import structlog
from prometheus_client import Counter, Histogram

log = structlog.get_logger(__name__)

# The gc thresholds the services run with unless configured: a young collection every 10,000 net
# allocations instead of 700 (a Debit leaves a few hundred objects to the collector, so the
# default collected every call or two), the middle one every 50 young ones, the old one rarely
# (and never over the frozen start-up objects). Measured (docs/benchmarks.md): the collector's
# CPU per debit falls about sixfold; a young collection costs ~4 ms, against 25-50 ms at 50,000
# for the same total, and the full collections of ~50 ms are gone.
GC_THRESHOLD = "10000,50,100"
GC_THRESHOLD0_RANGE = (100, 10_000_000)
GC_THRESHOLD_OLDER_RANGE = (1, 10_000)


def gc_threshold(text: str) -> tuple[int, int, int] | None:
    """The thresholds `gc_threshold` names ("young,middle,old"), or None for Python's own
    (an empty setting); ValueError naming the setting if they cannot work."""
    if not text.strip():
        return None
    parts = text.split(",")
    problem = f"setting gc_threshold={text!r} must be three integers 'young,middle,old'"
    if len(parts) != 3:
        raise ValueError(problem)
    try:
        young, middle, old = (int(p) for p in parts)
    except ValueError:
        raise ValueError(problem) from None
    low, high = GC_THRESHOLD0_RANGE
    if not low <= young <= high:
        raise ValueError(f"setting gc_threshold: young must be {low:,}..{high:,}, not {young}")
    low, high = GC_THRESHOLD_OLDER_RANGE
    if not (low <= middle <= high and low <= old <= high):
        raise ValueError(f"setting gc_threshold: middle and old must be {low}..{high:,}")
    return young, middle, old


GC_PAUSE = Histogram(
    "billing_gc_pause_seconds",
    "Time the garbage collector stopped the process, by generation collected",
    ["generation"],
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
GC_CPU = Counter(
    "billing_gc_cpu_seconds_total",
    "CPU time the garbage collector used, by generation collected (a pause's wall time also "
    "counts the time the process waited for a core)",
    ["generation"],
)
GC_COLLECTED = Counter(
    "billing_gc_collected_objects_total", "Objects the garbage collector freed", ["generation"]
)
_gc_started = (0.0, 0.0)


def _gc_observe(phase: str, info: dict[str, int]) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = (time.perf_counter(), time.thread_time())
        return
    generation = str(info["generation"])
    GC_PAUSE.labels(generation).observe(time.perf_counter() - _gc_started[0])
    GC_CPU.labels(generation).inc(time.thread_time() - _gc_started[1])
    GC_COLLECTED.labels(generation).inc(info["collected"])


def tune_gc(freeze: bool, threshold: tuple[int, int, int] | None) -> None:
    """Called once the service is built (app, stubs, pool and server made): moves everything
    alive now out of the collector's sight (gc.freeze: start-up objects live as long as the
    process, so scanning them again in every full collection is wasted time), sets the
    thresholds, and measures every collection's pause (billing_gc_pause_seconds)."""
    if _gc_observe not in gc.callbacks:
        gc.callbacks.append(_gc_observe)
    if freeze:
        gc.collect()  # what start-up left as garbage goes now, not frozen with the rest
        gc.freeze()
    if threshold is not None:
        gc.set_threshold(*threshold)
    log.info(
        "gc_tuned",
        frozen=gc.get_freeze_count(),
        threshold=list(gc.get_threshold()),
    )
