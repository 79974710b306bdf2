"""The CLI's pooled wallets: `pool member set|get|list|remove`, `debit --member` and
`authorize --member`, against the real ledger."""

from __future__ import annotations

from tests.support.cli import Cli, rows
from tests.support.servers import RunningLedger


async def _wallet_of_100(ledger_server: RunningLedger) -> tuple[Cli, str]:
    cli = Cli(ledger_server.target)
    created = await cli("--json", "wallets", "create", "--customer", "pooled")
    wallet_id: str = created.json()["wallet_id"]
    await cli("grants", "create", wallet_id, "100")
    return cli, wallet_id


async def test_pool_members_are_set_and_shown_and_debit_and_authorize_name_them(
    ledger_server: RunningLedger,
) -> None:
    cli, wallet_id = await _wallet_of_100(ledger_server)
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


async def test_a_pooled_wallets_balance_shows_its_members_and_alerts_watch_a_members_budget(
    ledger_server: RunningLedger,
) -> None:
    cli, wallet_id = await _wallet_of_100(ledger_server)
    plain = (await cli("--json", "balance", wallet_id)).json()
    assert "members" not in plain  # a wallet with no members: no members section
    await cli("pool", "member", "set", wallet_id, "team-a", "--budget", "40")
    rules = (
        await cli(
            "--json",
            "alerts",
            "set",
            wallet_id,
            "--rule",
            "percent:10:pool low",
            "--member-rule",
            "team-a=percent:25:team-a low",
        )
    ).json()["rules"]
    assert sorted((r["name"], r.get("member_id", "")) for r in rules) == [
        ("pool low", ""),
        ("team-a low", "team-a"),
    ]
    await cli("debit", wallet_id, "31", "--feature", "chat", "--member", "team-a")
    listed = (await cli("--json", "alerts", "list", wallet_id)).json()["rules"]
    armed = {r["name"]: r.get("armed", False) for r in listed}
    assert armed == {"pool low": True, "team-a low": False}  # 9 of 40 left is under 25%
    assert "team-a low" in (await cli("alerts", "list", wallet_id)).stdout
    shown = (await cli("--json", "balance", wallet_id)).json()
    assert [(m["member_id"], m["spent"], m["remaining"]) for m in shown["members"]] == [
        ("team-a", "31", "9")
    ]
    table = await cli("balance", wallet_id)
    assert "Pool members this period" in table.stdout and "team-a" in rows(table.stdout)
    bad = await cli("alerts", "set", wallet_id, "--member-rule", "percent:25", expect=2)
    assert "MEMBER=KIND" in bad.stderr
