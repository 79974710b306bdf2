"""Service processes as the tests start them: the settings every test process needs (its
database, the session's admin key, a free port, no migration at start), plus each test's own.
`rating_env(uri, ledger_target, forward_idle_s="0.05")` is `RATING_FORWARD_IDLE_S=0.05` on top of
the common ones."""

from __future__ import annotations

import socket
from pathlib import Path

from billing_common.process import ServiceProcess, start_service
from tests.support.channels import admin_key_file

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(prefix: str, settings: dict[str, str]) -> dict[str, str]:
    return {f"{prefix}_{name.upper()}": value for name, value in settings.items()}


def ledger_env(uri: str, *, port: int = 0, **settings: str) -> dict[str, str]:
    return {
        "LEDGER_DATABASE_URL": uri,
        "LEDGER_ADMIN_KEY_FILE": str(admin_key_file()),
        "LEDGER_LISTEN": f"127.0.0.1:{port}",
        "LEDGER_MIGRATE": "false",
        **_settings("LEDGER", settings),
    }


def rating_env(uri: str, ledger_target: str, **settings: str) -> dict[str, str]:
    return {
        "RATING_DATABASE_URL": uri,
        "RATING_ADMIN_KEY_FILE": str(admin_key_file()),
        "RATING_LEDGER_API_KEY_FILE": str(admin_key_file()),
        "RATING_LISTEN": "127.0.0.1:0",
        "RATING_MIGRATE": "false",
        "RATING_LEDGER_TARGET": ledger_target,
        **_settings("RATING", settings),
    }


async def start(module: str, env: dict[str, str], log_path: Path | None = None) -> ServiceProcess:
    return await start_service(module, env, cwd=ROOT, log_path=log_path)
