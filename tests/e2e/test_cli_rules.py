"""The CLI's refunds and a wallet's automation (top-up rule and top-ups, alert rules, allotment
schedules) against the real ledger."""

from __future__ import annotations

from decimal import Decimal

from tests.support.cli import Cli, rows
from tests.support.servers import RunningLedger


async def _wallet(cli: Cli, customer: str, credits: str) -> str:
    wallet = (await cli("--json", "wallets", "create", "--customer", customer)).json()["wallet_id"]
    await cli("grants", "create", wallet, credits)
    return str(wallet)


async def test_refund_a_debit_in_part_then_the_rest(ledger_server: RunningLedger) -> None:
    cli = Cli(ledger_server.target)
    wallet = await _wallet(cli, "rf", "100")
    debit = (await cli("--json", "debit", wallet, "30", "--feature", "search")).json()
    part = await cli("--json", "refund", debit["entry_id"], "10", "--description", "goodwill")
    [entry] = part.json()["entries"]
    assert (entry["type"], entry["amount"], entry["description"]) == (
        "ENTRY_TYPE_REFUND",
        "10",
        "goodwill",
    )
    rest = (await cli("--json", "refund", debit["entry_id"])).json()["entries"]
    assert sum(Decimal(e["amount"]) for e in rest) == 20
    assert (await cli("--json", "balance", wallet)).json()["available"] == "100"
    again = await cli("--json", "refund", debit["entry_id"], "1", expect=1)
    assert again.error()["code"] == "FAILED_PRECONDITION"


async def test_top_up_rule_set_then_top_ups_listed_and_confirmed(
    ledger_server: RunningLedger,
) -> None:
    cli = Cli(ledger_server.target)
    wallet = await _wallet(cli, "tu", "100")
    rule = await cli(
        "--json", "top-ups", "set", wallet, "--threshold", "50", "--amount", "200",
        "--unit-price", "0.01", "--payment", "on-confirmation",
    )  # fmt: skip
    assert (rule.json()["threshold"], rule.json()["amount"]) == ("50", "200")
    assert rule.json()["payment"] == "TOP_UP_PAYMENT_ON_CONFIRMATION"

    await cli("debit", wallet, "60", "--feature", "search")  # 40 left: below 50
    [top_up] = (await cli("--json", "top-ups", "list", wallet)).json()["top_ups"]
    assert (top_up["amount"], top_up["state"]) == ("200", "TOP_UP_STATE_PENDING")
    confirmed = (await cli("--json", "top-ups", "confirm", top_up["top_up_id"])).json()
    assert confirmed["state"] == "TOP_UP_STATE_COMPLETED"
    assert (await cli("--json", "balance", wallet)).json()["available"] == "240"
    table = await cli("top-ups", "list", wallet)
    assert rows(table.stdout)[top_up["top_up_id"][:8]][:2] == ["completed", "200"]

    paused = await cli(
        "--json", "top-ups", "set", wallet, "--threshold", "50", "--amount", "200", "--paused"
    )
    assert paused.json()["paused"] is True


async def test_top_up_rule_read_then_cleared(ledger_server: RunningLedger) -> None:
    cli = Cli(ledger_server.target)
    wallet = await _wallet(cli, "tc", "100")
    none = await cli("--json", "top-ups", "get", wallet, expect=1)
    assert (none.error()["code"], none.error()["reason"]) == ("NOT_FOUND", "TOP_UP_RULE_NOT_FOUND")
    set_rule = await cli(
        "--json", "top-ups", "set", wallet, "--threshold", "50", "--amount", "200",
        "--daily-cap", "400",
    )  # fmt: skip
    assert (await cli("--json", "top-ups", "get", wallet)).json() == set_rule.json()
    shown = await cli("top-ups", "get", wallet)
    assert "daily 400" in shown.stdout and wallet[:8] in shown.stdout
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80

    cleared = await cli("--json", "top-ups", "clear", wallet)
    assert cleared.json() == set_rule.json()  # the rule removed
    again = await cli("--json", "top-ups", "clear", wallet, expect=1)
    assert again.error()["reason"] == "TOP_UP_RULE_NOT_FOUND"
    await cli("debit", wallet, "60", "--feature", "search")  # 40 left: below the old 50
    assert (await cli("--json", "top-ups", "list", wallet)).json()["top_ups"] == []


async def test_alert_rules_set_and_listed(ledger_server: RunningLedger) -> None:
    cli = Cli(ledger_server.target)
    wallet = await _wallet(cli, "al", "100")
    made = await cli(
        "--json", "alerts", "set", wallet, "--rule", "percent:25:quarter left",
        "--rule", "absolute:10", "--rule", "depleted", "--min-interval", "1h",
    )  # fmt: skip
    rules = made.json()["rules"]
    assert [(r["kind"], r["threshold"], r["name"]) for r in rules] == [
        ("ALERT_KIND_PERCENT", "25", "quarter left"),
        ("ALERT_KIND_ABSOLUTE", "10", "absolute:10"),
        ("ALERT_KIND_DEPLETED", "0", "depleted"),
    ]
    assert {r["min_interval"] for r in rules} == {"3600s"}
    listed = (await cli("--json", "alerts", "list", wallet)).json()["rules"]
    assert [r["rule_id"] for r in listed] == [r["rule_id"] for r in rules]
    table = await cli("alerts", "list", wallet)
    assert rows(table.stdout)[rules[0]["rule_id"][:8]][:4] == [
        "quarter left",
        "(wallet)",
        "percent",
        "25",
    ]
    bad = await cli("--json", "alerts", "set", wallet, "--rule", "sometimes:5", expect=2)
    assert bad.error()["field_violations"][0]["field"] == "--rule"


async def test_allotment_schedules_create_list_and_end(ledger_server: RunningLedger) -> None:
    cli = Cli(ledger_server.target)
    wallet = await _wallet(cli, "at", "1")
    made = await cli(
        "--json", "allotments", "create", wallet, "500", "--anchor", "2026-01-01",
        "--cadence", "monthly", "--expiry", "end-of-period",
    )  # fmt: skip
    schedule = made.json()
    assert (schedule["amount"], schedule["cadence"], schedule["expiry"]) == (
        "500",
        "ALLOTMENT_CADENCE_MONTHLY",
        "ALLOTMENT_EXPIRY_END_OF_PERIOD",
    )
    listed = (await cli("--json", "allotments", "list", wallet)).json()["schedules"]
    assert [s["schedule_id"] for s in listed] == [schedule["schedule_id"]]
    ended = await cli("--json", "allotments", "end", schedule["schedule_id"], "--at", "2026-03-01")
    assert ended.json()["end_time"] == "2026-03-01T00:00:00Z"
    table = await cli("allotments", "list", wallet)
    assert "2026-03-01 00:00" in table.stdout
