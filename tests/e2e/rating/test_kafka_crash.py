"""Exactly once from Kafka to the ledger, with real processes and a real broker: the rating
service consumes a topic of usage events and is killed (SIGKILL) in the middle of it, then
started again. Afterwards every event on the topic is charged exactly once (one DEBIT per event
id in the ledger, none twice, none missing) and the dead-letter topic holds exactly the bad
messages (at least once: a dead letter written again after the crash names the same source).

Waiting is on conditions only: "some but not all events are in the rating database" before the
kill, "every event is charged" after."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.ledger.v1 import ledger_pb2_grpc
from billing.rating.v1 import rating_pb2_grpc

from billing_common.process import ServiceProcess
from tests.e2e.rating.test_kafka_intake import as_json
from tests.e2e.rating.test_rating_crash import start_ledger, start_rating
from tests.support import kafka_broker as kafka
from tests.support.channels import open_channel
from tests.support.kafka_broker import produce, read_all
from tests.support.ledger import make_wallet
from tests.support.processes import free_port
from tests.support.rating import event, setup_customer
from tests.support.waiting import until

CUSTOMERS = 3
EVENTS_PER_CUSTOMER = 800
BAD = 6


async def start_consuming(
    uri: str, ledger_port: int, broker: kafka.Broker, topic: str
) -> ServiceProcess:
    """The rating service of test_rating_crash, consuming `topic` in small batches: many
    transactions, so the kill lands between two of them."""
    return await start_rating(
        uri,
        ledger_port,
        kafka_bootstrap_servers=broker.bootstrap,
        kafka_topic=topic,
        kafka_group_id=f"{topic}-rating",
        kafka_dead_letter_topic=f"{topic}-dead",
        kafka_batch_max="10",
    )


async def debited_event_ids(stub: object, wallet_id: str) -> list[str]:
    ids: list[str] = []
    token = ""
    while True:
        page = await stub.ListEntries(  # type: ignore[attr-defined]
            lpb.ListEntriesRequest(
                wallet_id=wallet_id, types=[lpb.ENTRY_TYPE_DEBIT], page_size=500, page_token=token
            )
        )
        ids += [e.source_event_id for e in page.entries]
        token = page.next_page_token
        if not token:
            return ids


async def test_kill_9_mid_topic_charges_every_event_on_it_exactly_once(
    new_database,
    rating_template: str,
    ledger_db: str,
    kafka_broker: kafka.Broker,  # type: ignore[no-untyped-def]
) -> None:
    topic = f"usage-{uuid.uuid4().hex[:8]}"
    rating_uri = await new_database("rating", rating_template)
    ledger_port = free_port()
    ledger = await start_ledger(ledger_db, ledger_port)
    rating = await start_consuming(rating_uri, ledger_port, kafka_broker, topic)
    ledger_channel = open_channel(f"127.0.0.1:{ledger_port}")
    rating_db = await asyncpg.connect(rating_uri)
    try:
        lstub = ledger_pb2_grpc.LedgerServiceStub(ledger_channel)
        channel = open_channel(rating.target)
        rstub = rating_pb2_grpc.RatingServiceStub(channel)
        # Prices and plans take effect now or later, never in the past.
        start = datetime.now(UTC) + timedelta(seconds=1)
        wallets: dict[str, str] = {}
        for _ in range(CUSTOMERS):
            wallet = await make_wallet(lstub, policy=lpb.OVERAGE_POLICY_ALLOW_OVERAGE)
            await setup_customer(
                rstub, start=start, wallet_id=wallet.wallet_id, customer_id=wallet.customer_id
            )
            wallets[wallet.customer_id] = wallet.wallet_id
        await channel.close()
        await until(lambda: datetime.now(UTC) > start, "the plans are in force")

        at = datetime.now(UTC)
        records: list[tuple[str, bytes]] = []
        for i in range(EVENTS_PER_CUSTOMER):
            for customer in wallets:
                records.append(
                    (customer, as_json(event(customer, at, f"{customer}-{i}", units="1")))
                )
        for b in range(BAD):
            records.insert(97 * (b + 1), (f"bad-{b}", f"not an event {b}".encode()))
        expected = {
            customer: sorted(f"{customer}-{i}" for i in range(EVENTS_PER_CUSTOMER))
            for customer in wallets
        }
        total = CUSTOMERS * EVENTS_PER_CUSTOMER
        await produce(kafka_broker.bootstrap, topic, records)

        async def accepted() -> int:
            return int(await rating_db.fetchval("SELECT count(*) FROM events"))

        async def a_quarter_in() -> bool:
            return await accepted() >= total // 4

        await until(a_quarter_in, "a quarter of the events are in", bound_s=120)
        await rating.kill()  # SIGKILL mid-topic
        assert await accepted() < total, "the kill came after the whole topic: nothing tested"
        rating = await start_consuming(rating_uri, ledger_port, kafka_broker, topic)

        async def charged() -> bool:
            got = [await debited_event_ids(lstub, w) for w in wallets.values()]
            return sum(map(len, got)) >= total

        await until(charged, "every event is charged", bound_s=180)
        for customer, wallet_id in wallets.items():
            assert sorted(await debited_event_ids(lstub, wallet_id)) == expected[customer]

        def sources(messages: list[object]) -> set[bytes]:
            return {dict(m.headers)["billing-source"] for m in messages}  # type: ignore[attr-defined]

        dead = await read_all(
            kafka_broker.bootstrap, f"{topic}-dead", BAD, lambda seen: len(sources(seen)) >= BAD
        )
        assert len(sources(dead)) == BAD
        assert {m.value for m in dead} == {f"not an event {b}".encode() for b in range(BAD)}  # type: ignore[attr-defined]
    finally:
        await rating_db.close()
        await ledger_channel.close()
        await rating.kill()
        await ledger.kill()
