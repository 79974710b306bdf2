"""`billing intake status`: the Kafka intake's consumer group as the broker sees it. Per partition
of the usage topic: the offset the group committed (everything before it is durably accepted or
dead-lettered), the partition's end and the lag between them; and how many dead letters the
dead-letter topic holds. It asks the broker, not a rating process, so it shows the group whichever
processes serve it (or none). The processes' own counters are Prometheus metrics
(`billing_rating_kafka_*`)."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]

from billing_cli.errors import RpcFailure
from billing_cli.render import pairs, table
from billing_cli.state import state_of

intake = typer.Typer(help="The rating service's Kafka intake.", no_args_is_help=True)


def _env(name: str, default: str) -> str:
    """The rating service's own setting (RATING_KAFKA_...), so the CLI and the service agree."""
    return os.environ.get(f"RATING_KAFKA_{name}", default)


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> list[TopicPartition]:
    (described,) = await admin.describe_topics([topic])
    return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])


async def _status(bootstrap: str, topic: str, group: str, dead_letter: str) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        topics = set(await admin.list_topics())
        if topic not in topics:
            return {"topic": topic, "group": group, "partitions": [], "lag": 0, "dead_letters": 0}
        parts = await _partitions(admin, topic)
        ends = await consumer.end_offsets(parts)
        committed = await admin.list_consumer_group_offsets(group, partitions=parts)
        rows = []
        for tp in parts:
            done = committed.get(tp)
            at = done.offset if done is not None and done.offset >= 0 else 0
            rows.append(
                {"partition": tp.partition, "committed": at, "end": ends[tp], "lag": ends[tp] - at}
            )
        dead = 0
        if dead_letter in topics:
            dead_parts = await _partitions(admin, dead_letter)
            starts = await consumer.beginning_offsets(dead_parts)
            dead_ends = await consumer.end_offsets(dead_parts)
            dead = sum(dead_ends[tp] - starts[tp] for tp in dead_parts)
        return {
            "topic": topic,
            "group": group,
            "partitions": rows,
            "lag": sum(r["lag"] for r in rows),
            "dead_letters": dead,
        }
    finally:
        await admin.close()
        await consumer.stop()


@intake.command("status")
def status(
    ctx: typer.Context,
    bootstrap_servers: Annotated[
        str, typer.Option(help="Kafka brokers (default: $RATING_KAFKA_BOOTSTRAP_SERVERS).")
    ] = "",
    topic: Annotated[str, typer.Option(help="The usage topic.")] = "",
    group: Annotated[str, typer.Option(help="The rating service's consumer group.")] = "",
    dead_letter_topic: Annotated[str, typer.Option(help="The dead-letter topic.")] = "",
) -> None:
    """Committed offset, end and lag per partition of the usage topic, and the dead letters."""
    state = state_of(ctx)
    bootstrap = bootstrap_servers or _env("BOOTSTRAP_SERVERS", "")
    if not bootstrap:
        state.fail(
            RpcFailure(
                "intake status",
                "INVALID_ARGUMENT",
                "--bootstrap-servers (or RATING_KAFKA_BOOTSTRAP_SERVERS) is required",
                kind="usage",
            )
        )
    topic = topic or _env("TOPIC", "billing.usage")
    try:
        data = asyncio.run(
            asyncio.wait_for(
                _status(
                    bootstrap,
                    topic,
                    group or _env("GROUP_ID", "billing-rating"),
                    dead_letter_topic or _env("DEAD_LETTER_TOPIC", "billing.usage.dead-letter"),
                ),
                state.timeout,
            )
        )
    except (KafkaError, TimeoutError, OSError) as exc:
        state.fail(RpcFailure("intake status", "UNAVAILABLE", f"Kafka at {bootstrap}: {exc!r}"))

    def show() -> None:
        state.out.print(
            table(
                f"Topic {data['topic']}, group {data['group']}",
                ["Partition", "Committed", "End", "Lag"],
                [[r["partition"], r["committed"], r["end"], r["lag"]] for r in data["partitions"]],
            )
        )
        state.out.print(pairs(None, [("Lag", data["lag"]), ("Dead letters", data["dead_letters"])]))

    state.emit(data, show)
