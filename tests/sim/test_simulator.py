"""The simulator on a fixed set of seeds, as part of `make test` (a few seconds per seed).

`make simulate SEEDS=N` runs more; docs/simulator.md says what a seed does and what is checked. A
seed whose only violations are listed in KNOWN_FAILURES (tests/sim/runner.py) is an expected
failure until the fix for it lands and its entry is removed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sim.harness import Database, Worker
from tests.sim.runner import KNOWN_FAILURES, quiet_logs_while, report, run_seed
from tests.sim.world import STEPS_DEFAULT

SEEDS = range(12)


@pytest.fixture(scope="module")
async def sim_worker(pg_server_uri: str) -> AsyncIterator[Worker]:
    # The session's server is shared with other tests: no database restarts here.
    worker = await Worker.start(Database(pg_server_uri))
    worker.db_restart_share = 0.0
    try:
        yield worker
    finally:
        await worker.close()


@pytest.mark.parametrize("seed", SEEDS)
async def test_a_seeded_run_keeps_every_invariant(sim_worker: Worker, seed: int) -> None:
    with quiet_logs_while():
        result = await run_seed(sim_worker, seed, STEPS_DEFAULT)
    if result.known:
        known = sorted({KNOWN_FAILURES[i] for i, _ in result.violations})
        pytest.xfail("known: " + "; ".join(known))
    assert result.ok, report(result)
    assert result.calls > 0
