"""The Go and TypeScript example programs against both services as real processes on the
embedded PostgreSQL: each creates a wallet, grants 100 credits, debits 12.5 twice with one
request_id (an idempotent replay), reads the balance, creates a meter in the rating service and
reads it back, and prints key=value lines, checked here. Both connect over TLS, trusting the
tests' CA (-ca-file / --ca-file).

The examples are built by tools/clients_toolchain.py, which installs the pinned tools on first use
(go modules and npm packages are downloaded once, then cached); later runs take seconds."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import clients_toolchain as toolchain  # tools/, put on sys.path by conftest.py
import pytest

from billing_common.process import ServiceProcess
from tests.support.channels import admin_key
from tests.support.tls import dev_ca

ROOT = Path(__file__).resolve().parents[2]

EXAMPLE_TIMEOUT_S = 60.0

# What both examples must print: the same calls give the same decimal strings in every language.
EXPECTED = {
    "unit": "CREDITS",
    "granted": "100",
    "debit_amount": "-12.5",
    "available_after": "87.5",
    "replay_same_entry": "true",
    "available": "87.5",
    "prepaid_available": "87.5",
    "overage": "0",
    "net": "87.5",
    "meter_aggregation": "AGGREGATION_COUNT",
    "meter_read_back": "true",
}


@pytest.fixture(scope="module")
def built_examples() -> None:
    missing = toolchain.missing_toolchains()
    if missing:
        pytest.skip(f"{', '.join(missing)} not on PATH: the Go/TypeScript interop test needs them")
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "clients_toolchain.py"), "build"],
        check=True,
        cwd=ROOT,
    )


async def _run(*args: str) -> dict[str, str]:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), EXAMPLE_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, f"{args[0]} failed:\n{stderr.decode()}"
    lines = stdout.decode().splitlines()
    return dict(line.split("=", 1) for line in lines)


@pytest.mark.slow
async def test_go_example_against_both_services(
    built_examples: None, ledger_process: ServiceProcess, rating_process: ServiceProcess
) -> None:
    output = await _run(
        str(toolchain.GO_EXAMPLE),
        "-addr",
        ledger_process.target,
        "-rating",
        rating_process.target,
        "-ca-file",
        str(dev_ca().ca),
        "-api-key",
        admin_key(),
    )
    assert output == EXPECTED


@pytest.mark.slow
async def test_typescript_example_against_both_services(
    built_examples: None, ledger_process: ServiceProcess, rating_process: ServiceProcess
) -> None:
    output = await _run(
        "node",
        str(toolchain.TS_EXAMPLE),
        "--addr",
        ledger_process.target,
        "--rating",
        rating_process.target,
        "--ca-file",
        str(dev_ca().ca),
        "--api-key",
        admin_key(),
    )
    assert output == EXPECTED
