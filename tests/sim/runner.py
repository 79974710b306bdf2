"""Running seeds: one database per worker, seeds one after another on fresh wallets, optional
worker processes sharing one PostgreSQL server."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import structlog

from tests.sim.harness import Database, Worker
from tests.sim.world import STEPS_DEFAULT, Simulation

# Invariants known to fail on the current code, with the issue that tracks each. A seed whose
# every violation is in here is reported as known, not as a new failure (pytest: xfail). Remove
# an entry when its fix lands, so the simulator guards it from then on. Empty: every bug the
# simulator has found (docs/simulator.md) is fixed.
KNOWN_FAILURES: dict[str, str] = {}


# A worker moves to a fresh database after this many seeds, so that a database kept for thousands
# of seeds does not slow every seed (the held amounts by wallet scan holds).
SEEDS_PER_DATABASE = 200


@dataclass
class SeedResult:
    seed: int
    steps: int
    violations: list[tuple[str, str]]
    calls: int
    faults: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def known(self) -> bool:
        return bool(self.violations) and all(is_known(i) for i, _ in self.violations)


def is_known(invariant: str) -> bool:
    return invariant in KNOWN_FAILURES


def replay_command(seed: int, steps: int) -> str:
    extra = "" if steps == STEPS_DEFAULT else f" STEPS={steps}"
    return f"make simulate SEED={seed}{extra}"


def report(result: SeedResult) -> str:
    lines = [f"SIMULATION FAILED seed={result.seed} steps={result.steps} faults={result.faults}"]
    ordered = sorted(result.violations, key=lambda v: is_known(v[0]))  # new ones first
    lines += [f"  {name}: {detail}" for name, detail in ordered[:10]]
    if len(result.violations) > 10:
        lines.append(f"  ... and {len(result.violations) - 10} more")
    known = {KNOWN_FAILURES[i] for i, _ in result.violations if is_known(i)}
    if known:
        lines.append(f"  known: {', '.join(sorted(known))}")
    lines.append(f"  replay: {replay_command(result.seed, result.steps)}")
    return "\n".join(lines)


# The last exception the service logged as a bug ("rpc_internal_error"), for the report.
INTERNAL_ERRORS: list[str] = []


def _keep_internal(logger: object, name: str, event: dict) -> dict:
    if event.get("event") == "rpc_internal_error":
        exc = sys.exc_info()[1]
        where = ""
        if exc is not None and exc.__traceback__ is not None:
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            where = f" at {Path(tb.filename).name}:{tb.lineno}"
        INTERNAL_ERRORS.append(f"{exc!r}{where}")
        del INTERNAL_ERRORS[:-10]
    raise structlog.DropEvent


def quiet_logs() -> None:
    """Refusals are the simulator's daily bread: no log lines, but the exception behind an
    INTERNAL is kept for the report."""
    structlog.configure(processors=[_keep_internal], cache_logger_on_first_use=False)


@contextlib.contextmanager
def quiet_logs_while() -> Iterator[None]:
    """quiet_logs() for a while (a test), then the configuration as it was."""
    saved = structlog.get_config()
    quiet_logs()
    try:
        yield
    finally:
        structlog.configure(**saved)


async def run_seeds(
    db: Database,
    seeds: list[int],
    steps: int,
    on_result=None,
    worker: Worker | None = None,
    db_restart_share: float | None = None,
) -> list[SeedResult]:
    """Run seeds one after another on one worker (a new one, closed at the end, if not given)."""
    own = worker is None
    worker = worker or await Worker.start(db)
    if db_restart_share is not None:
        worker.db_restart_share = db_restart_share
    results = []
    try:
        for n, seed in enumerate(seeds):
            if n and n % SEEDS_PER_DATABASE == 0:
                await worker.rotate()
            results.append(await run_seed(worker, seed, steps))
            if on_result is not None:
                on_result(results[-1])
    finally:
        if own:
            await worker.close()
    return results


async def run_seed(worker: Worker, seed: int, steps: int) -> SeedResult:
    started = time.perf_counter()
    sim = Simulation(seed, worker, steps)
    violations = await sim.run()
    return SeedResult(
        seed,
        steps,
        [(v.invariant, v.detail) for v in violations],
        sim.calls,
        sim.faults,
        time.perf_counter() - started,
    )


def _worker(args: tuple) -> None:
    server_uri, pgdata, pg_user, up, restart_lock, seeds, steps, share, known, queue = args
    quiet_logs()
    KNOWN_FAILURES.update(known)
    db = Database(server_uri, pgdata, pg_user, up, restart_lock)
    try:
        asyncio.run(run_seeds(db, seeds, steps, on_result=queue.put, db_restart_share=share))
    finally:
        queue.put(None)  # the parent counts finished workers, whatever happened


def run_parallel(
    db: Database,
    seeds: list[int],
    steps: int,
    workers: int,
    on_result,
    db_restart_share: float | None = None,
) -> None:
    """Seeds spread over `workers` processes, each on a database of its own."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    up = ctx.Event()  # the server is up: cleared by a worker while it restarts it
    up.set()
    restart_lock = ctx.Lock()
    procs = [
        ctx.Process(
            target=_worker,
            args=(
                (
                    db.server_uri,
                    db.pgdata,
                    db.pg_user,
                    up,
                    restart_lock,
                    seeds[i::workers],
                    steps,
                    db_restart_share,
                    dict(KNOWN_FAILURES),
                    queue,
                ),
            ),
        )
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    done = 0
    while done < workers:
        try:
            item = queue.get(timeout=30)
        except Empty:  # a worker that died before it could say so must not hang the run
            if any(p.exitcode not in (None, 0) for p in procs):
                break
            continue
        if item is None:
            done += 1
        else:
            on_result(item)
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"a simulator worker exited with {p.exitcode}")
