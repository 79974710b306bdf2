"""Kafka topic to booked ledger debits, against IngestEvents in the same run:
`python bench/kafka_e2e.py [--events N]` (`make bench-kafka`).

Method. Starts a real Kafka broker (KRaft, `make kafka-tools`; tests/support/kafka_broker.py),
the ledger and the rating service as real processes on a fresh embedded PostgreSQL in
.data/bench_kafka/postgres, the rating service consuming the topic (one process, one consumer,
`RATING_KAFKA_BATCH_MAX` 500 unless set in the environment). Sets up the plan and 50 customers of
`bench/run.py`, then measures, one after the other on the same services:

1. **reference, IngestEvents**: N events in batches of 1,000 (asynchronous mode, 2 calls in
   flight), timed from the first call until the ledger has booked a DEBIT for each;
2. **Kafka**: the same number of events produced to the topic (JSON `Event`, keyed by customer,
   acks=all, the producer pipelining as a real one does), timed from the first message produced
   until the ledger has booked a DEBIT for each; the producing time alone is printed too.

Both end-to-end rates count debits booked in the ledger (its database), so each includes rating,
the forwarder and the ledger. Prints the method, the two rates and their ratio, CPU per event of
each process, as JSON on the last line (also written to bench/results/<time>-kafka.json). The
machine may be shared: compare the two figures of one run, not figures of different runs.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]  # noqa: E402
from billing.ledger.v1 import ledger_pb2_grpc  # noqa: E402
from billing.rating.v1 import rating_pb2 as rpb  # noqa: E402
from billing.rating.v1 import rating_pb2_grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402

from bench.ingest_e2e import cpu_seconds, events, start_services  # noqa: E402
from bench.run import channel, debit_count, set_up_rating, use_admin_key  # noqa: E402
from billing_common import database  # noqa: E402
from tests.support.kafka_broker import Broker, missing  # noqa: E402

DATA = ROOT / ".data" / "bench_kafka"
DRAIN_S_MAX = 600
TOPIC = "bench.usage"


async def booked(ledger_db: str, base: int, n: int) -> float:
    """Wait until `n` more debits than `base` are booked; the monotonic time then."""
    deadline = time.monotonic() + DRAIN_S_MAX
    while await debit_count(ledger_db) - base < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"not every debit was booked within {DRAIN_S_MAX} s")
        await asyncio.sleep(0.02)  # polling the ledger's database, not a fixed wait
    return time.monotonic()


async def produce(bootstrap: str, batch: list[rpb.Event]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = [
            await producer.send(
                TOPIC, json_format.MessageToJson(e).encode(), key=e.customer_id.encode()
            )
            for e in batch
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def run(n: int) -> dict[str, object]:
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    broker = Broker(DATA / "kafka").start()
    log = DATA / "services.log"
    pg_dir = DATA / "postgres"
    server_uri = database.embedded_server_uri(pg_dir)
    ledger_db = database.with_database(server_uri, "ledger")
    key_env = use_admin_key(DATA)
    batch_max = os.environ.get("RATING_KAFKA_BATCH_MAX", "500")
    ledger, rating = await start_services(
        pg_dir,
        log,
        key_env,
        rating_env={
            "RATING_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "RATING_KAFKA_TOPIC": TOPIC,
            "RATING_KAFKA_BATCH_MAX": batch_max,
        },
    )
    pids = {"rating": rating.process.pid, "ledger": ledger.process.pid}
    try:
        async with channel(ledger.target) as lch, channel(rating.target) as rch:
            ledger_stub = ledger_pb2_grpc.LedgerServiceStub(lch)
            rating_stub = rating_pb2_grpc.RatingServiceStub(rch)
            start = datetime.now(UTC) + timedelta(seconds=30)
            customers = await set_up_rating(ledger_stub, rating_stub, start)
            occurred = start + timedelta(seconds=1)

            # 1. The reference: IngestEvents, batches of 1,000, 2 calls in flight.
            grpc_events = events(customers, occurred, n)
            queue = [
                rpb.IngestEventsRequest(
                    request_id=str(uuid.uuid4()), events=grpc_events[i : i + 1000]
                )
                for i in range(0, n, 1000)
            ]

            async def sender() -> None:
                while queue:
                    await rating_stub.IngestEvents(queue.pop(), timeout=120)

            base = await debit_count(ledger_db)
            cpu0 = cpu_seconds(pids, pg_dir)
            t0 = time.monotonic()
            await asyncio.gather(sender(), sender())
            t1 = await booked(ledger_db, base, n)
            cpu1 = cpu_seconds(pids, pg_dir)

            # 2. Kafka: the same number of events through the topic.
            kafka_events = events(customers, occurred, n)
            base = await debit_count(ledger_db)
            t2 = time.monotonic()
            await produce(broker.bootstrap, kafka_events)
            produced = time.monotonic()
            t3 = await booked(ledger_db, base, n)
            cpu2 = cpu_seconds(pids, pg_dir)
    finally:
        await rating.stop()
        await ledger.stop()
        broker.stop()
    grpc_rate = n / (t1 - t0)
    kafka_rate = n / (t3 - t2)

    def per_event(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        return {k: round(1000 * (b[k] - a[k]) / n, 3) for k in b}

    return {
        "method": (
            f"{n} events each way on one ledger and one rating process (embedded PostgreSQL, "
            f"one Kafka broker, KRaft), one after the other; IngestEvents: batches of 1,000, "
            f"2 in flight; Kafka: JSON Event keyed by customer, acks=all, consumer batches of "
            f"{batch_max}; each timed until the ledger booked every debit"
        ),
        "events": n,
        "ingest_events_end_to_end_debits_per_s": round(grpc_rate),
        "kafka_end_to_end_debits_per_s": round(kafka_rate),
        "kafka_over_ingest_events": round(kafka_rate / grpc_rate, 2),
        "kafka_produce_s": round(produced - t2, 2),
        "cpu_ms_per_event_ingest_events": per_event(cpu0, cpu1),
        "cpu_ms_per_event_kafka": per_event(cpu1, cpu2),
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    reason = missing()
    if reason:
        raise SystemExit(f"kafka_e2e: {reason}")
    result = asyncio.run(run(args.events))
    print(f"method: {result['method']}")
    print(
        f"IngestEvents end to end: {result['ingest_events_end_to_end_debits_per_s']:,} debits/s; "
        f"Kafka end to end: {result['kafka_end_to_end_debits_per_s']:,} debits/s "
        f"({result['kafka_over_ingest_events']} of IngestEvents); "
        f"producing alone took {result['kafka_produce_s']} s"
    )
    out = ROOT / "bench" / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-kafka.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
