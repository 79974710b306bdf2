"""`billing intake status`: the Kafka intake's consumer group as the broker sees it. Per partition
of the usage topic: the offset the group committed (everything before it is durably accepted or
dead-lettered), the partition's end and the lag between them; and how many dead letters the
dead-letter topic holds. It asks the broker, not a rating process, so it shows the group whichever
processes serve it (or none). The processes' own counters are Prometheus metrics
(`billing_rating_kafka_*`).

It connects as the rating service does (billing_common/kafka_security.py): the same settings, from
the same environment variables (RATING_KAFKA_SECURITY_PROTOCOL, _SASL_MECHANISM, _SASL_USERNAME,
_SASL_PASSWORD_FILE, _SSL_CA_FILE) or the options of the same names; a refused login is
UNAUTHENTICATED with the broker's reason, a broker that cannot be reached UNAVAILABLE."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
from aiokafka.errors import KafkaConnectionError, KafkaError  # type: ignore[import-untyped]

from billing_cli.errors import EXIT_USAGE, RpcFailure
from billing_cli.render import pairs, table
from billing_cli.state import state_of
from billing_common import kafka_security

intake = typer.Typer(help="The rating service's Kafka intake.", no_args_is_help=True)


def _env(name: str, default: str) -> str:
    """The rating service's own setting (RATING_KAFKA_...), so the CLI and the service agree."""
    return os.environ.get(f"RATING_KAFKA_{name}", default)


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> list[TopicPartition]:
    (described,) = await admin.describe_topics([topic])
    return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])


class Refused(Exception):
    """The brokers cannot be used, and why (kafka_security.diagnose)."""

    def __init__(self, problem: kafka_security.Unreachable) -> None:
        super().__init__(problem.detail)
        self.problem = problem


async def _status(
    bootstrap: str, topic: str, group: str, dead_letter: str, connection: dict[str, Any]
) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **connection)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **connection)
    try:
        try:
            await consumer.start()
            await admin.start()
        except KafkaConnectionError:
            problem = await kafka_security.diagnose(bootstrap, connection)
            if problem is None:
                raise
            raise Refused(problem) from None
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
    finally:  # both closed, whichever start failed
        try:
            await consumer.stop()
        finally:
            await admin.close()


@intake.command("status")
def status(
    ctx: typer.Context,
    bootstrap_servers: Annotated[
        str, typer.Option(help="Kafka brokers (default: $RATING_KAFKA_BOOTSTRAP_SERVERS).")
    ] = "",
    topic: Annotated[str, typer.Option(help="The usage topic.")] = "",
    group: Annotated[str, typer.Option(help="The rating service's consumer group.")] = "",
    dead_letter_topic: Annotated[str, typer.Option(help="The dead-letter topic.")] = "",
    security_protocol: Annotated[
        str,
        typer.Option(
            help="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL "
            "(default: $RATING_KAFKA_SECURITY_PROTOCOL, else PLAINTEXT)."
        ),
    ] = "",
    sasl_mechanism: Annotated[
        str,
        typer.Option(
            help="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default: $RATING_KAFKA_SASL_MECHANISM)."
        ),
    ] = "",
    sasl_username: Annotated[
        str, typer.Option(help="SASL user (default: $RATING_KAFKA_SASL_USERNAME).")
    ] = "",
    sasl_password_file: Annotated[
        str,
        typer.Option(
            help="File holding the SASL password (default: $RATING_KAFKA_SASL_PASSWORD_FILE)."
        ),
    ] = "",
    ssl_ca_file: Annotated[
        str,
        typer.Option(
            help="CA file the broker's certificate is checked against "
            "(default: $RATING_KAFKA_SSL_CA_FILE, else the system's trusted roots)."
        ),
    ] = "",
) -> None:
    """Committed offset, end and lag per partition of the usage topic, and the dead letters."""
    state = state_of(ctx)
    security = kafka_security.KafkaSecurity(
        security_protocol=security_protocol or _env("SECURITY_PROTOCOL", "PLAINTEXT"),
        sasl_mechanism=sasl_mechanism or _env("SASL_MECHANISM", ""),
        sasl_username=sasl_username or _env("SASL_USERNAME", ""),
        sasl_password_file=sasl_password_file or _env("SASL_PASSWORD_FILE", ""),
        ssl_ca_file=ssl_ca_file or _env("SSL_CA_FILE", ""),
    )
    try:
        connection = kafka_security.connection_kwargs(security)
    except ValueError as exc:  # a wrong setting: refused before any connection
        state.print_failure(RpcFailure("intake status", "INVALID_ARGUMENT", str(exc), kind="usage"))
        raise typer.Exit(EXIT_USAGE) from None
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
                    connection,
                ),
                state.timeout,
            )
        )
    except Refused as exc:
        code = "UNAUTHENTICATED" if exc.problem.kind == "authentication" else "UNAVAILABLE"
        state.fail(RpcFailure("intake status", code, f"Kafka at {bootstrap}: {exc.problem.detail}"))
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
