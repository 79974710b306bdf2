"""The ledger's process settings compared in one run: `python bench/processes.py [--seconds S]
[--rounds R]` (or `make bench-processes`).

Starts the ledger as a real process on a fresh embedded PostgreSQL (.data/bench-processes), once
per configuration, and drives the same ghz load (unary Debit spread over 1,000 wallets, 16 calls
in flight over 8 connections, so SO_REUSEPORT has connections to spread) against each:

- `gc-default`: one process, Python's collector as it comes (no freeze, thresholds 700,10,10);
- `gc-tuned`: one process, the services' defaults (gc.freeze() after start-up, 10000,50,100);
- `workers-2`: two processes sharing the port, gc tuned.

The configurations take turns, `--rounds` times, so a neighbour's load on a shared machine falls
on all of them alike. Printed per run: debits per second, latency p50/p99, CPU of the ledger's
processes and of PostgreSQL per debit, and the collections of each generation with their total
and longest pause (billing_gc_pause_seconds, summed over workers). Bounded: every run lasts
`--seconds`, start-up at most a minute; only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import socket
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from billing.ledger.v1 import ledger_pb2_grpc  # noqa: E402
from run import GHZ, bounded, channel, debit, ghz, new_wallet, use_admin_key  # noqa: E402

from billing_common import database  # noqa: E402
from billing_common.process import ServiceProcess, start_service  # noqa: E402

DATA = ROOT / ".data" / "bench-processes"
WALLETS = 1000
CONFIGS: dict[str, dict[str, str]] = {
    "gc-default": {"LEDGER_GC_FREEZE": "false", "LEDGER_GC_THRESHOLD": ""},
    "gc-tuned": {},
    "workers-2": {"LEDGER_WORKERS": "2"},
}
_PAUSE = re.compile(r'billing_gc_pause_seconds_(count|sum)\{generation="(\d)"\} (\S+)')
_CPU = re.compile(r'billing_gc_cpu_seconds_total\{generation="(\d)"\} (\S+)')
_BUCKET = re.compile(r'billing_gc_pause_seconds_bucket\{generation="(\d)",le="([^"]+)"\} (\S+)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gc_stats(metrics_ports: list[int]) -> dict[tuple[str, str], float]:
    """billing_gc_pause_seconds summed over the workers: (generation, "count"|"sum"|bucket
    bound) -> value."""
    out: dict[tuple[str, str], float] = {}
    for port in metrics_ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
        for kind, gen, value in _PAUSE.findall(text):
            out[gen, kind] = out.get((gen, kind), 0.0) + float(value)
        for gen, value in _CPU.findall(text):
            out[gen, "cpu"] = out.get((gen, "cpu"), 0.0) + float(value)
        for gen, le, value in _BUCKET.findall(text):
            out[gen, le] = out.get((gen, le), 0.0) + float(value)
    return out


def gc_during(before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]) -> dict:
    """Per generation, what happened between two gc_stats: collections, total pause, and the
    bucket bound under which the longest pause fell."""
    diff = {k: v - before.get(k, 0.0) for k, v in after.items()}
    out = {}
    for gen in sorted({g for g, _ in diff}):
        count = diff.get((gen, "count"), 0.0)
        bounds = [k for g, k in diff if g == gen and k not in ("count", "sum", "cpu")]
        longest = min((float(b) for b in bounds if diff[gen, b] >= count), default=0.0)
        out[gen] = {
            "collections": int(count),
            "pause_ms": round(1000 * diff.get((gen, "sum"), 0.0), 1),
            "cpu_ms": round(1000 * diff.get((gen, "cpu"), 0.0), 1),
            "longest_under_ms": 1000 * longest if count else 0.0,
        }
    return out


def cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children (a supervisor's workers)."""
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def postgres_cpu_s() -> float:
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(DATA) in " ".join(proc.info["cmdline"] or ()):
            try:
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
                total += sum(c.cpu_times().user + c.cpu_times().system for c in proc.children(True))
            except psutil.Error:
                continue
    return total


async def start(ledger_db: str, config: dict[str, str], metrics_port: int) -> ServiceProcess:
    env = {
        "LEDGER_DATABASE_URL": ledger_db,
        "LEDGER_LISTEN": "127.0.0.1:0",
        "LEDGER_PLAINTEXT": "true",
        "LEDGER_POOL_SIZE": "10",
        "LEDGER_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        "LEDGER_ADMIN_KEY_FILE": str(DATA / "admin.key"),
        **config,
    }
    return await start_service("ledger_service", env, cwd=ROOT, log_path=DATA / "ledger.log")


async def measure(
    ledger_db: str, name: str, config: dict[str, str], seconds: float
) -> dict[str, Any]:
    metrics_port = free_port()
    workers = int(config.get("LEDGER_WORKERS", "1"))
    ports = [metrics_port + i for i in range(workers)]
    ledger = await start(ledger_db, config, metrics_port)
    try:
        gc0, cpu0, pg0 = gc_stats(ports), cpu_s(ledger.process.pid), postgres_cpu_s()
        out = await ghz("debit_spread", ledger.target, seconds, connections="8")
        gc1, cpu1, pg1 = gc_stats(ports), cpu_s(ledger.process.pid), postgres_cpu_s()
    finally:
        await ledger.stop()
    calls = max(1, out["count"])
    return {
        "config": name,
        "rps": round(out["rps"]),
        "p50_ms": round(out["p50_ms"] or 0, 2),
        "p99_ms": round(out["p99_ms"] or 0, 2),
        "errors": out["errors"],
        "ledger_cpu_ms_per_debit": round(1000 * (cpu1 - cpu0) / calls, 3),
        "postgres_cpu_ms_per_debit": round(1000 * (pg1 - pg0) / calls, 3),
        "gc": gc_during(gc0, gc1),
    }


async def main(seconds: float, rounds: int, configs: dict[str, dict[str, str]]) -> int:
    if not GHZ.exists():
        raise SystemExit(f"{GHZ} is missing: run `make bench-tools`")
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    server = database.embedded_server_uri(DATA / "postgres")
    ledger_db = database.with_database(server, "ledger")
    key_env = use_admin_key(DATA)
    # Migrate and set up the wallets once, with a ledger started for it.
    await database.ensure_database(server, "ledger")
    setup = await start_service(
        "ledger_service",
        {
            "LEDGER_DATABASE_URL": ledger_db,
            "LEDGER_LISTEN": "127.0.0.1:0",
            "LEDGER_PLAINTEXT": "true",
            **key_env,
        },
        cwd=ROOT,
        log_path=DATA / "ledger.log",
    )
    try:
        async with channel(setup.target) as setup_channel:
            stub = ledger_pb2_grpc.LedgerServiceStub(setup_channel)
            wallets = await bounded([new_wallet(stub, f"bench-w{i}") for i in range(WALLETS)])
    finally:
        await setup.stop()
    data = ROOT / ".data" / "bench" / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "debit_spread.json").write_text(json.dumps([debit(w) for w in wallets]))

    print(f"cores: {psutil.cpu_count()}, load average: {psutil.getloadavg()}", flush=True)
    runs: list[dict[str, Any]] = []
    for r in range(rounds):
        for name, config in configs.items():
            t0 = time.monotonic()
            result = await measure(ledger_db, name, config, seconds)
            result["round"] = r
            runs.append(result)
            print(json.dumps(result), f"({time.monotonic() - t0:.0f} s)", flush=True)
    print("\nmedians over the rounds:")
    for name in configs:
        mine = [x for x in runs if x["config"] == name]
        med = {
            k: statistics.median(x[k] for x in mine)
            for k in ("rps", "p50_ms", "p99_ms", "ledger_cpu_ms_per_debit")
        }
        young = statistics.median(x["gc"].get("0", {}).get("collections", 0) for x in mine)

        def per_debit(x: dict[str, Any], key: str) -> float:
            return sum(g[key] for g in x["gc"].values()) / max(1, x["rps"] * seconds) * 1000

        pause = statistics.median(per_debit(x, "pause_ms") for x in mine)
        gc_cpu = statistics.median(per_debit(x, "cpu_ms") for x in mine)
        print(
            f"  {name:<11} {med['rps']:>6.0f} debits/s  p50 {med['p50_ms']:.1f} ms  "
            f"p99 {med['p99_ms']:.1f} ms  ledger CPU {med['ledger_cpu_ms_per_debit']:.2f} ms/debit"
            f"  young collections {young:.0f}  gc pause {pause:.1f} us/debit"
            f" (CPU {gc_cpu:.1f} us/debit)"
        )
    out = DATA / "results.json"
    out.write_text(json.dumps(runs, indent=2))
    print(f"\nwritten to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="ghz seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every configuration")
    parser.add_argument("--only", default="", help="configurations to run, comma-separated")
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        help="also run one process with these gc thresholds (e.g. 10000,50,100); repeatable",
    )
    args = parser.parse_args()
    only = [n for n in args.only.split(",") if n]
    configs = {n: env for n, env in CONFIGS.items() if not only or n in only}
    configs |= {f"gc-{t}": {"LEDGER_GC_THRESHOLD": t} for t in args.threshold}
    sys.exit(asyncio.run(main(args.seconds, args.rounds, configs)))
