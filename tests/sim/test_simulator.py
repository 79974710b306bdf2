"""The simulator on a fixed set of seeds, as part of `make test` (a few seconds per seed).

`make simulate SEEDS=N` runs more; docs/simulator.md says what a seed does and what is checked. A
seed whose only violations are listed in KNOWN_FAILURES (tests/sim/runner.py) is an expected
failure until the fix for it lands and its entry is removed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from billing.ledger.v1 import ledger_pb2 as pb

from tests.sim import checks
from tests.sim.harness import Database, Worker, terminate_backends
from tests.sim.rating import is_rating_seed
from tests.sim.runner import KNOWN_FAILURES, quiet_logs_while, report, run_seed
from tests.sim.world import STEPS_DEFAULT, Simulation, WalletModel

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


async def test_the_rating_check_names_charges_the_ledger_did_not_book_as_rating_says(
    sim_worker: Worker,
) -> None:
    """A rating seed ends clean; then one acknowledged charge is made to name a ledger request
    the ledger never booked, and another is marked DENIED though the ledger booked it: the
    end-of-seed check names both events."""
    seed = next(s for s in range(1000) if is_rating_seed(s))
    sim = Simulation(seed, sim_worker, STEPS_DEFAULT)
    with quiet_logs_while():
        assert await sim.run() == []
    rating = sim.rating
    assert rating is not None and rating.service is not None
    side = await rating.service.side()
    acknowledged = await side.fetch(
        "SELECT id, event_id FROM charges WHERE customer_id = $1 AND status = 'ACKNOWLEDGED'"
        " AND amount > 0 ORDER BY id LIMIT 2",
        rating.customer_id,
    )
    assert len(acknowledged) == 2
    unbooked, denied = acknowledged
    await side.execute(
        "UPDATE charges SET ledger_request_id = 'rating:debit:never-sent' WHERE id = $1",
        unbooked["id"],
    )
    await side.execute("UPDATE charges SET status = 'DENIED' WHERE id = $1", denied["id"])
    await rating.check()
    named = {(v.invariant, v.detail) for v in sim.violations}
    assert any(
        i == "rating_charge_not_booked_once" and unbooked["event_id"] in d for i, d in named
    ), named
    assert any(i == "rating_refused_charge_booked" and denied["event_id"] in d for i, d in named), (
        named
    )


async def test_the_signal_check_names_an_event_without_its_episode_and_overlapping_episodes(
    sim_worker: Worker,
) -> None:
    """A second BURN_SPIKE event written without closing the first episode (what a sweep that
    decided without the wallet's lock could do) is named, as is an event without an episode."""
    sim = Simulation(0, sim_worker, 1)
    sim.worker.clock.current = sim.clock
    await sim_worker.ensure_service()
    sim.service_up.set()
    try:
        with quiet_logs_while():
            await sim.setup()
        side = await sim_worker.side()
        wallet = sim.wallets[0].id
        now = sim.now()
        for event_id in ("sig-a", "sig-b", "sig-c"):
            await side.execute(
                "INSERT INTO wallet_events (id, wallet_id, type, occurred_time, book_time, data)"
                " VALUES ($1, $2, 'BURN_SPIKE', $3, $3, '{}')",
                event_id,
                wallet,
                now,
            )
        # The open-episode index refuses a second open episode: one closed, then one opened
        # before that close; sig-c has none.
        await side.execute(
            "INSERT INTO wallet_signal_episodes (event_id, wallet_id, signal, open_time,"
            " close_time) VALUES ('sig-a', $1, 'BURN_SPIKE', $2, $3),"
            " ('sig-b', $1, 'BURN_SPIKE', $4, NULL)",
            wallet,
            now,
            now + timedelta(hours=2),
            now + timedelta(hours=1),
        )
        await checks._signals(sim, side, [wallet])
        details = sorted(v.detail for v in sim.violations if v.invariant == "signal_per_episode")
        assert len(details) == 2, details
        assert any("event sig-c" in d and "episode None" in d for d in details), details
        assert any("episode sig-b opened while sig-a was open" in d for d in details), details
    finally:
        sim.worker.clock.current = None


async def test_the_scoped_check_names_a_debit_that_burnt_a_grant_scoped_to_another_feature(
    sim_worker: Worker,
) -> None:
    """A debit of "report" that took from a grant scoped to "gpu" (here: the grant rescoped
    behind the ledger's back after the debit) is named."""
    sim = Simulation(0, sim_worker, 1)
    sim.worker.clock.current = sim.clock
    await sim_worker.ensure_service()
    sim.service_up.set()
    try:
        with quiet_logs_while():
            await sim.setup()
        wallet = sim.wallets[0].id
        await sim.call(
            "CreateGrant",
            pb.CreateGrantRequest(
                request_id=sim.rid(), wallet_id=wallet, kind=pb.GRANT_KIND_PREPAID, amount="5"
            ),
        )
        debit = await sim.call(
            "Debit",
            pb.DebitRequest(request_id=sim.rid(), wallet_id=wallet, amount="1", feature="report"),
        )
        burnt = debit.entry.allocations[0].grant_id
        side = await sim_worker.side()
        await checks._scoped(sim, side, [wallet])
        assert not [v for v in sim.violations if v.invariant == "scoped_burn"]
        await side.execute("UPDATE grants SET features = '{gpu}' WHERE id = $1", burnt)
        await checks._scoped(sim, side, [wallet])
        details = [v.detail for v in sim.violations if v.invariant == "scoped_burn"]
        assert len(details) == 1, details
        assert debit.entry.entry_id in details[0] and burnt in details[0], details
    finally:
        sim.worker.clock.current = None


async def _wallet_with_50(sim: Simulation) -> WalletModel:
    """The simulation's first wallet, set up, with a grant of 50."""
    with quiet_logs_while():
        await sim.setup()
    model = sim.wallets[0]
    await sim.call(
        "CreateGrant",
        pb.CreateGrantRequest(
            request_id=sim.rid(), wallet_id=model.id, kind=pb.GRANT_KIND_PREPAID, amount="50"
        ),
    )
    return model


async def test_the_member_check_names_a_deny_member_over_its_budget_in_a_period(
    sim_worker: Worker,
) -> None:
    """A DENY member whose debits in one period add up to more than its budget (here: the
    budget lowered behind the ledger's back after the debits) is named, and so is a spend the
    ledger reports that the member's entries do not add up to (here: a refund cut off from its
    debit, which the ledger then no longer counts)."""
    sim = Simulation(0, sim_worker, 1)
    sim.worker.clock.current = sim.clock
    await sim_worker.ensure_service()
    sim.service_up.set()
    try:
        model = await _wallet_with_50(sim)
        wallet = model.id
        await sim.call(
            "SetPoolMember",
            pb.SetPoolMemberRequest(
                request_id=sim.rid(), wallet_id=wallet, member_id="checked", budget_amount="10"
            ),
        )
        model.members["checked"] = True
        debits = []
        for amount in ("4", "6"):
            debit = await sim.call(
                "Debit",
                pb.DebitRequest(
                    request_id=sim.rid(), wallet_id=wallet, amount=amount, member_id="checked"
                ),
            )
            assert debit.entry.member_id == "checked", debit
            debits.append(debit.entry.entry_id)
        refund = await sim.call(
            "RefundDebit",
            pb.RefundDebitRequest(request_id=sim.rid(), entry_id=debits[1], amount="1"),
        )
        assert refund.entries[0].member_id == "checked", refund
        side = await sim_worker.side()
        await checks._members(sim, side, [wallet])
        assert not [v for v in sim.violations if v.invariant.startswith("member_")]
        await side.execute("UPDATE pool_members SET budget_amount = 9 WHERE wallet_id = $1", wallet)
        await side.execute(
            "UPDATE entries SET related_id = '' WHERE id = $1", refund.entries[0].entry_id
        )
        await checks._members(sim, side, [wallet])
        found = {v.invariant: v.detail for v in sim.violations}
        assert "checked" in found["member_over_budget"], found
        assert "reported spent 10, its entries 9" in found["member_spend"], found
    finally:
        sim.worker.clock.current = None


async def test_the_member_check_names_a_deny_member_over_its_share_budget_in_its_period(
    sim_worker: Worker,
) -> None:
    """A share budget is checked too, in the period it was resolved for: a DENY member with 10%
    of a pool of 50 spends 5; lowering the resolved budget to 4 behind the ledger's back is named
    (and a share budget not resolved yet, or resolved for another period, is not a budget of
    that period's spend)."""
    sim = Simulation(0, sim_worker, 1)
    sim.worker.clock.current = sim.clock
    await sim_worker.ensure_service()
    sim.service_up.set()
    try:
        model = await _wallet_with_50(sim)
        wallet = model.id
        await sim.call(
            "SetPoolMember",
            pb.SetPoolMemberRequest(
                request_id=sim.rid(),
                wallet_id=wallet,
                member_id="shared",
                budget_share="10",
                budget_period=pb.BUDGET_PERIOD_MONTH,
            ),
        )
        model.members["shared"] = True
        debit = await sim.call(
            "Debit",
            pb.DebitRequest(request_id=sim.rid(), wallet_id=wallet, amount="5", member_id="shared"),
        )
        assert debit.entry.member_id == "shared", debit
        side = await sim_worker.side()
        await checks._members(sim, side, [wallet])
        assert not [v for v in sim.violations if v.invariant.startswith("member_")]
        await side.execute(
            "UPDATE pool_members SET share_budget = 4"
            " WHERE wallet_id = $1 AND member_id = 'shared'",
            wallet,
        )
        await checks._members(sim, side, [wallet])
        found = [v.detail for v in sim.violations if v.invariant == "member_over_budget"]
        assert len(found) == 1 and "shared" in found[0] and "budget 4" in found[0], found
        sim.violations.clear()
        await side.execute(
            "UPDATE pool_members SET share_period_start = share_period_start - interval '1 month'"
            " WHERE wallet_id = $1 AND member_id = 'shared'",
            wallet,
        )
        await checks._members(sim, side, [wallet])
        assert not [v for v in sim.violations if v.invariant == "member_over_budget"]
    finally:
        sim.worker.clock.current = None
