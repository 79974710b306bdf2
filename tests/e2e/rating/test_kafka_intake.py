"""The Kafka intake (rating_service/adapters/kafka_intake.py) against a real broker, the real
rating service's accept path and the real ledger: events read from the topic are rated and
charged once; a redelivered event is a duplicate; rejected events and malformed messages go to
the dead-letter topic with their reason and never stop the partition; offsets are committed
after the batch is durable, so a consumer started again reads nothing twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from decimal import Decimal

import asyncpg
from billing.rating.v1 import rating_pb2 as pb
from google.protobuf import json_format

from rating_service.adapters.kafka_intake import IntakeSettings, KafkaIntake, decode
from rating_service.app import commands as cmd
from tests.support import kafka_broker as kafka
from tests.support.cli import Cli
from tests.support.kafka_broker import produce, read_all
from tests.support.rating import event
from tests.support.servers import START
from tests.support.waiting import until

T = START + timedelta(hours=1)


def intake_settings(broker: kafka.Broker, **kw: object) -> IntakeSettings:
    run = uuid.uuid4().hex[:8]
    values: dict[str, object] = {
        "bootstrap_servers": broker.bootstrap,
        "topic": f"usage-{run}",
        "group_id": f"rating-{run}",
        "dead_letter_topic": f"usage-{run}-dead",
        "batch_max": 7,
    }
    values.update(kw)
    return IntakeSettings(**values)  # type: ignore[arg-type]


def as_json(e: pb.Event) -> bytes:
    return json_format.MessageToJson(e).encode()


class Running:
    """An intake running as the rating process runs it (a job told to stop by an event)."""

    def __init__(self, intake: KafkaIntake) -> None:
        self.intake = intake
        self.stopping = asyncio.Event()
        self.task = asyncio.create_task(intake.run(self.stopping))

    def handled(self) -> int:
        return sum(self.intake.state.counts.values())

    async def stop(self) -> None:
        self.stopping.set()
        async with asyncio.timeout(30):
            await self.task


def test_a_message_decodes_from_json_either_spelling_or_protobuf_or_is_malformed() -> None:
    e = event("c1", T, "e1", units="2")
    e.member_id = "team-a"  # a pooled wallet's member: "memberId" or "member_id" in JSON
    camel = decode(as_json(e), "json")
    snake = decode(json_format.MessageToJson(e, preserving_proto_field_name=True).encode(), "json")
    binary = decode(e.SerializeToString(), "protobuf")
    for d in (camel, snake, binary):
        assert isinstance(d, cmd.EventIn)
        assert (d.event_id, d.customer_id, d.occurred_time, dict(d.properties), d.member_id) == (
            "e1",
            "c1",
            T,
            {"units": "2"},
            "team-a",
        )
    for bad in (b"", b"{not json", b'{"eventId": 5, "nope": 1}', b"\xff\xfe"):
        assert getattr(decode(bad, "json"), "reason", None) == "MALFORMED_MESSAGE"
    nul = decode(json.dumps({"eventId": "a\u0000b"}).encode(), "json")
    assert getattr(nul, "reason", None) == "MALFORMED_MESSAGE"


async def test_events_from_the_topic_are_charged_once_and_the_bad_ones_dead_lettered(
    rating,
    kafka_broker: kafka.Broker,  # type: ignore[no-untyped-def]
) -> None:
    a = await rating.setup_customer(start=START)
    b = await rating.setup_customer(start=START)
    rating.clock.set(T)
    settings = intake_settings(kafka_broker)
    good = [
        event(s.customer_id, T, f"{s.customer_id}-{i}", units="2")
        for s in (a, b)
        for i in range(10)
    ]
    records = [(e.customer_id, as_json(e)) for e in good]
    records.insert(3, (a.customer_id, b"{this is not an event"))
    records.insert(8, ("nobody", as_json(event("nobody", T, "nobody-1", units="1"))))
    records.append((a.customer_id, as_json(good[0])))  # the same event again: a duplicate
    await produce(kafka_broker.bootstrap, settings.topic, records)

    running = Running(KafkaIntake(settings, rating.rating.app.ingest))
    await until(lambda: running.handled() == len(records), "every message is handled", bound_s=60)
    await running.stop()
    assert running.intake.state.counts == {
        "accepted": 20,
        "duplicate": 1,
        "malformed": 1,
        "rejected": 1,
    }

    dead = await read_all(kafka_broker.bootstrap, settings.dead_letter_topic, 2)
    reasons = sorted(dict(m.headers)["billing-error-reason"].decode() for m in dead)  # type: ignore[attr-defined]
    assert reasons == ["CUSTOMER_NOT_FOUND", "MALFORMED_MESSAGE"]
    assert {m.value for m in dead} == {b"{this is not an event", records[8][1]}  # type: ignore[attr-defined]
    for m in dead:
        source = dict(m.headers)["billing-source"].decode()  # type: ignore[attr-defined]
        assert source.startswith(f"{settings.topic}/")

    # The CLI shows the group as the broker sees it: everything committed, the two dead letters.
    group = ["--bootstrap-servers", kafka_broker.bootstrap, "--topic", settings.topic]
    group += ["--group", settings.group_id, "--dead-letter-topic", settings.dead_letter_topic]
    shown = await Cli("127.0.0.1:1")("--json", "intake", "status", *group)
    human = await Cli("127.0.0.1:1")("intake", "status", *group)
    assert f"Topic {settings.topic}, group {settings.group_id}" in human.stdout
    assert "Dead letters" in human.stdout
    status = shown.json()
    assert (status["lag"], status["dead_letters"]) == (0, 2)
    assert sum(p["committed"] for p in status["partitions"]) == len(records)

    await rating.drain()
    for s in (a, b):
        assert await rating.ledger.balance(s.wallet_id) == Decimal(-10)  # 10 events x 2 x 0.5

    # The offsets were committed: a consumer of the same group starting again reads nothing.
    again = Running(KafkaIntake(settings, rating.rating.app.ingest))
    await produce(
        kafka_broker.bootstrap,
        settings.topic,
        [(a.customer_id, as_json(event(a.customer_id, T, "late", units="2")))],
    )
    await until(lambda: again.handled() == 1, "the new message is handled", bound_s=60)
    await again.stop()
    assert again.intake.state.counts == {"accepted": 1}  # nothing of the first run again


async def test_the_database_dropping_connections_mid_topic_loses_and_doubles_nothing(
    rating,
    kafka_broker: kafka.Broker,  # type: ignore[no-untyped-def]
) -> None:
    """The rating database's connections are killed again and again while the intake reads the
    topic: a batch whose transaction fails is retried (its offset not committed), so every event
    is accepted once and charged once."""
    customers = [await rating.setup_customer(start=START) for _ in range(3)]
    rating.clock.set(T)
    settings = intake_settings(kafka_broker, batch_max=5)
    good = [
        event(s.customer_id, T, f"{s.customer_id}-{i}", units="2")
        for i in range(60)
        for s in customers
    ]
    await produce(
        kafka_broker.bootstrap, settings.topic, [(e.customer_id, as_json(e)) for e in good]
    )
    admin = await asyncpg.connect(rating.uri)
    running = Running(KafkaIntake(settings, rating.rating.app.ingest))
    kills = 0
    try:
        while running.handled() < len(good) and kills < 30:
            seen = running.handled()
            await until(
                lambda seen=seen: running.handled() > seen or running.handled() >= len(good),
                "the intake moves on",
                bound_s=60,
            )
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            kills += 1
        await until(lambda: running.handled() >= len(good), "every message is handled", bound_s=120)
        await running.stop()
        assert await admin.fetchval("SELECT count(*) FROM events") == len(good)
    finally:
        await admin.close()
    assert kills > 1
    counts = running.intake.state.counts
    assert counts.get("rejected", 0) == counts.get("malformed", 0) == 0
    await rating.drain()
    for s in customers:
        assert await rating.ledger.balance(s.wallet_id) == Decimal(-60)  # 60 events x 2 x 0.5


async def test_two_consumers_in_one_group_share_the_topic_and_one_leaving_loses_nothing(
    rating,
    kafka_broker: kafka.Broker,  # type: ignore[no-untyped-def]
) -> None:
    """Two intakes in one group (two rating processes or workers) divide the partitions; when one
    stops mid-topic the group gives its partitions to the other, which reads on from their last
    commit: every event is accepted once."""
    customers = [await rating.setup_customer(start=START) for _ in range(4)]
    rating.clock.set(T)
    settings = intake_settings(kafka_broker, batch_max=5)
    good = [
        event(s.customer_id, T, f"{s.customer_id}-{i}", units="2")
        for i in range(50)
        for s in customers
    ]
    # The topic exists before the group forms, and both members hold partitions before the rest
    # of it is produced.
    await produce(kafka_broker.bootstrap, settings.topic, [(good[0].customer_id, as_json(good[0]))])
    first = Running(KafkaIntake(settings, rating.rating.app.ingest))
    second = Running(KafkaIntake(settings, rating.rating.app.ingest))

    def divided() -> bool:
        a, b = first.intake.state.assigned, second.intake.state.assigned
        return bool(a) and bool(b) and not a & b

    await until(divided, "the group divides the partitions between both", bound_s=60)
    rest = [(e.customer_id, as_json(e)) for e in good[1:]]
    await produce(kafka_broker.bootstrap, settings.topic, rest)
    # Part of the topic is in before one consumer leaves (whose partitions hold events depends
    # on the keys' hashes: a consumer may have had only quiet ones).
    await until(
        lambda: first.handled() + second.handled() >= len(good) // 4,
        "a quarter of the topic is read",
        bound_s=60,
    )
    await first.stop()
    await until(
        lambda: (
            first.handled() + second.handled() >= len(good)
            and second.intake.state.counts.get("accepted", 0)
            + first.intake.state.counts.get("accepted", 0)
            == len(good)
        ),
        "every event is accepted",
        bound_s=120,
    )
    await second.stop()
    admin = await asyncpg.connect(rating.uri)
    try:
        assert await admin.fetchval("SELECT count(*) FROM events") == len(good)
    finally:
        await admin.close()
    await rating.drain()
    for s in customers:
        assert await rating.ledger.balance(s.wallet_id) == Decimal(-50)
