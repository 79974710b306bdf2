"""`python -m tests.sim --seed 123` replays one seed; `--seeds N` runs seeds 0..N-1 (or from
`--start`), on `--workers` processes. Exit status 1 when a seed broke an invariant that is not
known (see KNOWN_FAILURES in runner.py), 0 otherwise."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter

from tests.sim.harness import Database
from tests.sim.runner import KNOWN_FAILURES, SeedResult, quiet_logs, report, run_parallel, run_seeds
from tests.sim.world import STEPS_DEFAULT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__)
    parser.add_argument("--seed", type=int, help="run this one seed")
    parser.add_argument("--seeds", type=int, default=100, help="how many seeds (default 100)")
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--steps", type=int, default=STEPS_DEFAULT, help="waves per seed")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--repeat", type=int, default=1, help="run each seed this many times")
    parser.add_argument("--strict", action="store_true", help="known failures fail too")
    parser.add_argument(
        "--known", default="", help="comma-separated invariants to treat as known (exploring)"
    )
    parser.add_argument(
        "--db-restart-share", type=float, help="share of seeds with a database restart (0.01)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="a line per seed")
    args = parser.parse_args(argv)
    verbose = args.verbose or args.seed is not None
    seeds = (
        [args.seed] if args.seed is not None else list(range(args.start, args.start + args.seeds))
    )
    seeds = [s for s in seeds for _ in range(args.repeat)]

    quiet_logs()
    KNOWN_FAILURES.update(
        {k: "marked known on the command line" for k in args.known.split(",") if k}
    )
    failed: list[SeedResult] = []
    counts: Counter[str] = Counter()
    totals = {"seeds": 0, "calls": 0, "faults": 0}
    started = time.perf_counter()

    def on_result(result: SeedResult) -> None:
        totals["seeds"] += 1
        totals["calls"] += result.calls
        totals["faults"] += len(result.faults)
        if verbose:
            print(
                f"seed {result.seed}: {len(result.violations)} violations, {result.calls} calls,"
                f" faults {result.faults}, {result.seconds:.2f} s",
                flush=True,
            )
        if not result.ok:
            failed.append(result)
            counts.update({name for name, _ in result.violations})
            print(report(result), flush=True)
        if totals["seeds"] % 100 == 0:
            print(
                f"... {totals['seeds']} seeds, {len(failed)} failed,"
                f" {time.perf_counter() - started:.0f} s",
                flush=True,
            )

    db = Database.start()
    try:
        if args.workers > 1 and len(seeds) > 1:
            run_parallel(db, seeds, args.steps, args.workers, on_result, args.db_restart_share)
        else:
            asyncio.run(
                run_seeds(
                    db,
                    seeds,
                    args.steps,
                    on_result=on_result,
                    db_restart_share=args.db_restart_share,
                )
            )
    finally:
        db.close()
    elapsed = time.perf_counter() - started
    print(
        f"{totals['seeds']} seeds x {args.steps} steps: {totals['seeds'] - len(failed)} clean,"
        f" {len(failed)} failed; {totals['calls']} calls, {totals['faults']} faults,"
        f" {elapsed:.1f} s"
    )
    if counts:
        print(
            "violations by invariant (seeds): "
            + ", ".join(f"{k}={v}" for k, v in counts.most_common())
        )
    new = [r for r in failed if args.strict or not r.known]
    if new:
        print("failing seeds: " + " ".join(str(r.seed) for r in failed))
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
