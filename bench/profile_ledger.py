"""Profile the ledger under a ghz load: where does its CPU go per call?

    python bench/profile_ledger.py [--scenario debit_spread|debit_hot|get_balance] [--seconds 10]

Starts a fresh embedded PostgreSQL in .data/profile and the ledger as a real process, sets up the
bench's wallets, then samples the ledger with py-spy (`pip install py-spy`; a sampling profiler, so
the ledger runs at full speed) while one ghz scenario of bench/ghz/ runs against it. Prints the
share of samples per layer (SQLAlchemy, asyncpg, gRPC, asyncio, the domain, ...) and the functions
with the most samples, own and inclusive. Needs ghz (`make bench-tools`).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen" / "python")]

from billing.ledger.v1 import ledger_pb2_grpc  # noqa: E402

from bench import pyspy  # noqa: E402
from bench import report as bench_report  # noqa: E402
from bench import run as bench  # noqa: E402
from billing_common import database  # noqa: E402
from billing_common.process import start_service  # noqa: E402

DATA = ROOT / ".data" / "profile"
PY_SPY = pyspy.PY_SPY


def report(raw: Path, calls: int, top: int) -> None:
    s = pyspy.read(raw)
    if not s.total:
        print("no samples")
        return
    print(f"\n{s.total} samples; {calls} calls")
    print("\n== own samples by layer (where the CPU is spent) ==")
    for name, pct in s.layer_shares().items():
        print(f"  {pct:5.1f}%  {name}")
    for title, counter in (("own", s.own), ("inclusive", s.inclusive)):
        print(f"\n== top {top} functions, {title} samples ==")
        for f, n in counter.most_common(top):
            print(f"  {100 * n / s.total:5.1f}%  {f[:150]}")


async def main(scenario: str, seconds: float, top: int) -> None:
    if not PY_SPY.exists():
        raise SystemExit(f"{PY_SPY} is missing: pip install py-spy")
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    pg_dir = DATA / "postgres"
    database.embedded_server_uri(pg_dir)
    key_env = bench.use_admin_key(DATA)
    ledger = await start_service(
        "ledger_service",
        {
            "LEDGER_LISTEN": "127.0.0.1:0",
            "LEDGER_PLAINTEXT": "true",
            "LEDGER_DATA_DIR": str(pg_dir),
            "LEDGER_POOL_SIZE": "10",
            **key_env,
        },
        cwd=ROOT,
        log_path=DATA / "ledger.log",
    )
    raw = DATA / "ledger.spy.txt"
    try:
        async with bench.channel(ledger.target) as channel:
            stub = ledger_pb2_grpc.LedgerServiceStub(channel)
            wallets = await bench.bounded(
                [bench.new_wallet(stub, f"profile-w{i}") for i in range(bench.WALLETS)]
            )
            hot, reader = wallets[0], wallets[1]
            await bench.debits_to(stub, reader, 200)
        bench.write_data("debit_spread", [bench.debit(w) for w in wallets])
        bench.write_data("debit_hot", [bench.debit(hot)])
        bench.write_data("debit_batch", {"debits": [bench.debit(w) for w in wallets]})
        bench.write_data("get_balance", [{"wallet_id": reader}])
        spy = await asyncio.create_subprocess_exec(
            str(PY_SPY),
            "record",
            "--pid",
            str(ledger.process.pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(raw),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        result = await bench.ghz(scenario, ledger.target, seconds)
        await spy.wait()
    finally:
        await ledger.stop()
    print(f"{scenario}: {bench_report.summary(result)}")
    report(raw, result["count"], top)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--scenario",
        default="debit_spread",
        choices=["debit_spread", "debit_hot", "debit_batch", "get_balance"],
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.scenario, args.seconds, args.top))
