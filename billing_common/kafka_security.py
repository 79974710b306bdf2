"""How our Kafka clients connect to the brokers: plain text, TLS, SASL, or SASL over TLS.

One function, `connection_kwargs`, turns the settings into aiokafka's connection arguments; the
rating service's consumer and dead-letter producer (rating_service/adapters/kafka_intake.py) and
`billing intake status` (billing_cli/intake.py) all connect through it, so what works for one
works for the others.

- `security_protocol`: PLAINTEXT (the default), SSL, SASL_PLAINTEXT or SASL_SSL, as Kafka names
  them.
- With SSL or SASL_SSL the broker's certificate is checked (host name included) against
  `ssl_ca_file` when set, else against the system's trusted roots (managed Kafka services present
  publicly trusted certificates).
- With SASL_*: `sasl_mechanism` (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512), `sasl_username`, and the
  password read from `sasl_password_file` (a mounted secret; the password is never a setting
  value, so it never shows in the environment, the command line or a log). The file is read at
  each connection, so a rotated password is used at the next reconnect.

Every mistake is a ValueError naming the setting (`kafka_<field>`, env `RATING_KAFKA_<FIELD>`): a
service checks them at start (rating_service/limits.py), the CLI before it connects.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.conn import create_conn  # type: ignore[import-untyped]
from aiokafka.errors import (  # type: ignore[import-untyped]
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context  # type: ignore[import-untyped]

# What a refused login is, as aiokafka raises it (the broker's answer, or its own check).
AUTHENTICATION_ERRORS = (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    IllegalSaslStateError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
DIAGNOSE_TIMEOUT_S = 5.0  # per server: a shutdown waits for it

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# A password file is a few dozen bytes; anything much larger is the wrong file.
PASSWORD_FILE_BYTES_MAX = 4096


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """The connection's security settings (never the password itself: its file)."""

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password_file: str = ""
    ssl_ca_file: str = ""

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")


def _setting(name: str) -> str:
    return f"setting kafka_{name} (RATING_KAFKA_{name.upper()})"


def _password(path: str) -> str:
    where = _setting("sasl_password_file")
    try:
        with Path(path).open("rb") as file:
            raw = file.read(PASSWORD_FILE_BYTES_MAX + 1)
    except OSError as exc:
        raise ValueError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > PASSWORD_FILE_BYTES_MAX:
        raise ValueError(f"{where}: {path} is over {PASSWORD_FILE_BYTES_MAX} bytes")
    try:
        password = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError(f"{where}: {path} is not UTF-8 text") from None
    if not password:
        raise ValueError(f"{where}: {path} is empty")
    return password


def _ssl_context(ca_file: str) -> ssl.SSLContext:
    try:
        return create_ssl_context(cafile=ca_file or None)  # type: ignore[no-any-return]
    except (OSError, ssl.SSLError) as exc:
        # Missing or unreadable (OSError), or there but no PEM certificate (ssl.SSLError).
        detail = getattr(exc, "reason", None) or exc.strerror or exc
        raise ValueError(
            f"{_setting('ssl_ca_file')}: cannot load {ca_file} as PEM certificates: {detail}"
        ) from None


def check(security: KafkaSecurity) -> None:
    """ValueError naming the setting unless the settings make a connection (files included)."""
    connection_kwargs(security)


def connection_kwargs(security: KafkaSecurity) -> dict[str, Any]:
    """aiokafka's connection arguments (for AIOKafkaConsumer, AIOKafkaProducer and
    AIOKafkaAdminClient alike): ValueError naming the setting where one is wrong. The result
    holds the password: pass it to the client, never to a log."""
    protocol = security.security_protocol
    if protocol not in SECURITY_PROTOCOLS:
        raise ValueError(
            f"{_setting('security_protocol')} must be one of {', '.join(SECURITY_PROTOCOLS)}; "
            f"got {protocol!r}"
        )
    sasl = (security.sasl_mechanism, security.sasl_username, security.sasl_password_file)
    if not security.uses_sasl and any(sasl):
        raise ValueError(
            f"{_setting('security_protocol')} is {protocol}, which does not use SASL, but "
            "kafka_sasl_* settings are set: use SASL_SSL (or SASL_PLAINTEXT), or unset them"
        )
    if security.ssl_ca_file and not security.uses_tls:
        raise ValueError(
            f"{_setting('ssl_ca_file')} is set but kafka_security_protocol is {protocol}, "
            "which does not use TLS: use SSL or SASL_SSL, or unset it"
        )
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    if security.uses_sasl:
        mechanism, username, password_file = sasl
        if mechanism not in SASL_MECHANISMS:
            raise ValueError(
                f"{_setting('sasl_mechanism')} must be one of {', '.join(SASL_MECHANISMS)} with "
                f"{protocol}; got {mechanism!r}"
            )
        if not username:
            raise ValueError(f"{_setting('sasl_username')} is required with {protocol}")
        if not password_file:
            raise ValueError(
                f"{_setting('sasl_password_file')} is required with {protocol}: the file "
                "holding the password (the password is never a setting value)"
            )
        kwargs |= {
            "sasl_mechanism": mechanism,
            "sasl_plain_username": username,
            "sasl_plain_password": _password(password_file),
        }
    if security.uses_tls:
        kwargs["ssl_context"] = _ssl_context(security.ssl_ca_file)
    return kwargs


@dataclass(frozen=True, slots=True)
class Unreachable:
    """Why the brokers cannot be used: `kind` is "authentication" (a wrong user, password or
    mechanism: a person must fix the settings), "tls" (the broker's certificate is not trusted,
    or the broker does not speak TLS), "settings" (a setting's file cannot be read) or
    "network" (nothing answers: it may come back)."""

    kind: str
    detail: str


async def diagnose(bootstrap_servers: str, kwargs: dict[str, Any]) -> Unreachable | None:
    """Why a client with these connection arguments cannot bootstrap (None: the first server
    that answers lets it in). aiokafka's own clients only say "Unable to bootstrap" and log the
    cause; this connects once more, to each server in turn, to say it."""
    problem: Unreachable | None = None
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            async with asyncio.timeout(DIAGNOSE_TIMEOUT_S):
                conn = await create_conn(host.strip("[]"), int(port), **kwargs)
        except AUTHENTICATION_ERRORS as exc:
            return Unreachable("authentication", f"{server}: {exc}")
        except ssl.SSLError as exc:
            problem = Unreachable("tls", f"{server}: {exc}")
        except (OSError, KafkaError, TimeoutError, ValueError) as exc:
            problem = problem or Unreachable("network", f"{server}: {exc!r}")
        else:
            conn.close()
            return None
    return problem
