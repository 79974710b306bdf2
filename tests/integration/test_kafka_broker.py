"""The tests' Kafka broker (tests/support/kafka_broker.py) is a real one: a record produced with
acks=all is read back by a consumer group, in order per key, and the broker survives kill -9
with what it acknowledged."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]

from tests.support import kafka_broker as kafka


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, count: int) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"g-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[tuple[bytes, bytes]] = []
    try:
        while len(seen) < count:
            batch = await consumer.getmany(timeout_ms=1000)
            seen += [(m.key, m.value) for messages in batch.values() for m in messages]
    finally:
        await consumer.stop()
    return seen


async def test_records_are_read_back_in_order_per_key(kafka_broker: kafka.Broker) -> None:
    topic = f"t-{uuid.uuid4().hex}"
    records = [(f"c{i % 3}".encode(), f"{i}".encode()) for i in range(30)]
    await produce(kafka_broker.bootstrap, topic, records)
    seen = await consume(kafka_broker.bootstrap, topic, len(records))
    assert sorted(seen) == sorted(records)
    for key in {k for k, _ in records}:
        assert [v for k, v in seen if k == key] == [v for k, v in records if k == key]


async def test_a_broker_killed_with_kill_9_keeps_what_it_acknowledged(tmp_path) -> None:  # type: ignore[no-untyped-def]
    reason = kafka.missing()
    if reason:
        pytest.skip(reason)
    broker = kafka.Broker(tmp_path / "k").start()
    try:
        topic = f"t-{uuid.uuid4().hex}"
        await produce(broker.bootstrap, topic, [(b"k", b"before")])
        broker.kill()
        broker.start()
        await produce(broker.bootstrap, topic, [(b"k", b"after")])
        assert await consume(broker.bootstrap, topic, 2) == [(b"k", b"before"), (b"k", b"after")]
    finally:
        broker.stop()
