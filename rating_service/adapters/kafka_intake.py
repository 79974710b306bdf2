"""Usage events from a Kafka topic (rating_service/README.md, "Kafka intake").

A consumer group member reads batches from the usage topic. Each partition's batch, in offset
order, goes through the same accept path as `IngestEvents` in one transaction
(`Ingest.ingest_stream`: dedup by event id, per-event status). Events it rejects and messages that
are not an event at all go to the dead-letter topic with their reason, written with acks=all and
awaited. Only then is the partition's offset committed. So:

- a crash (kill -9) anywhere before the commit delivers the batch again: its accepted events answer
  DUPLICATE and are charged once (the forwarder sends each charge with a request id derived from
  the event id, which the ledger books once); nothing is lost, because nothing is committed before
  it is durable in the rating database or the dead-letter topic;
- the dead-letter topic is at least once: after such a crash a rejected message may be written
  there twice; its `billing-source` header (topic/partition/offset) identifies it;
- a malformed message never stops its partition: it is dead-lettered like a rejection;
- the database being unreachable stops nothing for good: the batch is retried with backoff, its
  offset not committed, until it is accepted or the process stops.

The consumer and the dead-letter producer connect as `billing_common/kafka_security.py` says
(plain text, TLS, SASL); the password file is read again at each connection. A broker that cannot
be used is retried with backoff, and the reason is logged each time: `kafka_intake_refused` (an
error: a wrong user, password, mechanism or certificate, which a person must fix; the fix is
picked up at the next attempt, no restart needed) or `kafka_intake_unavailable` (a warning:
nothing answers). Nothing is read, so nothing is lost: the topic keeps the events.

Producers key messages by customer id, so one customer's events stay in one partition, in order.
The consumer is trusted like an admin caller: whoever may write the topic may record any
customer's usage (topic ACLs are the boundary).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.errors import (  # type: ignore[import-untyped]
    CommitFailedError,
    IllegalStateError,
    KafkaError,
)
from billing.rating.v1 import rating_pb2 as pb
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from billing_common import database, kafka_security, metrics
from billing_common.grpc_handlers import nul_field
from rating_service import limits
from rating_service.adapters.grpc import convert
from rating_service.app import commands as cmd
from rating_service.app.ingest import Ingest

log = structlog.get_logger(__name__)

FORMATS = limits.KAFKA_FORMATS
MALFORMED = "MALFORMED_MESSAGE"
BACKOFF_BASE_S = 0.2
BACKOFF_MAX_S = 10.0


@dataclass(frozen=True, slots=True)
class IntakeSettings:
    bootstrap_servers: str
    topic: str
    group_id: str
    dead_letter_topic: str
    format: str = "json"
    batch_max: int = 500
    security: kafka_security.KafkaSecurity = field(default_factory=kafka_security.KafkaSecurity)


@dataclass(frozen=True, slots=True)
class Bad:
    """A message that is not an event of ours, or an event the accept path rejected."""

    reason: str
    message: str
    event_id: str = ""


def decode(value: bytes | None, fmt: str) -> cmd.EventIn | Bad:
    """One message as an event: JSON in the `Event` shape (proto3 JSON, camelCase or snake_case
    names) or a serialised protobuf `Event`; anything else is `Bad` with its reason."""
    if not value:
        return Bad(MALFORMED, "empty message")
    event = pb.Event()
    try:
        if fmt == "protobuf":
            event.ParseFromString(value)
        else:
            json_format.Parse(value.decode("utf-8"), event)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Bad(MALFORMED, f"not an Event ({fmt}): {exc}"[:500])
    if path := nul_field(event):
        return Bad(MALFORMED, f"{path} must not contain NUL characters", event.event_id)
    return convert.event_in(event)


@dataclass
class IntakeState:
    """What this process's consumer has done since it started (the metrics carry the same)."""

    assigned: set[TopicPartition] = field(default_factory=set)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    # Why the brokers could not be used at the last attempt (None: connected, or not yet tried).
    problem: kafka_security.Unreachable | None = None

    def count(self, outcome: str, n: int = 1) -> None:
        if n:
            self.counts[outcome] = self.counts.get(outcome, 0) + n
            metrics.KAFKA_MESSAGES.labels(outcome).inc(n)


class KafkaIntake:
    def __init__(self, settings: IntakeSettings, ingest: Ingest) -> None:
        if settings.format not in FORMATS:
            raise ValueError(f"kafka format must be one of {FORMATS}")
        self.settings = settings
        self.ingest = ingest
        self.state = IntakeState()

    async def run(self, stopping: asyncio.Event) -> None:
        """Consume until told to stop; a broker that cannot be reached is retried with backoff."""
        security = self.settings.security
        if security.security_protocol == "SASL_PLAINTEXT" and security.sasl_mechanism == "PLAIN":
            log.warning(
                "kafka_password_in_clear",
                detail="SASL_PLAINTEXT with PLAIN sends the Kafka password unencrypted: use "
                "SASL_SSL (or SCRAM) where the network is not trusted",
            )
        delay = BACKOFF_BASE_S
        while not stopping.is_set():
            try:
                connection = kafka_security.connection_kwargs(self.settings.security)
            except ValueError as exc:  # checked at start; a password file being rotated
                self._refused(kafka_security.Unreachable("settings", str(exc)), delay)
            else:
                try:
                    await self._consume(stopping, connection)
                    return
                except KafkaError as exc:
                    await self._unavailable(exc, connection, delay)
            await _wait(stopping, delay)
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def _unavailable(
        self, exc: KafkaError, connection: dict[str, object], delay: float
    ) -> None:
        """Log why the brokers could not be used: aiokafka says only "Unable to bootstrap",
        so ask once more what the brokers answer."""
        problem = await kafka_security.diagnose(self.settings.bootstrap_servers, connection)
        if problem is not None and problem.kind != "network":
            self._refused(problem, delay)
            return
        self.state.problem = problem or kafka_security.Unreachable("network", repr(exc))
        log.warning(
            "kafka_intake_unavailable",
            error=repr(exc),
            detail=self.state.problem.detail,
            retry_in_s=delay,
        )

    def _refused(self, problem: kafka_security.Unreachable, delay: float) -> None:
        self.state.problem = problem
        log.error(
            "kafka_intake_refused",
            kind=problem.kind,
            detail=problem.detail,
            fix="check the RATING_KAFKA_SECURITY_PROTOCOL, _SASL_* and _SSL_CA_FILE settings "
            "(rating_service/README.md, Kafka intake); the next attempt reads them again",
            retry_in_s=delay,
        )

    async def _consume(self, stopping: asyncio.Event, connection: dict[str, object]) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            s.topic,
            bootstrap_servers=s.bootstrap_servers,
            group_id=s.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=s.batch_max,
            **connection,
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap_servers, acks="all", enable_idempotence=True, **connection
        )
        try:  # both stopped, whichever start failed (an unstopped client leaks its connections)
            await producer.start()
            await consumer.start()
            self.state.problem = None
            log.info(
                "kafka_intake_started",
                topic=s.topic,
                group=s.group_id,
                security_protocol=s.security.security_protocol,
            )
            while not stopping.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=s.batch_max)
                self.state.assigned = set(consumer.assignment())
                for tp, messages in batches.items():
                    if not await self._partition_batch(consumer, producer, tp, messages, stopping):
                        return
                self._lag(consumer)
        finally:
            try:
                await consumer.stop()
            finally:
                await producer.stop()

    async def _partition_batch(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        tp: TopicPartition,
        messages: Sequence[object],
        stopping: asyncio.Event,
    ) -> bool:
        """Accept one partition's batch, dead-letter what is bad, then commit its offset.
        False: told to stop before the batch was durable (nothing committed)."""
        started = time.monotonic()
        decoded = [decode(m.value, self.settings.format) for m in messages]  # type: ignore[attr-defined]
        events = [d for d in decoded if isinstance(d, cmd.EventIn)]
        outcomes = await self._accept(events, stopping) if events else []
        if outcomes is None:
            return False
        by_event = iter(outcomes)
        dead: list[tuple[object, Bad]] = []
        accepted = duplicate = 0
        for message, d in zip(messages, decoded, strict=True):
            if isinstance(d, Bad):
                self.state.count("malformed")
                dead.append((message, d))
                continue
            outcome = next(by_event)
            if outcome.status is cmd.EventStatus.DUPLICATE:
                duplicate += 1
            elif outcome.status is cmd.EventStatus.REJECTED:
                error = outcome.error
                reason = error.reason if error is not None else "REJECTED"
                text = error.message if error is not None else ""
                self.state.count("rejected")
                dead.append((message, Bad(reason, text, outcome.event_id)))
            else:
                accepted += 1
        self.state.count("accepted", accepted)
        self.state.count("duplicate", duplicate)
        if dead:
            sent = [await producer.send(*_dead_letter(self.settings, tp, m, b)) for m, b in dead]
            await asyncio.gather(*sent)  # acks=all: durable on the broker before the commit
        offset = messages[-1].offset + 1  # type: ignore[attr-defined]
        try:
            await consumer.commit({tp: offset})
        except (CommitFailedError, IllegalStateError) as exc:
            # The partition moved to another member (a rebalance): it reads from the last
            # commit, and the event ids make what it reads again duplicates.
            log.warning("kafka_commit_failed", partition=tp.partition, error=repr(exc))
            return True
        self.state.committed[tp] = offset
        metrics.KAFKA_BATCH_SECONDS.observe(time.monotonic() - started)
        return True

    async def _accept(
        self, events: list[cmd.EventIn], stopping: asyncio.Event
    ) -> list[cmd.EventOutcome] | None:
        """The batch's outcomes, retried with backoff while it fails (None: told to stop
        meanwhile). Nothing of a failed attempt is committed, in the database or on the topic."""
        delay = BACKOFF_BASE_S
        while True:
            try:
                return await self.ingest.ingest_stream(events)
            except Exception as exc:  # the partition waits; a restart would read it again too
                level = log.warning if database.is_transient(exc) else log.error
                level("kafka_batch_retry", error=repr(exc), retry_in_s=delay)
            if await _wait(stopping, delay):
                return None
            delay = min(delay * 2, BACKOFF_MAX_S)

    def _lag(self, consumer: AIOKafkaConsumer) -> None:
        """Per assigned partition: its end offset minus this consumer's last commit."""
        for tp in self.state.assigned:
            end = consumer.highwater(tp)
            done = self.state.committed.get(tp)
            if end is not None and done is not None:
                metrics.KAFKA_LAG.labels(str(tp.partition)).set(max(end - done, 0))


def _dead_letter(
    settings: IntakeSettings, tp: TopicPartition, message: object, bad: Bad
) -> tuple[str, bytes | None, bytes | None, None, None, list[tuple[str, bytes]]]:
    """(topic, value, key, partition, timestamp, headers) of a message's dead letter: the message
    as it came, its reason and where it came from."""
    headers = [
        ("billing-error-reason", bad.reason.encode()),
        ("billing-error-message", bad.message.encode()),
        ("billing-source", f"{tp.topic}/{tp.partition}/{message.offset}".encode()),  # type: ignore[attr-defined]
    ]
    if bad.event_id:
        headers.append(("billing-event-id", bad.event_id.encode()))
    return (
        settings.dead_letter_topic,
        message.value,  # type: ignore[attr-defined]
        message.key,  # type: ignore[attr-defined]
        None,
        None,
        headers,
    )


async def _wait(stopping: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` or until stopping; True if stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
    return stopping.is_set()
