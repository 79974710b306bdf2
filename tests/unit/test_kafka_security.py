"""The Kafka connection's security settings (billing_common/kafka_security.py): one function turns
them into aiokafka's arguments for the intake's consumer and producer and the CLI; every mistake
is a start-up error naming the setting; the password comes from a file and is in no setting."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from billing_common import devcerts
from billing_common.kafka_security import KafkaSecurity, check, connection_kwargs
from rating_service import limits
from rating_service.config import RatingSettings
from rating_service.main import make_intake


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    certs = devcerts.ensure(tmp_path / "tls")
    (tmp_path / "password").write_text("s3cret-pw\n")
    (tmp_path / "empty").write_text("  \n")
    (tmp_path / "not-pem").write_text("hello\n")
    return {
        "password": str(tmp_path / "password"),
        "empty": str(tmp_path / "empty"),
        "missing": str(tmp_path / "nope"),
        "not_pem": str(tmp_path / "not-pem"),
        "ca": str(certs.ca),
    }


def sasl_ssl(files: dict[str, str], **kw: str) -> KafkaSecurity:
    values = {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "billing",
        "sasl_password_file": files["password"],
        "ssl_ca_file": files["ca"],
    }
    return KafkaSecurity(**(values | kw))


def test_plain_text_by_default_adds_nothing_but_the_protocol() -> None:
    assert connection_kwargs(KafkaSecurity()) == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_reads_the_password_file_and_checks_the_brokers_certificate(
    files: dict[str, str],
) -> None:
    kwargs = connection_kwargs(sasl_ssl(files))
    context = kwargs.pop("ssl_context")
    assert kwargs == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "billing",
        "sasl_plain_password": "s3cret-pw",  # stripped of the file's newline
    }
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert context.get_ca_certs()[0]["subject"] == ((("commonName", "billing development CA"),),)


def test_tls_without_a_ca_file_trusts_the_systems_roots() -> None:
    kwargs = connection_kwargs(KafkaSecurity(security_protocol="SSL"))
    assert kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert set(kwargs) == {"security_protocol", "ssl_context"}


@pytest.mark.parametrize(
    ("change", "named", "says"),
    [
        ({"security_protocol": "TLS"}, "kafka_security_protocol", "must be one of"),
        ({"security_protocol": "sasl_ssl"}, "kafka_security_protocol", "must be one of"),
        ({"sasl_mechanism": ""}, "kafka_sasl_mechanism", "must be one of"),
        ({"sasl_mechanism": "GSSAPI"}, "kafka_sasl_mechanism", "must be one of"),
        ({"sasl_username": ""}, "kafka_sasl_username", "is required with SASL_SSL"),
        ({"sasl_password_file": ""}, "kafka_sasl_password_file", "is required with SASL_SSL"),
        ({"sasl_password_file": "missing"}, "kafka_sasl_password_file", "cannot read"),
        ({"sasl_password_file": "empty"}, "kafka_sasl_password_file", "is empty"),
        ({"ssl_ca_file": "missing"}, "kafka_ssl_ca_file", "cannot load"),
        ({"ssl_ca_file": "not_pem"}, "kafka_ssl_ca_file", "cannot load"),
        (
            {"security_protocol": "SASL_PLAINTEXT"},
            "kafka_ssl_ca_file",
            "does not use TLS",
        ),
        (
            {"security_protocol": "PLAINTEXT", "ssl_ca_file": ""},
            "kafka_security_protocol",
            "does not use SASL",
        ),
    ],
)
def test_a_wrong_setting_is_an_error_naming_it(
    files: dict[str, str], change: dict[str, str], named: str, says: str
) -> None:
    change = {k: files.get(v, v) for k, v in change.items()}
    with pytest.raises(ValueError, match=says) as raised:
        check(sasl_ssl(files, **change))
    assert named in str(raised.value)
    assert f"RATING_{named.upper()}" in str(raised.value)
    assert "s3cret-pw" not in str(raised.value)


def test_the_rating_service_checks_them_at_start_when_the_intake_is_on(
    files: dict[str, str],
) -> None:
    env = {
        "RATING_KAFKA_BOOTSTRAP_SERVERS": "broker:9093",
        "RATING_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "RATING_KAFKA_SASL_MECHANISM": "PLAIN",
        "RATING_KAFKA_SASL_USERNAME": "billing",
        "RATING_KAFKA_SASL_PASSWORD_FILE": files["missing"],
    }
    with pytest.raises(ValueError, match=r"kafka_sasl_password_file.*cannot read"):
        limits.check(RatingSettings.from_env(env))
    env["RATING_KAFKA_SASL_PASSWORD_FILE"] = files["password"]
    settings = RatingSettings.from_env(env)
    limits.check(settings)
    # The settings name the file, never the password; the intake is given the same security.
    assert "s3cret-pw" not in repr(settings)
    intake = make_intake(settings, ingest=None)  # type: ignore[arg-type]
    assert intake.settings.security == settings.kafka_security()
    assert intake.settings.security.sasl_password_file == files["password"]
    # The intake off: its security settings are not read (a file may be absent there).
    env["RATING_KAFKA_BOOTSTRAP_SERVERS"] = ""
    env["RATING_KAFKA_SASL_PASSWORD_FILE"] = files["missing"]
    limits.check(RatingSettings.from_env(env))
