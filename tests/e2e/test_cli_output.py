"""What the CLI prints: tables within 80 columns (short ids, readable times) and, with --json,
every error as one JSON object of one shape: usage errors and failed calls alike."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from tests.support.channels import admin_key
from tests.support.cli import Cli, rows
from tests.support.servers import RunningLedger

ERROR_KEYS = {
    "kind",
    "method",
    "code",
    "message",
    "reason",
    "domain",
    "metadata",
    "field_violations",
}


async def test_tables_fit_80_columns_with_short_ids_and_readable_times(
    ledger_server: RunningLedger,
) -> None:
    cli = Cli(ledger_server.target, width=80)
    customer = "customer-with-a-rather-long-identifier-0123456789"
    wallet = (await cli("--json", "wallets", "create", "--customer", customer)).json()["wallet_id"]
    await cli("grants", "create", wallet, "100", "--expire", "2026-06-30T12:00:00Z")
    debit = (await cli("--json", "debit", wallet, "2.5", "--feature", "report-generation")).json()

    for args in (
        ("wallets", "list"),
        ("grants", "list", wallet),
        ("history", wallet),
        ("balance", wallet),
    ):
        out = (await cli(*args)).stdout
        assert max(len(line) for line in out.splitlines()) <= 80, (args, out)
        assert wallet not in out or args[0] == "balance"  # the title names the wallet in full

    history = (await cli("history", wallet)).stdout
    assert debit["entry_id"][:8] in rows(history)  # the short id, whole on its line
    assert rows(history)[debit["entry_id"][:8]][:2] == ["debit", "-2.5"]
    grants = (await cli("grants", "list", wallet)).stdout
    assert "2026-06-30 12:00" in grants  # readable, UTC

    wide = (await Cli(ledger_server.target)("--wide", "grants", "list", wallet)).stdout
    assert "2026-06-30T12:00:00Z" in wide
    listed = await Cli(ledger_server.target)("--wide", "wallets", "list", "--customer", customer)
    assert wallet in rows(listed.stdout)


async def test_json_usage_errors_have_the_shape_of_call_errors(
    ledger_server: RunningLedger,
) -> None:
    cli = Cli(ledger_server.target)
    wallet = (await cli("--json", "wallets", "create", "--customer", "js")).json()["wallet_id"]

    unknown = await cli("--json", "balance", wallet, "--bogus", expect=2)
    assert unknown.stdout == ""
    error = unknown.error()
    assert set(error) == ERROR_KEYS
    assert (error["kind"], error["code"], error["reason"]) == ("usage", "USAGE", "NO_SUCH_OPTION")
    assert error["field_violations"][0]["field"] == "--bogus"

    missing = (await cli("--json", "refund", expect=2)).error()
    assert (missing["reason"], missing["field_violations"][0]["field"]) == (
        "MISSING_PARAMETER",
        "ENTRY_ID",
    )
    bad = (await cli("--json", "debit", wallet, "ten", "--feature", "x", expect=2)).error()
    assert (bad["reason"], bad["field_violations"][0]["field"]) == ("BAD_PARAMETER", "AMOUNT")
    command = (await cli("--json", "no-such-command", expect=2)).error()
    assert command["reason"] == "NO_SUCH_COMMAND"

    failed = (await cli("--json", "balance", "no-such-wallet", expect=1)).error()
    assert set(failed) == ERROR_KEYS
    assert (failed["kind"], failed["code"], failed["reason"]) == (
        "rpc",
        "NOT_FOUND",
        "WALLET_NOT_FOUND",
    )

    # Without --json, the usual usage text.
    plain = await cli("balance", wallet, "--bogus", expect=2)
    assert "No such option: --bogus" in plain.stderr and "Usage:" in plain.stderr


async def test_the_installed_entry_point_prints_json_usage_errors(
    ledger_server: RunningLedger,
) -> None:
    env = {**os.environ, "BILLING_LEDGER": ledger_server.target, "BILLING_API_KEY": admin_key()}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "billing_cli", "--json", "wallets", "get",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert (proc.returncode, out) == (2, b"")
    error = json.loads(err.decode().splitlines()[-1])["error"]
    assert (error["kind"], error["reason"]) == ("usage", "MISSING_PARAMETER")
