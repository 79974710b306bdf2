"""The garbage collector, tuned for a long-running server.

After start-up (stubs, SQLAlchemy metadata, the app built) nothing of what was allocated is ever
garbage: `gc.freeze()` moves it to a permanent generation the collector no longer scans. The
young-generation threshold is raised from 700 to 50,000 allocations, so the collector runs
about seventy times less often on a request path that allocates many short-lived objects (rows,
protobuf messages, dataclasses) which reference counting frees anyway; the older generations
keep their defaults. Measured in docs/benchmarks.md ("Garbage collector"). Off with the
service's `gc_tuning` setting (LEDGER_GC_TUNING / RATING_GC_TUNING=false).
"""

from __future__ import annotations

import gc

import structlog

log = structlog.get_logger(__name__)

YOUNG_THRESHOLD = 50_000


def tune_after_start_up(enabled: bool) -> None:
    if not enabled:
        log.info("gc_tuning_off", thresholds=gc.get_threshold())
        return
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    log.info("gc_tuned", frozen=gc.get_freeze_count(), thresholds=gc.get_threshold())
