"""IngestEvents end to end, alone: `python bench/ingest_e2e.py [--batches N] [--concurrency C]`.

Starts the ledger and the rating service as real processes on a fresh embedded PostgreSQL in
.data/bench_ingest/postgres, sets up the same plan and customers as `bench/run.py` (50 customers,
one SUM meter, a per-unit price, funded wallets), sends N IngestEvents batches of 1,000 events
(asynchronous mode, each batch spread over the 50 customers, C calls in flight) and waits until
the forwarder has delivered every charge to the ledger (DEBIT entries counted in the ledger's
database). Prints the ingest rate, the end-to-end rate and the settings used, as JSON.

Settings of the rating service can be passed through the environment (e.g.
RATING_FORWARD_CONCURRENCY=1 for the one-call-at-a-time forwarder). The machine may be shared:
compare runs made within minutes of each other, not against old figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from billing.ledger.v1 import ledger_pb2_grpc  # noqa: E402
from billing.rating.v1 import rating_pb2 as rpb  # noqa: E402
from billing.rating.v1 import rating_pb2_grpc  # noqa: E402

from bench.run import (  # noqa: E402
    CUSTOMERS,
    _cpu,
    channel,
    debit_count,
    pending_charges,
    set_up_rating,
    use_admin_key,
)
from billing_common import database  # noqa: E402
from billing_common.process import ServiceProcess, start_service  # noqa: E402
from billing_common.protoconv import timestamp  # noqa: E402

DATA = ROOT / ".data" / "bench_ingest"
DRAIN_S_MAX = 300


def cpu_seconds(pids: dict[str, int], pg_dir: Path) -> dict[str, float]:
    """CPU seconds so far of each service and of our PostgreSQL (postmaster, live backends and
    the ones that exited)."""
    out = {name: _cpu(psutil.Process(pid)) for name, pid in pids.items()}
    out["postgres"] = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(pg_dir) in " ".join(proc.info["cmdline"] or ()):
            try:
                t = proc.cpu_times()
                children = proc.children(recursive=True)
            except psutil.Error:
                continue
            out["postgres"] += _cpu(proc) + t.children_user + t.children_system
            out["postgres"] += sum(_cpu(c) for c in children)
    return out


async def start_services(
    pg_dir: Path,
    log: Path,
    key_env: dict[str, str],
    *,
    rating_module: str = "rating_service",
    rating_env: dict[str, str] | None = None,
) -> tuple[ServiceProcess, ServiceProcess]:
    """The ledger and the rating service as the end-to-end benches run them: plain text, on the
    embedded PostgreSQL in `pg_dir`, the admin key of `key_env`, logs to `log`; `rating_env`
    adds to (or overrides) the rating service's settings."""
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
        log_path=log,
    )
    rating = await start_service(
        rating_module,
        {
            "RATING_LISTEN": "127.0.0.1:0",
            "RATING_PLAINTEXT": "true",
            "RATING_LEDGER_PLAINTEXT": "true",
            "RATING_DATA_DIR": str(pg_dir),
            "RATING_LEDGER_TARGET": ledger.target,
            **key_env,
            **(rating_env or {}),
        },
        cwd=ROOT,
        log_path=log,
    )
    return ledger, rating


def events(customers: list[str], occurred: datetime, n: int) -> list[rpb.Event]:
    """`n` events of the bench's meter, spread over the customers, each with a new id."""
    return [
        rpb.Event(
            event_id=str(uuid.uuid4()),
            customer_id=customers[i % CUSTOMERS],
            type="llm",
            occurred_time=timestamp(occurred),
            properties={"tokens": "7"},
        )
        for i in range(n)
    ]


def batch(customers: list[str], occurred: datetime) -> rpb.IngestEventsRequest:
    return rpb.IngestEventsRequest(
        request_id=str(uuid.uuid4()), events=events(customers, occurred, 1000)
    )


async def run(batches: int, concurrency: int, profile: bool) -> dict[str, object]:
    shutil.rmtree(DATA / "postgres", ignore_errors=True)
    DATA.mkdir(parents=True, exist_ok=True)
    log = DATA / "services.log"
    log.unlink(missing_ok=True)
    pg_dir = DATA / "postgres"
    server_uri = database.embedded_server_uri(pg_dir)
    ledger_db = database.with_database(server_uri, "ledger")
    rating_db = database.with_database(server_uri, "rating")
    key_env = use_admin_key(DATA)
    ledger, rating = await start_services(
        pg_dir,
        log,
        key_env,
        rating_module="bench.rating_profiled" if profile else "rating_service",
        rating_env={
            "BENCH_PROFILE_OUT": str(DATA / "rating.prof"),
            "RATING_METRICS_LISTEN": "127.0.0.1:0",
        },
    )
    try:
        async with (
            channel(ledger.target) as lch,
            channel(rating.target) as rch,
        ):
            ledger_stub = ledger_pb2_grpc.LedgerServiceStub(lch)
            rating_stub = rating_pb2_grpc.RatingServiceStub(rch)
            start = datetime.now(UTC) + timedelta(seconds=30)
            customers = await set_up_rating(ledger_stub, rating_stub, start)
            requests = [batch(customers, start + timedelta(seconds=1)) for _ in range(batches)]
            queue = list(reversed(requests))

            async def sender() -> None:
                while queue:
                    await rating_stub.IngestEvents(queue.pop(), timeout=120)

            pids = {"rating": rating.process.pid, "ledger": ledger.process.pid}
            n0 = await debit_count(ledger_db)
            cpu0 = cpu_seconds(pids, pg_dir)
            t0 = time.monotonic()
            await asyncio.gather(*(sender() for _ in range(concurrency)))
            ingest_s = time.monotonic() - t0
            deadline = time.monotonic() + DRAIN_S_MAX
            while (left := await pending_charges(rating_db)) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            e2e_s = time.monotonic() - t0
            cpu1 = cpu_seconds(pids, pg_dir)
            booked = await debit_count(ledger_db) - n0
    finally:
        await rating.stop()
        await ledger.stop()
    events = batches * 1000
    return {
        "events": events,
        "ingest_concurrency": concurrency,
        "forward_concurrency": os.environ.get("RATING_FORWARD_CONCURRENCY", "default"),
        "ingest_s": round(ingest_s, 2),
        "ingest_events_per_s": round(events / ingest_s),
        "end_to_end_s": round(e2e_s, 2),
        "debits_booked": booked,
        "pending_left": left,
        "end_to_end_debits_per_s": round(booked / e2e_s),
        # CPU per event, in milliseconds, from the first batch until everything is delivered.
        "cpu_ms_per_event": {k: round(1000 * (cpu1[k] - cpu0[k]) / events, 3) for k in cpu1},
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--profile", action="store_true", help="run the rating service under cProfile"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.batches, args.concurrency, args.profile))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
