"""The Kafka intake over SASL_SSL, as managed Kafka services require it, against a real broker
with a SASL_SSL listener (a certificate from the development CA, PEM key store; SASL/PLAIN and
SCRAM users): events read from the topic are charged once, dead letters are written over the same
connection, and `billing intake status` connects the same way. A wrong password is refused
clearly (the intake says so and retries; nothing is read, so nothing is lost: once the password
file is fixed, every event is charged once, with no restart)."""

from __future__ import annotations

import gc
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.ledger.v1 import ledger_pb2_grpc
from billing.rating.v1 import rating_pb2_grpc

from billing_common import devcerts
from billing_common.kafka_security import KafkaSecurity, connection_kwargs
from rating_service.adapters.kafka_intake import IntakeSettings, KafkaIntake
from tests.e2e.rating.test_kafka_crash import debited_event_ids
from tests.e2e.rating.test_kafka_intake import Running, T, as_json
from tests.e2e.rating.test_rating_crash import start_ledger
from tests.support import kafka_broker as kafka
from tests.support.channels import open_channel
from tests.support.cli import Cli
from tests.support.ledger import make_wallet
from tests.support.processes import free_port, rating_env, start
from tests.support.rating import event, setup_customer
from tests.support.servers import START
from tests.support.waiting import until

USER, PASSWORD = "billing-rating", "correct horse battery staple"


class Secure:
    """The broker with its SASL_SSL listener, and the files a client needs."""

    def __init__(self, broker: kafka.Broker, folder: Path, ca: Path) -> None:
        self.broker = broker
        self.folder = folder
        self.ca = ca
        self.password_file = folder / "kafka-password"
        self.password_file.write_text(PASSWORD + "\n")
        self.password_file.chmod(0o600)

    def security(
        self, mechanism: str = "PLAIN", password_file: Path | None = None
    ) -> KafkaSecurity:
        return KafkaSecurity(
            security_protocol="SASL_SSL",
            sasl_mechanism=mechanism,
            sasl_username=USER,
            sasl_password_file=str(password_file or self.password_file),
            ssl_ca_file=str(self.ca),
        )

    def settings(self, security: KafkaSecurity) -> IntakeSettings:
        run = uuid.uuid4().hex[:8]
        return IntakeSettings(
            bootstrap_servers=self.broker.secure_bootstrap,
            topic=f"usage-{run}",
            group_id=f"rating-{run}",
            dead_letter_topic=f"usage-{run}-dead",
            batch_max=7,
            security=security,
        )

    def cli_args(self, settings: IntakeSettings, security: KafkaSecurity) -> list[str]:
        return [
            *("intake", "status", "--bootstrap-servers", settings.bootstrap_servers),
            *("--topic", settings.topic, "--group", settings.group_id),
            *("--dead-letter-topic", settings.dead_letter_topic),
            *("--security-protocol", security.security_protocol),
            *("--sasl-mechanism", security.sasl_mechanism),
            *("--sasl-username", security.sasl_username),
            *("--sasl-password-file", security.sasl_password_file),
            *("--ssl-ca-file", security.ssl_ca_file),
        ]


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    """One broker for the module: plain text for nothing here, SASL_SSL for every client."""
    reason = kafka.missing()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("kafka-secure")
    certs = devcerts.ensure(folder / "tls")
    listener = kafka.SecureListener(certs.server_cert, certs.server_key, {USER: PASSWORD})
    broker = kafka.Broker(folder / "broker", secure=listener).start()
    try:
        yield Secure(broker, folder, certs.ca)
    finally:
        broker.stop()


async def test_events_read_over_sasl_ssl_are_charged_once_and_the_cli_connects_the_same_way(
    rating,
    secure: Secure,  # type: ignore[no-untyped-def]
) -> None:
    a = await rating.setup_customer(start=START)
    rating.clock.set(T)
    security = secure.security("SCRAM-SHA-512")
    settings = secure.settings(security)
    good = [event(a.customer_id, T, f"{a.customer_id}-{i}", units="2") for i in range(12)]
    records = [(e.customer_id, as_json(e)) for e in good]
    records.append((a.customer_id, as_json(good[0])))  # the same event again: a duplicate
    records.append(("nobody", as_json(event("nobody", T, "nobody-1", units="1"))))
    connection = connection_kwargs(security)
    await kafka.produce(secure.broker.secure_bootstrap, settings.topic, records, connection)

    running = Running(KafkaIntake(settings, rating.rating.app.ingest))
    await until(lambda: running.handled() == len(records), "every message is handled", bound_s=60)
    await running.stop()
    assert running.intake.state.counts == {"accepted": 12, "duplicate": 1, "rejected": 1}
    assert running.intake.state.problem is None

    # The dead letter went over SASL_SSL too.
    dead = await kafka.read_all(
        secure.broker.secure_bootstrap, settings.dead_letter_topic, 1, connection=connection
    )
    assert [dict(m.headers)["billing-error-reason"] for m in dead] == [b"CUSTOMER_NOT_FOUND"]

    # The CLI, with the same settings (another mechanism of the same user): lag 0, 1 dead letter.
    plain = secure.security("PLAIN")
    shown = await Cli("127.0.0.1:1")("--json", *secure.cli_args(settings, plain))
    status = shown.json()
    assert (status["lag"], status["dead_letters"]) == (0, 1)
    assert sum(p["committed"] for p in status["partitions"]) == len(records)

    await rating.drain()
    assert await rating.ledger.balance(a.wallet_id) == Decimal(-12)  # 12 events x 2 x 0.5


async def test_a_wrong_password_is_refused_clearly_and_loses_nothing_once_fixed(
    rating,
    secure: Secure,  # type: ignore[no-untyped-def]
) -> None:
    a = await rating.setup_customer(start=START)
    rating.clock.set(T)
    password_file = secure.folder / f"rotating-{uuid.uuid4().hex}"
    password_file.write_text("not the password\n")
    security = secure.security("SCRAM-SHA-256", password_file)
    settings = secure.settings(security)
    good = [event(a.customer_id, T, f"{a.customer_id}-{i}", units="2") for i in range(10)]
    await kafka.produce(
        secure.broker.secure_bootstrap,
        settings.topic,
        [(e.customer_id, as_json(e)) for e in good],
        connection_kwargs(secure.security()),
    )

    # The CLI: UNAUTHENTICATED with the broker's reason (exit 1), not a bare "unavailable".
    refused = await Cli("127.0.0.1:1")("--json", *secure.cli_args(settings, security), expect=1)
    error = refused.error()
    assert error["code"] == "UNAUTHENTICATED"
    assert "authentication failed" in error["message"].lower()
    assert "not the password" not in refused.stderr + refused.stdout

    running = Running(KafkaIntake(settings, rating.rating.app.ingest))
    try:
        await until(
            lambda: running.intake.state.problem is not None,
            "the intake reports why it cannot connect",
            bound_s=60,
        )
        problem = running.intake.state.problem
        assert problem is not None and problem.kind == "authentication"
        assert "SCRAM-SHA-256" in problem.detail and "not the password" not in problem.detail
        assert running.handled() == 0
        admin = await asyncpg.connect(rating.uri)
        try:
            assert await admin.fetchval("SELECT count(*) FROM events") == 0
        finally:
            await admin.close()

        # The operator fixes the mounted file: the next attempt reads it; no restart.
        password_file.write_text(PASSWORD + "\n")
        await until(lambda: running.handled() == len(good), "every event is handled", bound_s=60)
    finally:
        await running.stop()
    assert running.intake.state.counts == {"accepted": len(good)}
    assert running.intake.state.problem is None
    await rating.drain()
    assert await rating.ledger.balance(a.wallet_id) == Decimal(-10)


async def test_a_broker_certificate_the_ca_did_not_sign_is_refused_as_tls(
    rating,
    secure: Secure,  # type: ignore[no-untyped-def]
) -> None:
    other = devcerts.ensure(secure.folder / f"other-ca-{uuid.uuid4().hex}")
    security = replace(secure.security(), ssl_ca_file=str(other.ca))
    running = Running(KafkaIntake(secure.settings(security), rating.rating.app.ingest))
    try:
        await until(
            lambda: running.intake.state.problem is not None,
            "the intake reports why it cannot connect",
            bound_s=60,
        )
    finally:
        await running.stop()
    problem = running.intake.state.problem
    assert problem is not None and problem.kind == "tls"
    assert "CERTIFICATE_VERIFY_FAILED" in problem.detail
    assert running.handled() == 0


async def test_brokers_that_do_not_answer_are_reported_unavailable_and_no_client_is_left_open(
    rating,  # type: ignore[no-untyped-def]
) -> None:
    """Each failed attempt stops both clients (the producer's start failing before the
    consumer's left the consumer open: a ResourceWarning, an error under the tests' settings)."""
    settings = IntakeSettings(
        bootstrap_servers=f"127.0.0.1:{free_port()}",
        topic="usage",
        group_id="rating",
        dead_letter_topic="usage-dead",
    )
    running = Running(KafkaIntake(settings, rating.rating.app.ingest))
    try:
        await until(
            lambda: running.intake.state.problem is not None,
            "the intake reports why it cannot connect",
            bound_s=60,
        )
    finally:
        await running.stop()
    problem = running.intake.state.problem
    assert problem is not None and problem.kind == "network"
    assert settings.bootstrap_servers in problem.detail
    gc.collect()  # an unclosed client's finaliser warns now, inside this test


async def test_the_service_process_configured_by_its_environment_reports_a_refusal_then_charges(
    new_database,
    rating_template: str,
    ledger_db: str,
    secure: Secure,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """The real rating process, its intake set by RATING_KAFKA_* (SASL_SSL, SCRAM-SHA-512): with
    a wrong password in its file it logs `kafka_intake_refused` (never the password) and keeps
    serving; once the file holds the right one, every event on the topic is charged once."""
    topic = f"usage-{uuid.uuid4().hex[:8]}"
    password_file = tmp_path / "kafka-password"
    password_file.write_text("stale password\n")
    log_path = tmp_path / "rating.log"
    ledger_port = free_port()
    ledger = await start_ledger(ledger_db, ledger_port)
    rating = await start(
        "rating_service",
        rating_env(
            await new_database("rating", rating_template),
            f"127.0.0.1:{ledger_port}",
            forward_idle_s="0.05",
            kafka_bootstrap_servers=secure.broker.secure_bootstrap,
            kafka_topic=topic,
            kafka_group_id=f"{topic}-rating",
            kafka_dead_letter_topic=f"{topic}-dead",
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username=USER,
            kafka_sasl_password_file=str(password_file),
            kafka_ssl_ca_file=str(secure.ca),
        ),
        log_path=log_path,
    )
    ledger_channel = open_channel(f"127.0.0.1:{ledger_port}")
    channel = open_channel(rating.target)
    try:
        lstub = ledger_pb2_grpc.LedgerServiceStub(ledger_channel)
        rstub = rating_pb2_grpc.RatingServiceStub(channel)
        begins = datetime.now(UTC) + timedelta(seconds=1)  # plans take effect now or later
        wallet = await make_wallet(lstub, policy=lpb.OVERAGE_POLICY_ALLOW_OVERAGE)
        await setup_customer(
            rstub, start=begins, wallet_id=wallet.wallet_id, customer_id=wallet.customer_id
        )
        await until(lambda: datetime.now(UTC) > begins, "the plan is in force")
        at = datetime.now(UTC)
        ids = [f"{wallet.customer_id}-{i}" for i in range(8)]
        await kafka.produce(
            secure.broker.secure_bootstrap,
            topic,
            [
                (wallet.customer_id, as_json(event(wallet.customer_id, at, i, units="1")))
                for i in ids
            ],
            connection_kwargs(secure.security()),
        )

        def refusals() -> list[dict[str, object]]:
            lines = log_path.read_text().splitlines() if log_path.exists() else []
            return [r for r in map(json.loads, lines) if r["event"] == "kafka_intake_refused"]

        await until(lambda: bool(refusals()), "the service logs the refusal", bound_s=60)
        assert refusals()[0]["kind"] == "authentication"
        assert refusals()[0]["level"] == "error"
        assert await debited_event_ids(lstub, wallet.wallet_id) == []

        password_file.write_text(PASSWORD + "\n")  # the operator fixes the mounted secret

        async def charged() -> bool:
            return len(await debited_event_ids(lstub, wallet.wallet_id)) >= len(ids)

        await until(charged, "every event is charged", bound_s=120)
        assert sorted(await debited_event_ids(lstub, wallet.wallet_id)) == sorted(ids)
        log = log_path.read_text()
        assert "kafka_intake_started" in log
        assert PASSWORD not in log and "stale password" not in log
    finally:
        await channel.close()
        await ledger_channel.close()
        assert await rating.stop() == 0
        await ledger.stop()


async def test_the_cli_refuses_a_wrong_security_setting_before_it_connects(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Options and the rating service's RATING_KAFKA_* variables alike: a usage error (exit 2)
    naming the setting, and no connection tried (nothing listens at the address)."""
    cli = Cli("127.0.0.1:1")
    nowhere = ["intake", "status", "--bootstrap-servers", f"127.0.0.1:{free_port()}"]
    given = await cli("--json", *nowhere, "--security-protocol", "SASL_SSL", expect=2)
    error = given.error()
    assert (error["code"], error["kind"]) == ("INVALID_ARGUMENT", "usage")
    assert "kafka_sasl_mechanism" in error["message"]

    monkeypatch.setenv("RATING_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("RATING_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("RATING_KAFKA_SASL_USERNAME", USER)
    monkeypatch.setenv("RATING_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "absent"))
    from_env = (await cli("--json", *nowhere, expect=2)).error()
    assert "kafka_sasl_password_file" in from_env["message"]
    assert "cannot read" in from_env["message"]
