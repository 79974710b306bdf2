"""Load tests and benchmark: `python bench/run.py [--quick] [--runs N] [--workers N] [--profile]`
(or `make bench` / `make bench-quick` / `make bench-3`).

Starts the ledger and the rating service as real processes on a fresh embedded PostgreSQL in
.data/bench/postgres, plus the echo server (bench/echo_server.py, the RPC ceiling). Sets up wallets
with large grants, runs the ghz scenarios of bench/ghz/ against the services and the same load
against the echo server, runs pgbench (bench/pgbench/, the database ceiling) on a copy of the
ledger's schema, samples the services' RSS and CPU (each service's whole process tree, so its
workers too) all along, then prints each target of issue 9 (bench/report.py) as a ratio to the
references measured in this run, with PASS/MISS and why, and writes everything to
bench/results/<timestamp>-<profile>.json. `--runs N` does N runs and adds a summary with the median
of each target. Every duration and loop is bounded; only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from billing.ledger.v1 import ledger_pb2 as lpb  # noqa: E402
from billing.ledger.v1 import ledger_pb2_grpc  # noqa: E402
from billing.rating.v1 import rating_pb2 as rpb  # noqa: E402
from billing.rating.v1 import rating_pb2_grpc  # noqa: E402

from bench import pyspy  # noqa: E402
from bench.report import (  # noqa: E402
    authorize_line,
    markdown,
    median_targets,
    method_lines,
    print_report,
    print_summary,
    summary,
    targets,
    targets_markdown,
)
from billing_common import api_keys, auth_setup, database  # noqa: E402
from billing_common.client_auth import bearer_interceptors  # noqa: E402
from billing_common.process import ServiceProcess, start_service  # noqa: E402
from billing_common.protoconv import timestamp  # noqa: E402

DATA = ROOT / ".data" / "bench"
# ghz: `make bench-tools` installs it in .tools/bin; BENCH_GHZ names another binary.
GHZ = Path(os.environ.get("BENCH_GHZ") or ROOT / ".tools" / "bin" / "ghz")
PGBIN = Path(__import__("pgserver").__file__).parent / "pginstall" / "bin"
RESULTS = ROOT / "bench" / "results"

# Seconds per scenario (echo reference runs), soak seconds, max seconds to wait for the
# forwarder to deliver the ingested charges, max seconds for the whole run.
PROFILES = {
    "quick": {"duration": 3, "echo": 2, "soak": 8, "drain": 60, "limit": 600},
    "full": {"duration": 20, "echo": 10, "soak": 120, "drain": 300, "limit": 1800},
}
WALLETS = 1000  # wallets the unary Debit spreads over (and each DebitBatch touches once)
CUSTOMERS = 50  # rating customers the IngestEvents batches spread over
GRANT = "1000000000000"  # credits per wallet: no debit is ever short
CONCURRENCY_HOT = 16  # = bench/ghz/debit_hot.json, pgbench -c for the hot row
CONCURRENCY_BATCH = 2  # = bench/ghz/debit_batch.json, pgbench -c for the batch
LEDGER_POOL_SIZE = 10  # connections per ledger process (the bench's setting since issue 5)


def rid() -> str:
    return str(uuid.uuid4())


# -- measuring ------------------------------------------------------------------------------


def tree(pid: int) -> list[psutil.Process]:
    """A service's processes: the one the bench started and its workers (`--workers`), without
    an embedded PostgreSQL a service may have started (PostgreSQL is counted on its own)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    out = []
    for proc in procs:
        try:
            if proc.name() != "postgres":
                out.append(proc)
        except psutil.Error:
            continue
    return out


@dataclass
class Sampler:
    """RSS of each service's processes every 0.5 s (the largest one and the sum); CPU seconds of
    the services, of PostgreSQL and of the load clients on demand."""

    pids: dict[str, int]
    samples: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    processes: dict[str, int] = field(default_factory=dict)

    async def run(self) -> None:
        while True:
            now = time.monotonic()
            for name, pid in self.pids.items():
                rss = []
                for proc in tree(pid):
                    try:
                        rss.append(proc.memory_info().rss / 2**20)
                    except psutil.Error:
                        continue
                if rss:
                    self.samples.setdefault(name, []).append((now, max(rss), sum(rss)))
                    self.processes[name] = max(self.processes.get(name, 0), len(rss))
            await asyncio.sleep(0.5)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: each service (all its processes, and the ones that exited); our
        PostgreSQL (postmaster, live backends and the ones that exited); the clients (ghz,
        pgbench: this process's finished children)."""
        out = {n: sum(_cpu(p, reaped=True) for p in tree(pid)) for n, pid in self.pids.items()}
        out["postgres"] = 0.0
        for proc in psutil.process_iter(["name", "cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or ())
            if proc.info["name"] == "postgres" and str(DATA) in cmdline:
                try:  # the postmaster of .data/bench/postgres
                    children = proc.children(recursive=True)
                except psutil.Error:
                    continue
                out["postgres"] = _cpu(proc, reaped=True) + sum(_cpu(c) for c in children)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        out["client"] = usage.ru_utime + usage.ru_stime
        # Every busy CPU second of the machine, ours or not: other work on a shared machine
        # shows as "machine" well above the sum of our processes.
        t = psutil.cpu_times()
        out["machine"] = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        return out

    def peak(self, name: str) -> float:
        """The largest RSS any one process of the service reached."""
        return max((big for _, big, _ in self.samples.get(name, [])), default=0.0)

    def peak_total(self, name: str) -> float:
        return max((total for _, _, total in self.samples.get(name, [])), default=0.0)

    def window(self, name: str, start: float, end: float) -> list[float]:
        """The service's total RSS (all its processes) sampled between start and end."""
        return [total for t, _, total in self.samples.get(name, []) if start <= t <= end]


def _cpu(proc: psutil.Process, reaped: bool = False) -> float:
    """User + system CPU seconds of a process; with `reaped`, plus its exited children's."""
    try:
        t = proc.cpu_times()
    except psutil.Error:
        return 0.0
    return t.user + t.system + ((t.children_user + t.children_system) if reaped else 0.0)


# The key every bench client calls with (set by `use_admin_key`): what the bench measures includes
# checking a credential on every call, as production does.
_api_key = ""


def use_admin_key(data: Path) -> dict[str, str]:
    """An admin key for the bench's services, kept in `data/admin.key` (written once), used by
    `channel` and `ghz` from now on; returns the settings that make both services accept it."""
    global _api_key
    _api_key = auth_setup.write_key(data / "admin.key", api_keys.new_key()[1])
    path = str(data / "admin.key")
    return {"LEDGER_ADMIN_KEY_FILE": path, "RATING_ADMIN_KEY_FILE": path}


def channel(target: str) -> grpc.aio.Channel:
    """A client channel to a bench service (plain text: TLS is not what the bench measures),
    sending the admin key."""
    return grpc.aio.insecure_channel(
        target, interceptors=bearer_interceptors(lambda: _api_key or None)
    )


async def ghz(config: str, target: str, seconds: float, **overrides: str) -> dict[str, Any]:
    """Run one ghz scenario; returns throughput, latency percentiles (ms) and errors."""
    args = [str(GHZ), "--config", f"bench/ghz/{config}.json", "--duration", f"{seconds}s"]
    for flag, value in overrides.items():
        args += [f"--{flag.replace('_', '-')}", value]
    if _api_key:
        args += ["--metadata", json.dumps({"authorization": f"Bearer {_api_key}"})]
    args += ["--format", "json", target]
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), seconds + 120)
    if proc.returncode != 0 and not out:
        raise RuntimeError(f"ghz {config} failed: {err.decode()[-2000:]}")
    report = json.loads(out)
    pct = {p["percentage"]: p["latency"] / 1e6 for p in report.get("latencyDistribution") or []}
    errors = sum((report.get("errorDistribution") or {}).values())
    return {
        "command": " ".join(str(a) for a in args)
        .replace(str(ROOT) + "/", "")
        .replace(_api_key or "\0", "$API_KEY"),
        "count": report["count"],
        "seconds": report["total"] / 1e9,
        "rps": report["rps"],
        "p50_ms": pct.get(50),
        "p95_ms": pct.get(95),
        "p99_ms": pct.get(99),
        "errors": errors,
        "error_kinds": dict(list((report.get("errorDistribution") or {}).items())[:3]),
    }


async def pgbench(db_uri: str, script: str, clients: int, seconds: int) -> dict[str, Any]:
    args = [str(PGBIN / "pgbench"), "-n", "-T", str(seconds), "-c", str(clients), "-j", "2"]
    args += ["-f", f"bench/pgbench/{script}.sql", db_uri]
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), seconds + 120)
    text = out.decode()
    tps = next((float(x.split("=")[1].split()[0]) for x in text.splitlines() if "tps =" in x), 0)
    failed = next((x.split(":")[1].split()[0] for x in text.splitlines() if "failed" in x), "?")
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench {script} failed: {err.decode()[-2000:]}")
    return {
        "command": " ".join(args[:-1]).replace(str(ROOT) + "/", "") + " <bench_pgbench URI>",
        "clients": clients,
        "tps": tps,
        "failed": failed,
    }


async def debit_count(ledger_db: str) -> int:
    conn = await asyncpg.connect(ledger_db)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM entries WHERE type = 'DEBIT'"))
    finally:
        await conn.close()


async def pending_charges(rating_db: str) -> int:
    conn = await asyncpg.connect(rating_db)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM charges WHERE status = 'PENDING'"))
    finally:
        await conn.close()


# -- set-up ---------------------------------------------------------------------------------


async def bounded(coros: list[Any], limit: int = 32) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(c: Any) -> Any:
        async with gate:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def new_wallet(ledger: Any, customer: str) -> str:
    wallet = (
        await ledger.CreateWallet(
            lpb.CreateWalletRequest(
                request_id=rid(),
                customer_id=customer,
                unit="CREDITS",
                overage_policy=lpb.OVERAGE_POLICY_ALLOW_OVERAGE,
            )
        )
    ).wallet.wallet_id
    await ledger.CreateGrant(
        lpb.CreateGrantRequest(
            request_id=rid(),
            wallet_id=wallet,
            kind=lpb.GRANT_KIND_PREPAID,
            amount=GRANT,
            cost_basis=lpb.CostBasis(unit_price="0", currency="USD"),
        )
    )
    return wallet


async def debits_to(ledger: Any, wallet: str, count: int) -> None:
    """Grow one wallet's journal by `count` debits, 1,000 per DebitBatch."""
    for start in range(0, count, 1000):
        n = min(1000, count - start)
        await ledger.DebitBatch(
            lpb.DebitBatchRequest(
                debits=[
                    lpb.DebitRequest(
                        request_id=rid(), wallet_id=wallet, amount="1", feature="bench"
                    )
                    for _ in range(n)
                ]
            ),
            timeout=120,
        )


async def set_up_rating(ledger: Any, rating: Any, start: datetime) -> list[str]:
    """A meter, a per-unit price, a plan, and CUSTOMERS customers on it with funded wallets, all
    in force from `start` (price versions and assignments may not start in the past)."""
    meter = (
        await rating.CreateMeter(
            rpb.CreateMeterRequest(
                request_id=rid(),
                key="bench_tokens",
                event_type="llm",
                aggregation=rpb.AGGREGATION_SUM,
                value_property="tokens",
            )
        )
    ).meter
    price = (
        await rating.CreatePrice(
            rpb.CreatePriceRequest(
                request_id=rid(),
                meter_id=meter.meter_id,
                unit="CREDITS",
                model=rpb.PRICING_MODEL_PER_UNIT,
                unit_price="0.001",
                effective_time=timestamp(start),
            )
        )
    ).price
    plan = (
        await rating.CreatePlan(
            rpb.CreatePlanRequest(
                request_id=rid(),
                cadence=rpb.CADENCE_MONTHLY,
                unit="CREDITS",
                billing_anchor_time=timestamp(start),
                prices=[rpb.PlanPrice(price_id=price.price_id)],
            )
        )
    ).plan
    customers = [f"bench-c{i}" for i in range(CUSTOMERS)]
    wallets = await bounded([new_wallet(ledger, c) for c in customers])
    await bounded(
        [
            rating.AssignPlan(
                rpb.AssignPlanRequest(
                    request_id=rid(),
                    customer_id=c,
                    plan_id=plan.plan_id,
                    wallet_id=w,
                    start_time=timestamp(start),
                )
            )
            for c, w in zip(customers, wallets, strict=True)
        ]
    )
    return customers


def write_data(name: str, data: Any) -> None:
    """The ghz data file of a scenario ({{newUUID}} gives every request and event a fresh id)."""
    (DATA / "data").mkdir(parents=True, exist_ok=True)
    (DATA / "data" / f"{name}.json").write_text(json.dumps(data))


def debit(wallet: str) -> dict[str, str]:
    return {"request_id": "{{newUUID}}", "wallet_id": wallet, "amount": "1", "feature": "bench"}


# -- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """How a run is made: its profile (durations) and the services' processes and pools."""

    profile: str = "quick"
    # Processes per service (`--workers`, passed as LEDGER_WORKERS / RATING_WORKERS, which a
    # service without that setting ignores); None: the service's own default.
    workers: int | None = None
    ledger_pool_size: int = LEDGER_POOL_SIZE
    # Sample the services with py-spy during the scenarios (the why of a miss gets its layers).
    profiled: bool = False


def service_env(opts: Options, pg_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    ledger = {
        "LEDGER_LISTEN": "127.0.0.1:0",
        "LEDGER_PLAINTEXT": "true",
        "LEDGER_DATA_DIR": str(pg_dir),
        "LEDGER_POOL_SIZE": str(opts.ledger_pool_size),
    }
    rating = {
        "RATING_LISTEN": "127.0.0.1:0",
        "RATING_PLAINTEXT": "true",
        "RATING_LEDGER_PLAINTEXT": "true",
        "RATING_DATA_DIR": str(pg_dir),
    }
    if opts.workers is not None:
        ledger["LEDGER_WORKERS"] = rating["RATING_WORKERS"] = str(opts.workers)
    return ledger, rating


def method(opts: Options, ledger_env: dict[str, str], rating_env: dict[str, str]) -> dict[str, Any]:
    """The settings the services run with, read through their own settings classes (so a default
    shows as the service would use it), and the load: printed at the top of the report."""
    from ledger_service.config import LedgerSettings
    from rating_service.config import RatingSettings

    ls = LedgerSettings.from_env({**os.environ, **ledger_env})
    rs = RatingSettings.from_env({**os.environ, **rating_env})
    p = PROFILES[opts.profile]
    return {
        "durations_s": {"scenario": p["duration"], "echo": p["echo"], "soak": p["soak"]},
        "concurrency": {
            name: json.loads((ROOT / "bench" / "ghz" / f"{name}.json").read_text())["concurrency"]
            for name in (
                "debit_spread",
                "debit_hot",
                "debit_batch",
                "get_balance",
                "authorize",
                "ingest_events",
            )
        }
        | {"soak debit_spread": 8, "soak ingest_events": 1},
        "ledger": {
            # A service without a workers setting runs one process whatever the environment says.
            "workers": getattr(ls, "workers", "1 (no workers setting)"),
            "pool_size per process": ls.pool_size,
            "write transactions in flight": getattr(ls, "write_in_flight", "?"),
            "write queue max": getattr(ls, "write_queue_max", "?"),
        },
        "rating": {
            "workers": getattr(rs, "workers", "1 (no workers setting)"),
            "pool_size per process": rs.pool_size,
            "forward_batch_size": rs.forward_batch_size,
            "forward_concurrency": getattr(rs, "forward_concurrency", 1),
        },
    }


async def run(opts: Options) -> dict[str, Any]:
    profile = opts.profile
    p = PROFILES[profile]
    d = p["duration"]
    if not GHZ.exists():
        raise SystemExit(f"{GHZ} is missing: run `make bench-tools` (or `make bench`)")
    if opts.profiled and not pyspy.PY_SPY.exists():
        raise SystemExit(f"{pyspy.PY_SPY} is missing: pip install py-spy, or drop --profile")
    shutil.rmtree(DATA / "postgres", ignore_errors=True)  # a fresh journal every run
    DATA.mkdir(parents=True, exist_ok=True)
    log = DATA / "services.log"
    log.unlink(missing_ok=True)
    pg_dir = DATA / "postgres"
    server_uri = database.embedded_server_uri(pg_dir)
    ledger_db = database.with_database(server_uri, "ledger")
    rating_db = database.with_database(server_uri, "rating")
    pgbench_db = database.with_database(server_uri, "bench_pgbench")
    ledger_env, rating_env = service_env(opts, pg_dir)
    key_env = use_admin_key(DATA)
    ledger_env, rating_env = {**ledger_env, **key_env}, {**rating_env, **key_env}

    procs: dict[str, ServiceProcess] = {}
    result: dict[str, Any] = {
        "profile": profile,
        "started": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "method": method(opts, ledger_env, rating_env),
        "profiled": opts.profiled,
        "scenarios": {},
        "references": {},
    }
    sc, refs = result["scenarios"], result["references"]
    sampler_task = None
    t_run = time.monotonic()
    try:
        print(f"[{profile}] starting ledger, rating and echo server (logs: {log}) ...", flush=True)
        procs["ledger"] = await start_service("ledger_service", ledger_env, cwd=ROOT, log_path=log)
        procs["rating"] = await start_service(
            "rating_service",
            {**rating_env, "RATING_LEDGER_TARGET": procs["ledger"].target},
            cwd=ROOT,
            log_path=log,
        )
        procs["echo"] = await start_service("bench.echo_server", {}, cwd=ROOT, log_path=log)
        sampler = Sampler({n: s.process.pid for n, s in procs.items()})
        sampler_task = asyncio.create_task(sampler.run())
        lt, rt, et = procs["ledger"].target, procs["rating"].target, procs["echo"].target
        for name in ("ledger", "rating"):
            result["method"][name]["processes"] = len(tree(procs[name].process.pid))
        for line in method_lines(result):
            print(f"  {line}", flush=True)

        async def measured(
            name: str, coro: Any, spy: str | None = None, seconds: float = 0
        ) -> dict[str, Any]:
            """Run a load; CPU seconds and shares of every process over it; with --profile and
            `spy`, that service sampled by py-spy for the load's `seconds`."""
            raw = DATA / f"{name}.spy.txt"
            spying = None
            if opts.profiled and spy:
                raw.unlink(missing_ok=True)
                spying = asyncio.create_task(pyspy.record(procs[spy].process.pid, seconds, raw))
            before = sampler.cpu()
            t0 = time.monotonic()
            out = await coro
            wall = time.monotonic() - t0
            after = sampler.cpu()
            out["cpu_s"] = {k: round(after[k] - before[k], 3) for k in after}
            out["cpu_pct"] = {k: round(100 * (after[k] - before[k]) / wall) for k in after}
            if spying:
                await spying
                shares = pyspy.read(raw).layer_shares()
                out["profile"] = {"process": spy, "layers": shares}
            print(f"  {name:<22} {summary(out)}", flush=True)
            return out

        print("setting up wallets with large grants, plan and customers ...", flush=True)
        t_setup = time.monotonic()
        async with channel(lt) as lch, channel(rt) as rch:
            ledger = ledger_pb2_grpc.LedgerServiceStub(lch)
            rating = rating_pb2_grpc.RatingServiceStub(rch)
            spread = await bounded([new_wallet(ledger, f"bench-w{i}") for i in range(WALLETS)])
            hot, reader = await bounded(
                [new_wallet(ledger, "bench-hot"), new_wallet(ledger, "bench-reader")]
            )
            start = datetime.now(UTC) + timedelta(seconds=30)
            customers = await set_up_rating(ledger, rating, start)
            await debits_to(ledger, reader, 1000)
            write_data("debit_spread", [debit(w) for w in spread])
            write_data("debit_hot", [debit(hot)])
            write_data("debit_batch", {"debits": [debit(w) for w in spread]})
            write_data("get_balance", [{"wallet_id": reader}])
            # A pure check (no hold) of the same wallet: what a product asks before each action.
            write_data("authorize", [{"wallet_id": reader, "amount": "1", "feature": "bench"}])
            # Events happen just after the plan starts (up to 5 minutes ahead is accepted).
            occurred = (start + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
            write_data(
                "ingest_events",
                {
                    "request_id": "{{newUUID}}",
                    "events": [
                        {
                            "event_id": "{{newUUID}}",
                            "customer_id": customers[i % CUSTOMERS],
                            "type": "llm",
                            "occurred_time": occurred,
                            "properties": {"tokens": "7"},
                        }
                        for i in range(1000)
                    ],
                },
            )
            result["setup_s"] = round(time.monotonic() - t_setup, 1)

            print("RPC ceiling (echo server, same ghz load):", flush=True)
            for name in ("debit_spread", "debit_batch", "get_balance", "ingest_events"):
                refs[f"echo_{name}"] = await measured(f"echo {name}", ghz(name, et, p["echo"]))

            print("ledger and rating:", flush=True)
            for name in ("debit_spread", "debit_hot", "debit_batch"):
                n0 = await debit_count(ledger_db)
                sc[name] = await measured(name, ghz(name, lt, d), "ledger", d)
                sc[name]["debits_booked"] = await debit_count(ledger_db) - n0
                sc[name]["debits_per_s"] = sc[name]["debits_booked"] / sc[name]["seconds"]

            # GetBalance alone (the reference for "while debits run"), then while debits run,
            # before and after the wallet's journal grows tenfold.
            sc["get_balance_alone"] = await measured(
                "get_balance_alone", ghz("get_balance", lt, d), "ledger", d
            )

            async def while_debits_run(name: str, config: str) -> dict[str, Any]:
                background = asyncio.create_task(ghz("debit_spread", lt, d + 2))
                await asyncio.sleep(1)  # the debit load is running before the reads start
                out = await measured(name, ghz(config, lt, d), "ledger", d)
                out["background_debits"] = summary(await background)
                return out

            for phase, grow in (("get_balance", 0), ("get_balance_10x", 9000)):
                await debits_to(ledger, reader, grow)
                sc[phase] = await while_debits_run(phase, "get_balance")
                sc[phase]["journal_entries"] = 1001 + grow  # its grant and its debits
                if not grow:
                    # Authorize (a pure check) right after, on the same wallet, under the same
                    # debit load: its latency beside GetBalance's (issue 14).
                    sc["authorize_check"] = await while_debits_run("authorize_check", "authorize")
                    print(f"  {'':<22} {authorize_line(sc)}", flush=True)

            # IngestEvents end to end: from the first batch until the forwarder has delivered
            # every charge to the ledger (DEBIT entries counted in the ledger's database).
            n0 = await debit_count(ledger_db)
            t0, cpu0 = time.monotonic(), sampler.cpu()
            ingest = await measured("ingest_events", ghz("ingest_events", rt, d), "rating", d)
            deadline = time.monotonic() + p["drain"]
            while (left := await pending_charges(rating_db)) and time.monotonic() < deadline:
                await asyncio.sleep(0.25)
            e2e_s = time.monotonic() - t0
            cpu1 = sampler.cpu()  # the CPU split of the whole window: ingest, then forwarding
            ingest["end_to_end_cpu_pct"] = {
                k: round(100 * (cpu1[k] - cpu0[k]) / e2e_s) for k in cpu1
            }
            ingest["events_per_s"] = ingest["rps"] * 1000
            ingest["events_sent"] = ingest["count"] * 1000  # one charge, so one debit, each
            ingest["debits_booked"] = await debit_count(ledger_db) - n0
            ingest["pending_left"] = left
            ingest["end_to_end_s"] = round(e2e_s, 2)
            ingest["debits_per_s"] = ingest["debits_booked"] / e2e_s
            print(
                f"  {'':<22} end to end: {ingest['debits_booked']:,} debits booked in "
                f"{e2e_s:.1f} s = {ingest['debits_per_s']:,.0f}/s ({left} charges still pending)"
            )
            sc["ingest_events"] = ingest

            print("database ceiling (pgbench on the ledger's schema, bench_pgbench):", flush=True)
            await fresh_pgbench_db(server_uri, pgbench_db)
            refs["pgbench_hot_row"] = await measured(
                "pgbench debit_one", pgbench(pgbench_db, "debit_one", CONCURRENCY_HOT, d)
            )
            refs["pgbench_batch"] = await measured(
                "pgbench debit_batch", pgbench(pgbench_db, "debit_batch", CONCURRENCY_BATCH, d)
            )
            refs["pgbench_batch"]["rows_per_s"] = refs["pgbench_batch"]["tps"] * 1000

            soak = p["soak"]
            print(
                f"soak: {soak} s of unary debits + event ingest"
                + (
                    " (short soak of the quick run, not the full run's 2-minute soak)"
                    if soak < 120
                    else ""
                ),
                flush=True,
            )
            s0 = time.monotonic()
            soaked = await asyncio.gather(
                ghz("debit_spread", lt, soak, concurrency="8"),
                ghz("ingest_events", rt, soak, concurrency="1"),
            )
            s1 = time.monotonic()
            result["soak"] = {
                "seconds": soak,
                "debit_spread": soaked[0],
                "ingest_events": soaked[1],
                "rss_mb": {},
            }
            for name in ("ledger", "rating"):
                span = s1 - s0
                early = sampler.window(name, s0 + 0.2 * span, s0 + 0.4 * span)
                late = sampler.window(name, s0 + 0.8 * span, s1)
                result["soak"]["rss_mb"][name] = {
                    "early": round(statistics.mean(early), 1) if early else None,
                    "late": round(statistics.mean(late), 1) if late else None,
                }
        result["rss_peak_mb"] = {n: round(sampler.peak(n), 1) for n in procs}
        result["rss_peak_total_mb"] = {n: round(sampler.peak_total(n), 1) for n in procs}
        for name in ("ledger", "rating"):
            result["method"][name]["processes"] = sampler.processes.get(name, 0)
    finally:
        if sampler_task:
            sampler_task.cancel()
        for proc in reversed(list(procs.values())):
            try:
                await proc.stop()
            except Exception:
                await proc.kill()
    result["wall_s"] = round(time.monotonic() - t_run, 1)
    result["targets"] = targets(result)
    return result


async def fresh_pgbench_db(server_uri: str, pgbench_db: str) -> None:
    conn = await asyncpg.connect(database.with_database(server_uri, "postgres"))
    try:
        await conn.execute("DROP DATABASE IF EXISTS bench_pgbench")
        await conn.execute("CREATE DATABASE bench_pgbench")
    finally:
        await conn.close()
    migrate = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ledger_service",
        "migrate",
        cwd=ROOT,
        # The bench ledger's secrets key (made on its first start): a configured database's
        # migrations need one.
        env={
            **os.environ,
            "LEDGER_DATABASE_URL": pgbench_db,
            "LEDGER_SECRETS_KEY_FILE": str(DATA / "secrets.key"),
        },
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if await asyncio.wait_for(migrate.wait(), 120) != 0:
        raise RuntimeError("migrating bench_pgbench failed")
    seed = await asyncio.create_subprocess_exec(
        str(PGBIN / "psql"),
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-f",
        "bench/pgbench/seed.sql",
        pgbench_db,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
    )
    if await asyncio.wait_for(seed.wait(), 120) != 0:
        raise RuntimeError("seeding bench_pgbench failed")


# -- machine and main ---------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                x.split(":", 1)[1].strip()
                for x in cpuinfo.read_text().splitlines()
                if x.startswith("model name")
            ),
            "",
        )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def write(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def summarise(profile: str, results: list[dict[str, Any]], files: list[str]) -> dict[str, Any]:
    """The median of each target over several runs, with the runs it comes from."""
    return {
        "profile": profile,
        "runs": files,
        "method": results[-1].get("method"),
        "machine": results[-1].get("machine"),
        "targets": median_targets(results),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="about a minute, short soak")
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="runs in a row; with 2 or more, also the median of "
        "each target over them (bench/results/<time>-<profile>-median-of-N.json)",
    )
    parser.add_argument(
        "--workers", type=int, help="processes per service (LEDGER_WORKERS, RATING_WORKERS)"
    )
    parser.add_argument(
        "--pool-size", type=int, default=LEDGER_POOL_SIZE, help="ledger pool per process"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the services with py-spy during the "
        "scenarios; the why of a miss shows the layers (figures not comparable to unprofiled runs)",
    )
    parser.add_argument("--report", type=Path, help="re-print the report of a results JSON")
    parser.add_argument(
        "--summary", type=Path, nargs="+", help="the median table of several results JSONs"
    )
    parser.add_argument(
        "--markdown", action="store_true", help="with --report or --summary: as Markdown"
    )
    args = parser.parse_args()
    if args.report:
        result = json.loads(args.report.read_text())
        result["targets"] = targets(result)
        print(markdown(result)) if args.markdown else print_report(result)
        return 0
    if args.summary:
        results = [json.loads(f.read_text()) for f in args.summary]
        for r in results:
            r["targets"] = targets(r)
        s = summarise(results[0]["profile"], results, [f.name for f in args.summary])
        print(targets_markdown(s["targets"], runs=True)) if args.markdown else print_summary(s)
        return 0
    if not 1 <= args.runs <= 10:
        parser.error("--runs is 1 to 10")
    opts = Options(
        profile="quick" if args.quick else "full",
        workers=args.workers,
        ledger_pool_size=args.pool_size,
        profiled=args.profile,
    )
    results, files = [], []
    for n in range(1, args.runs + 1):
        if args.runs > 1:
            print(f"\n==== run {n} of {args.runs} ====", flush=True)
        result = asyncio.run(asyncio.wait_for(run(opts), PROFILES[opts.profile]["limit"]))
        print_report(result)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = write(f"{stamp}-{opts.profile}.json", result)
        print(f"\nresults: {path.relative_to(ROOT)} ({result['wall_s']:.0f} s)", flush=True)
        results.append(result)
        files.append(path.name)
    if args.runs > 1:
        s = summarise(opts.profile, results, files)
        print_summary(s)
        path = write(f"{stamp}-{opts.profile}-median-of-{args.runs}.json", s)
        print(f"\nsummary: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
