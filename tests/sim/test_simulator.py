"""The simulator on a fixed set of seeds, as part of `make test` (a few seconds per seed).

`make simulate SEEDS=N` runs more; docs/simulator.md says what a seed does and what is checked. A
seed whose only violations are listed in KNOWN_FAILURES (tests/sim/runner.py) is an expected
failure until the fix for it lands and its entry is removed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import asyncpg
import pytest
from billing.ledger.v1 import ledger_pb2 as pb

from tests.sim import checks
from tests.sim.harness import Database, Worker, terminate_backends
from tests.sim.runner import KNOWN_FAILURES, quiet_logs_while, report, run_seed
from tests.sim.world import STEPS_DEFAULT, Simulation

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


async def test_the_set_based_verify_flags_what_verify_wallet_flags(sim_worker: Worker) -> None:
    """The per-step checks compare what VerifyWallet compares in one query; a grant remainder
    that disagrees with its journal must be caught by both."""
    sim = Simulation(0, sim_worker, 1)
    sim.worker.clock.current = sim.clock
    await sim_worker.ensure_service()
    sim.service_up.set()
    try:
        with quiet_logs_while():
            await sim.setup()
        side = await sim_worker.side()
        ids = [w.id for w in sim.wallets]
        await side.execute(
            "UPDATE grants SET remaining = remaining + 1 WHERE id ="
            " (SELECT id FROM grants WHERE wallet_id = $1 ORDER BY seq LIMIT 1)",
            ids[0],
        )
        await checks._verified(sim, side, ids)
        found = [v.detail for v in sim.violations if v.invariant == "verify_inconsistent"]
        verified = await sim.call("VerifyWallet", pb.VerifyWalletRequest(wallet_id=ids[0]))
        assert not verified.consistent
        expected = sorted(
            f"wallet {ids[0]}: {d.subject}: {d.stored} vs {d.recomputed} (set-based check)"
            for d in verified.differences
        )
        assert sorted(found) == expected
        assert any("remaining" in d for d in found)
    finally:
        sim.worker.clock.current = None


async def test_a_connection_drop_ends_a_busy_connection_of_the_worker_database(
    sim_worker: Worker,
) -> None:
    conn = await asyncpg.connect(sim_worker.uri)
    side = await sim_worker.side()
    try:
        busy = asyncio.ensure_future(conn.execute("SELECT pg_sleep(30)"))
        async with asyncio.timeout(10):
            while not await side.fetchval(  # until the session shows as busy
                "SELECT state = 'active' FROM pg_stat_activity WHERE pid = $1",
                conn.get_server_pid(),
            ):
                pass
        assert await terminate_backends(sim_worker.uri, only_one=random.Random(1)) == 1
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
            await busy
    finally:
        conn.terminate()
