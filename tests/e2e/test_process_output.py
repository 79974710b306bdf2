"""What a service process writes on stderr: every line is one JSON object, the embedded
PostgreSQL's (pgserver) and the migrations' (Alembic) lines too; a listen address another process
holds is one line naming the setting, and exit code 2, never a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support.channels import admin_key_file

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 120.0


def _records(stderr: bytes) -> list[dict[str, Any]]:
    """Every stderr line as JSON (fails, quoting the line, on one that is not)."""
    records = []
    for line in stderr.decode().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"a stderr line is not JSON: {line!r}")
        assert isinstance(record, dict), line
        records.append(record)
    return records


async def _spawn(module: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        "serve",
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A folder for an embedded PostgreSQL of the test's own; its server is killed if a failure
    left it running."""
    folder = Path(tempfile.mkdtemp(prefix="billing-logs-"))
    try:
        yield folder / "postgres"
    finally:
        for process in psutil.process_iter(["name", "cmdline"]):
            if process.info["name"] == "postgres" and str(folder) in " ".join(
                process.info["cmdline"] or []
            ):
                process.kill()
        shutil.rmtree(folder, ignore_errors=True)


async def test_every_line_a_service_logs_from_start_to_stop_is_json(data_dir: Path) -> None:
    # The embedded PostgreSQL is created (initdb, pg_ctl start) and migrated from nothing, so
    # pgserver and Alembic both log; SIGTERM then stops the service and its PostgreSQL.
    process = await _spawn(
        "ledger_service",
        {
            "LEDGER_DATABASE_URL": "",
            "LEDGER_DATA_DIR": str(data_dir),
            "LEDGER_ADMIN_KEY_FILE": str(admin_key_file()),
            "LEDGER_LISTEN": "127.0.0.1:0",
            "LEDGER_METRICS_LISTEN": "127.0.0.1:0",
            "LEDGER_SWEEP_INTERVAL_S": "0",
            "LEDGER_WEBHOOK_INTERVAL_S": "0",
        },
    )
    assert process.stderr is not None
    lines = []
    try:
        while b'"server_started"' not in (lines or [b""])[-1]:
            line = await asyncio.wait_for(process.stderr.readline(), RUN_TIMEOUT_S)
            assert line, f"exited before it served: {b''.join(lines).decode()}"
            lines.append(line)
        process.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(process.stderr.read(), RUN_TIMEOUT_S)
        assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    records = _records(b"".join(lines) + rest)
    loggers = {r.get("logger") for r in records}
    assert "pgserver" in loggers, "the embedded PostgreSQL's lines are missing"
    assert "alembic.runtime.migration" in loggers, "the migrations' lines are missing"
    assert all({"event", "level", "timestamp"} <= r.keys() for r in records)
    assert [r["event"] for r in records].count("server_stopped") == 1


def _held_port() -> socket.socket:
    """A port another process's server would hold: bound and listening."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


@pytest.mark.parametrize(
    ("module", "setting"),
    [
        ("ledger_service", "listen"),
        ("ledger_service", "metrics_listen"),
        ("ledger_service", "http_listen"),
        ("rating_service", "listen"),
        ("rating_service", "metrics_listen"),
        ("rating_service", "http_listen"),
    ],
)
async def test_a_port_in_use_is_one_line_naming_the_setting_and_exit_code_2(
    module: str, setting: str, ledger_db: str, new_database: Any
) -> None:
    prefix = module.split("_")[0].upper()
    database = ledger_db if prefix == "LEDGER" else await new_database("rating")
    with _held_port() as holder:
        held = f"127.0.0.1:{holder.getsockname()[1]}"
        env = {
            f"{prefix}_DATABASE_URL": database,
            f"{prefix}_ADMIN_KEY_FILE": str(admin_key_file()),
            f"{prefix}_LISTEN": "127.0.0.1:0",
            f"{prefix}_METRICS_LISTEN": "127.0.0.1:0",
            f"{prefix}_HTTP_LISTEN": "127.0.0.1:0",
            f"{prefix}_{setting.upper()}": held,
        }
        if prefix == "LEDGER":
            env |= {"LEDGER_MIGRATE": "false", "LEDGER_SWEEP_INTERVAL_S": "0"}
        else:
            env |= {"RATING_LEDGER_API_KEY_FILE": str(admin_key_file())}
            env |= {"RATING_LEDGER_TARGET": "127.0.0.1:1"}
        process = await _spawn(module, env)
        _, stderr = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_S)

    assert process.returncode == 2, stderr.decode()
    assert b"Traceback" not in stderr
    records = _records(stderr)
    errors = [r for r in records if r["level"] in ("error", "critical")]
    assert [(r["event"], r["setting"], r["address"]) for r in errors] == [
        ("port_in_use", setting, held)
    ]
    assert f"{prefix}_{setting.upper()}" in errors[0]["message"]
    assert not [r for r in records if r["event"] == "server_started"]
