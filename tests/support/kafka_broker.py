"""A real Apache Kafka broker for the tests: KRaft mode (broker and controller in one JVM), from
the jars `make kafka-tools` resolves from Maven Central into .tools/kafka/libs
(tools/kafka/pom.xml), run with the installed Java on free ports in a folder of its own, stopped
afterwards.

`Broker.start()` formats the storage (`kafka.tools.StorageTool format --standalone`), starts
`kafka.Kafka server.properties` and returns once the broker has said it started and accepts
connections: a condition, not a sleep (about 1.5 s here). `kill()` is kill -9 (a test of a crash),
`stop()` a clean stop. A short `broker.session.timeout.ms` lets a broker started again on the same
folder re-register at once.

`Broker(folder, secure=SecureListener(...))` adds a second listener, SASL_SSL on `secure_port`
(`secure_bootstrap`): TLS with a PEM certificate and key (Kafka's PEM key store), SASL/PLAIN and
SCRAM-SHA-256/512 with the given users (SCRAM credentials are written when the storage is
formatted). The plain-text listener stays, for the broker's own traffic and for test set-up.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]

from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
LIBS = ROOT / ".tools" / "kafka" / "libs"
POM = ROOT / "tools" / "kafka" / "pom.xml"
READY_LINE = "Kafka Server started"
START_TIMEOUT_S = 60.0

LOG4J = """\
rootLogger.level=WARN
rootLogger.appenderRef.file.ref=FILE
appender.file.type=File
appender.file.name=FILE
appender.file.fileName={log}
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
logger.started.name=kafka.server.KafkaRaftServer
logger.started.level=INFO
"""


def missing() -> str | None:
    """Why a broker cannot start here (None: it can)."""
    if shutil.which("java") is None:
        return "no java on PATH (the Kafka tests need Java 17 or later)"
    if not (LIBS / ".installed").exists():
        return f"Kafka's jars are not installed: run `make kafka-tools` (mvn, {POM.name})"
    return None


def cluster_id() -> str:
    """A random cluster id as Kafka writes them (URL-safe base64 of 16 bytes), never starting
    with "-" (the storage tool would read it as an option, as Kafka's own ids avoid)."""
    while True:
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not found.startswith("-"):
            return found


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class SecureListener:
    """A SASL_SSL listener: the broker's certificate chain and key (PEM, the key unencrypted
    PKCS#8, as billing_common/devcerts.py writes them) and its users (name: password)."""

    cert_file: Path
    key_file: Path
    users: dict[str, str]


SECURE = "SASL_SSL"
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass
class Broker:
    """One KRaft broker in `folder`: `bootstrap` is what clients connect to (plain text);
    `secure_bootstrap` the SASL_SSL listener's address, with `secure`."""

    folder: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    secure: SecureListener | None = None
    secure_port: int = field(default_factory=free_port)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secure_bootstrap(self) -> str:
        return f"127.0.0.1:{self.secure_port}"

    @property
    def log(self) -> Path:
        return self.folder / "broker.log"

    def _java(self, *args: str) -> list[str]:
        return [
            "java",
            "-Xms64m",
            "-Xmx384m",
            f"-Dlog4j2.configurationFile={self.folder / 'log4j2.properties'}",
            "-cp",
            f"{LIBS}/*",
            *args,
        ]

    def _secure_lines(self) -> list[str]:
        """The SASL_SSL listener's settings: a PEM key store (key and chain in one file) and
        the users' JAAS configuration for PLAIN (SCRAM's credentials live in the metadata)."""
        if self.secure is None:
            return []
        keystore = self.folder / "keystore.pem"
        keystore.write_bytes(self.secure.key_file.read_bytes() + self.secure.cert_file.read_bytes())
        keystore.chmod(0o600)
        prefix = f"listener.name.{SECURE.lower()}"
        plain_users = " ".join(f'user_{name}="{pw}"' for name, pw in self.secure.users.items())
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return [
            f"{prefix}.ssl.keystore.type=PEM",
            f"{prefix}.ssl.keystore.location={keystore}",
            f"{prefix}.sasl.enabled.mechanisms={','.join(MECHANISMS)}",
            f"{prefix}.plain.sasl.jaas.config="
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
            f"{prefix}.scram-sha-256.sasl.jaas.config={scram}",
            f"{prefix}.scram-sha-512.sasl.jaas.config={scram}",
            "inter.broker.listener.name=PLAINTEXT",
        ]

    def _scram_arguments(self) -> list[str]:
        """`StorageTool format` arguments writing each user's SCRAM credentials."""
        if self.secure is None:
            return []
        return [
            argument
            for name, password in self.secure.users.items()
            for mechanism in MECHANISMS[1:]
            for argument in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
        ]

    def _configure(self) -> Path:
        properties = self.folder / "server.properties"
        listeners = [f"PLAINTEXT://127.0.0.1:{self.port}"]
        protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        if self.secure is not None:
            listeners.append(f"{SECURE}://127.0.0.1:{self.secure_port}")
            protocols += f",{SECURE}:{SECURE}"
        properties.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"listeners={','.join(listeners)},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners={','.join(listeners)}",
                    "controller.listener.names=CONTROLLER",
                    f"listener.security.protocol.map={protocols}",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
                    f"log.dirs={self.folder / 'data'}",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=4",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "num.partitions=4",
                    "auto.create.topics.enable=true",
                    "broker.session.timeout.ms=3000",
                    "broker.heartbeat.interval.ms=500",
                    *self._secure_lines(),
                ]
            )
            + "\n"
        )
        (self.folder / "log4j2.properties").write_text(LOG4J.format(log=self.log))
        return properties

    def start(self) -> Broker:
        """Format (first start only), start, and wait until the broker serves."""
        reason = missing()
        if reason:
            raise RuntimeError(reason)
        self.folder.mkdir(parents=True, exist_ok=True)
        properties = self._configure()
        if not (self.folder / "data" / "meta.properties").exists():
            cluster = cluster_id()
            subprocess.run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    cluster,
                    "-c",
                    str(properties),
                    *self._scram_arguments(),
                ),
                check=True,
                capture_output=True,
                timeout=START_TIMEOUT_S,
            )
        starts = self.log.read_text().count(READY_LINE) if self.log.exists() else 0
        with (self.folder / "broker.stderr").open("ab") as stderr:  # the child keeps its copy
            self.process = subprocess.Popen(
                self._java("kafka.Kafka", str(properties)),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Kafka broker exited at start: see {self.log}")
            started = self.log.exists() and self.log.read_text().count(READY_LINE) > starts
            ports = (self.port, self.secure_port) if self.secure else (self.port,)
            if started and all(_accepts(p) for p in ports):
                return self
            time.sleep(0.05)  # polling a condition (the broker's log and port), not a fixed wait
        self.kill()
        raise RuntimeError(f"the Kafka broker did not start within {START_TIMEOUT_S} s: {self.log}")

    def kill(self) -> None:
        """kill -9 (the broker's files stay: `start()` again resumes them)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        """A clean stop (SIGTERM, then kill -9 after 20 s)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None


async def produce(
    bootstrap: str,
    topic: str,
    records: list[tuple[str | bytes, bytes]],
    connection: dict[str, Any] | None = None,
) -> None:
    """Each (key, value) produced in order, acknowledged by the broker (acks=all); `connection`:
    aiokafka's security arguments (billing_common.kafka_security.connection_kwargs)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **(connection or {}))
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(
                topic, value, key=key.encode() if isinstance(key, str) else key
            )
    finally:
        await producer.stop()


async def read_all(
    bootstrap: str,
    topic: str,
    count: int,
    enough: Callable[[list[Any]], bool] | None = None,
    connection: dict[str, Any] | None = None,
) -> list[Any]:
    """The topic's messages from the start (a consumer group of its own), read until there are
    `count` (or `enough` says so); a bound of 60 s fails the test instead of hanging it."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **(connection or {}),
    )
    await consumer.start()
    seen: list[Any] = []
    try:
        async with asyncio.timeout(60):
            while not (enough(seen) if enough else len(seen) >= count):
                batch = await consumer.getmany(timeout_ms=500)
                seen += [m for messages in batch.values() for m in messages]
    finally:
        await consumer.stop()
    return seen
