"""The CLI's feature-scoped grants: `grants create --feature` (repeatable) and the balance's
per-feature availability, against the real ledger."""

from __future__ import annotations

from tests.support.cli import Cli, rows
from tests.support.servers import RunningLedger


async def test_a_grant_scoped_with_feature_options_and_the_balance_per_feature(
    ledger_server: RunningLedger,
) -> None:
    cli = Cli(ledger_server.target)
    wallet_id = (await cli("--json", "wallets", "create", "--customer", "scoped")).json()[
        "wallet_id"
    ]
    await cli("grants", "create", wallet_id, "10")
    scoped = await cli(
        "--json", "grants", "create", wallet_id, "30", "--feature", "report", "--feature", "chat"
    )
    assert scoped.json()["grant"]["features"] == ["chat", "report"]
    shown = await cli("--wide", "grants", "get", scoped.json()["grant"]["grant_id"])
    assert "chat, report" in shown.stdout

    debit = (await cli("--json", "debit", wallet_id, "35", "--feature", "report")).json()
    burnt = [(a["grant_id"], a["amount"]) for a in debit["allocations"]]
    assert burnt[0] == (scoped.json()["grant"]["grant_id"], "-30")  # scoped first
    assert [a for _, a in burnt] == ["-30", "-5"]

    await cli("grants", "create", wallet_id, "8", "--feature", "search")
    table = await cli("--wide", "balance", wallet_id)
    figures = rows(table.stdout)
    assert figures["available"] == ["13"]
    assert figures["unscoped available"] == ["5"]
    assert figures["search"] == ["13", "8"]  # what search may use, of it scoped
    bal = (await cli("--json", "balance", wallet_id)).json()
    assert bal["unscoped_available"] == "5"
    assert [(f["feature"], f["available"]) for f in bal["features"]] == [("search", "13")]
