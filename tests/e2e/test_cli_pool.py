"""The CLI's pooled wallets: `pool member set|get|list|remove`, `debit --member` and
`authorize --member`, against the real ledger."""

from __future__ import annotations

from tests.support.cli import Cli
from tests.support.servers import RunningLedger


async def test_pool_members_are_set_and_shown_and_debit_and_authorize_name_them(
    ledger_server: RunningLedger,
) -> None:
    cli = Cli(ledger_server.target)
    wallet_id = (await cli("--json", "wallets", "create", "--customer", "pooled")).json()[
        "wallet_id"
    ]
    await cli("grants", "create", wallet_id, "100")
    member = (
        await cli("--json", "pool", "member", "set", wallet_id, "team-a", "--budget", "30")
    ).json()
    assert (member["budget"], member["policy"], member["budget_period"]) == (
        "30",
        "BUDGET_POLICY_DENY",
        "BUDGET_PERIOD_MONTH",
    )
    debit = (
        await cli("--json", "debit", wallet_id, "25", "--feature", "chat", "--member", "team-a")
    ).json()
    assert debit["member_id"] == "team-a"
    denied = await cli("authorize", wallet_id, "10", "--member", "team-a", expect=4)
    assert "member_budget_exceeded" in denied.stdout and "member budget left" in denied.stdout
    refused = await cli(
        "--json", "debit", wallet_id, "10", "--feature", "chat", "--member", "team-a", expect=1
    )
    assert refused.error()["reason"] == "MEMBER_BUDGET_EXCEEDED"
    shown = (await cli("--json", "pool", "member", "get", wallet_id, "team-a")).json()
    assert (shown["spent"], shown["remaining"]) == ("25", "5")
    await cli("pool", "member", "set", wallet_id, "team-b", "--share", "10", "--period", "day")
    table = await cli("pool", "member", "list", wallet_id)
    assert "team-a" in table.stdout and "team-b" in table.stdout
    await cli("pool", "member", "remove", wallet_id, "team-b")
    listed = (await cli("--json", "pool", "member", "list", wallet_id)).json()
    assert [m["member_id"] for m in listed["members"]] == ["team-a"]
