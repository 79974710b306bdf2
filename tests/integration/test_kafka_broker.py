"""The tests' Kafka broker (tests/support/kafka_broker.py) is a real one: a record produced with
acks=all is read back by a consumer group, in order per key, and the broker survives kill -9
with what it acknowledged."""

from __future__ import annotations

import uuid

import pytest

from tests.support import kafka_broker as kafka


async def consume(bootstrap: str, topic: str, count: int) -> list[tuple[bytes, bytes]]:
    return [(m.key, m.value) for m in await kafka.read_all(bootstrap, topic, count)]


async def test_records_are_read_back_in_order_per_key(kafka_broker: kafka.Broker) -> None:
    topic = f"t-{uuid.uuid4().hex}"
    records = [(f"c{i % 3}".encode(), f"{i}".encode()) for i in range(30)]
    await kafka.produce(kafka_broker.bootstrap, topic, records)
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
        await kafka.produce(broker.bootstrap, topic, [(b"k", b"before")])
        broker.kill()
        broker.start()
        await kafka.produce(broker.bootstrap, topic, [(b"k", b"after")])
        assert await consume(broker.bootstrap, topic, 2) == [(b"k", b"before"), (b"k", b"after")]
    finally:
        broker.stop()
