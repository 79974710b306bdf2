"""The CLI's webhook commands and `wallets events` against the real ledger (deliveries to a real
local HTTP receiver)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from tests.support.channels import admin_key
from tests.support.cli import Cli, rows
from tests.support.servers import RunningLedger
from tests.support.webhooks import Receiver


async def test_webhook_endpoints_create_list_rotate_deliveries_and_delete(
    ledger_server: RunningLedger, receiver: Receiver
) -> None:
    cli = Cli(ledger_server.target)
    wallet = (await cli("--json", "wallets", "create", "--customer", "wh")).json()["wallet_id"]
    made = await cli(
        "--json", "webhooks", "create", receiver.url, "--wallet", wallet,
        "--type", "grant-created", "--description", "billing app",
    )  # fmt: skip
    created = made.json()
    endpoint_id, secret = created["endpoint"]["endpoint_id"], created["secret"]
    assert secret and created["endpoint"]["types"] == ["WALLET_EVENT_TYPE_GRANT_CREATED"]
    table = await cli("webhooks", "create", receiver.url, "--wallet", wallet)
    assert "signing secret: " in table.stdout and "shown once" in table.stderr

    listed = (await cli("--json", "webhooks", "list", "--wallet", wallet)).json()["endpoints"]
    assert endpoint_id in [e["endpoint_id"] for e in listed]
    assert rows((await cli("webhooks", "list")).stdout)[endpoint_id[:8]][2] == "grant-created"

    # A grant is an event: the endpoint's delivery is listed once it is made.
    await cli("grants", "create", wallet, "10")
    await ledger_server.ledger.webhooks.dispatch()
    await ledger_server.ledger.webhooks.deliver()
    [delivery] = (await cli("--json", "webhooks", "deliveries", endpoint_id)).json()["deliveries"]
    assert (delivery["event_type"], delivery["state"]) == (
        "WALLET_EVENT_TYPE_GRANT_CREATED",
        "WEBHOOK_DELIVERY_STATE_DELIVERED",
    )
    delivered = await cli("webhooks", "deliveries", endpoint_id, "--state", "delivered")
    assert rows(delivered.stdout)[delivery["delivery_id"][:8]][:2] == ["grant-created", "delivered"]

    rotated = await cli("--json", "webhooks", "rotate-secret", endpoint_id, "--overlap", "1h")
    assert rotated.json()["secret"] not in ("", secret)
    assert rotated.json()["previous_secret_expire_time"] == "2026-01-01T01:00:00Z"

    deleted = (await cli("--json", "webhooks", "delete", endpoint_id)).json()
    assert deleted["delete_time"]
    gone = await cli("--json", "webhooks", "rotate-secret", endpoint_id, expect=1)
    assert gone.error()["kind"] == "rpc"


async def test_wallet_events_listed_and_followed(ledger_server: RunningLedger) -> None:
    cli = Cli(ledger_server.target)
    wallet = (await cli("--json", "wallets", "create", "--customer", "ev")).json()["wallet_id"]
    for amount in ("10", "20"):
        await cli("grants", "create", wallet, amount)

    # --follow stops at --limit here; at a terminal it runs until Ctrl-C.
    followed = await cli("--json", "wallets", "events", wallet, "--follow", "--limit", "2")
    events = [json.loads(line) for line in followed.stdout.splitlines()]
    assert [e["type"] for e in events] == ["WALLET_EVENT_TYPE_GRANT_CREATED"] * 2
    assert [json.loads(e["data_json"])["amount"] for e in events] == ["10", "20"]
    first = events[0]["cursor"]

    after = await cli("wallets", "events", wallet, "--after", first, "--follow", "--limit", "1")
    [line] = after.stdout.splitlines()
    assert line.split()[0] == events[1]["cursor"] and "grant-created" in line

    missing = await cli("--json", "wallets", "events", "no-such-wallet", "--follow", expect=1)
    assert (missing.error()["method"], missing.error()["reason"]) == (
        "WatchWalletEvents",
        "WALLET_NOT_FOUND",
    )


async def test_wallet_events_follow_runs_until_ctrl_c(ledger_server: RunningLedger) -> None:
    """The real entry point as a process: it prints events as they come and ends cleanly on
    SIGINT (Ctrl-C), exit 0."""
    cli = Cli(ledger_server.target)
    wallet = (await cli("--json", "wallets", "create", "--customer", "cc")).json()["wallet_id"]
    await cli("grants", "create", wallet, "5")
    env = {**os.environ, "BILLING_LEDGER": ledger_server.target, "BILLING_API_KEY": admin_key()}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "billing_cli", "--json", "wallets", "events", wallet, "--follow",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
    assert first["type"] == "WALLET_EVENT_TYPE_GRANT_CREATED"
    await cli("grants", "create", wallet, "7")  # while it follows
    second = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
    assert json.loads(second["data_json"])["amount"] == "7"
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
