"""The CLI's rating catalogue (meters, prices in every model, plans, assignment) and the README's
walk-through, from nothing to a final invoice with CLI commands only, against both real services.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from tests.support.cli import Services, rows
from tests.support.servers import START


async def test_meters_create_list_and_get(services: Services) -> None:
    cli = services.cli
    made = await cli(
        "--json", "meters", "create", "tokens", "--event-type", "llm.call",
        "--aggregation", "sum", "--property", "tokens", "--filter", "model=large",
    )  # fmt: skip
    meter = made.json()
    assert (meter["key"], meter["aggregation"], meter["filters"]) == (
        "tokens",
        "AGGREGATION_SUM",
        {"model": "large"},
    )
    counted = await cli(
        "--json", "meters", "create", "calls", "--event-type", "api.call", "--aggregation", "count"
    )
    assert counted.json()["aggregation"] == "AGGREGATION_COUNT"

    listed = (await cli("--json", "meters", "list")).json()["meters"]
    assert [m["key"] for m in listed] == ["tokens", "calls"]
    table = await cli("meters", "list")
    assert rows(table.stdout)[meter["meter_id"][:8]][:3] == ["tokens", "llm.call", "sum"]
    shown = (await cli("--json", "meters", "get", meter["meter_id"])).json()
    assert shown == meter

    bad = await cli("--json", "meters", "create", "x", "--event-type", "e", expect=1)
    assert bad.error()["code"] == "INVALID_ARGUMENT"  # sum without --property


async def test_prices_in_every_model_with_a_new_version(services: Services) -> None:
    cli = services.cli
    meter = (
        await cli("--json", "meters", "create", "units", "--event-type", "api.call",
                  "--property", "units")
    ).json()["meter_id"]  # fmt: skip
    create = ("--json", "prices", "create", "--meter", meter)

    per_unit = (await cli(*create, "--unit-price", "0.5")).json()
    assert (per_unit["model"], per_unit["unit_price"]) == ("PRICING_MODEL_PER_UNIT", "0.5")
    package = (
        await cli(*create, "--model", "package", "--package-size", "100", "--package-price", "2")
    ).json()
    assert (package["package_size"], package["package_price"]) == ("100", "2")
    tiers = ("--tier", "1000:0.02", "--tier", "*:0.01:5")
    for model, name in [
        ("graduated", "PRICING_MODEL_GRADUATED"),
        ("volume", "PRICING_MODEL_VOLUME"),
        ("stair-step", "PRICING_MODEL_STAIR_STEP"),
    ]:
        tiered = (await cli(*create, "--model", model, *tiers)).json()
        assert tiered["model"] == name
        assert [(t["up_to"], t["unit_price"], t["flat_price"]) for t in tiered["tiers"]] == [
            ("1000", "0.02", "0"),
            ("", "0.01", "5"),
        ]

    # A new version of the per-unit price, in force from a later time.
    version = await cli(
        "--json", "prices", "version", per_unit["price_id"], "--unit-price", "0.4",
        "--effective", "2026-02-01",
    )  # fmt: skip
    second = version.json()
    assert (second["price_id"], second["version"], second["unit_price"]) == (
        per_unit["price_id"],
        2,
        "0.4",
    )
    assert second["effective_time"] == "2026-02-01T00:00:00Z"
    versions = (await cli("--json", "prices", "list", "--price", per_unit["price_id"])).json()
    assert [(p["version"], p["unit_price"]) for p in versions["prices"]] == [(1, "0.5"), (2, "0.4")]
    listed = (await cli("--json", "prices", "list", "--meter", meter)).json()["prices"]
    assert len(listed) == 6
    table = (await cli("prices", "list", "--price", per_unit["price_id"])).stdout
    assert "0.5 each CREDITS" in table and "0.4 each CREDITS" in table

    # Refused before any call: a tier that is not UP_TO:UNIT_PRICE[:FLAT].
    bad = await cli("--json", *create[1:], "--model", "volume", "--tier", "10", expect=2)
    assert (bad.error()["kind"], bad.error()["reason"]) == ("usage", "BAD_PARAMETER")


async def test_plans_create_get_and_assign(services: Services) -> None:
    cli = services.cli
    wallet = (await cli("--json", "wallets", "create", "--customer", "pl")).json()["wallet_id"]
    meter = (
        await cli("--json", "meters", "create", "m", "--event-type", "e", "--aggregation", "count")
    ).json()["meter_id"]
    price = (await cli("--json", "prices", "create", "--meter", meter, "--unit-price", "1")).json()
    plan = (
        await cli("--json", "plans", "create", "Pro", "--price", f"{price['price_id']}:100",
                  "--cadence", "monthly", "--fixed-charge", "20", "--anchor", "2026-01-01")
    ).json()  # fmt: skip
    assert (plan["name"], plan["cadence"], plan["fixed_charge"]) == ("Pro", "CADENCE_MONTHLY", "20")
    assert plan["prices"] == [{"price_id": price["price_id"], "included_quantity": "100"}]
    assert (await cli("--json", "plans", "get", plan["plan_id"])).json() == plan
    shown = await cli("plans", "get", plan["plan_id"])
    assert "20 CREDITS" in shown.stdout and price["price_id"][:8] in shown.stdout

    assigned = await cli(
        "--json", "plans", "assign", plan["plan_id"], "--customer", "pl", "--wallet", wallet
    )
    assignment = assigned.json()
    assert (assignment["customer_id"], assignment["plan_id"], assignment["wallet_id"]) == (
        "pl",
        plan["plan_id"],
        wallet,
    )
    missing = await cli("--json", "plans", "get", "00000000-0000-4000-8000-000000000000", expect=1)
    assert missing.error()["code"] == "NOT_FOUND"

    listed = (await cli("--json", "plans", "list")).json()["plans"]
    assert plan in listed
    table = await cli("plans", "list")
    assert rows(table.stdout)[plan["plan_id"][:8]][:2] == ["Pro", "monthly"]
    assert max(len(line) for line in table.stdout.splitlines()) <= 80

    now = (await cli("--json", "plans", "assignment", "get", "--customer", "pl")).json()
    assert now == assignment
    ended = await cli(
        "--json", "plans", "assignment", "end", "--customer", "pl", "--end", "2026-06-01"
    )
    assert (ended.json()["assignment_id"], ended.json()["end_time"]) == (
        assignment["assignment_id"],
        "2026-06-01T00:00:00Z",
    )
    shown = await cli("plans", "assignment", "get", "-c", "pl", "--at", "2026-05-31T23:59:00Z")
    assert "2026-06-01 00:00" in shown.stdout
    after = await cli(
        "--json", "plans", "assignment", "get", "-c", "pl", "--at", "2026-06-01", expect=1
    )
    assert (after.error()["code"], after.error()["reason"]) == ("NOT_FOUND", "CUSTOMER_NOT_FOUND")
    twice = await cli("--json", "plans", "assignment", "end", "-c", "pl", expect=1)
    assert twice.error()["reason"] == "ASSIGNMENT_ALREADY_ENDED"


async def test_the_readme_walk_through_from_nothing_to_a_final_invoice(
    services: Services, tmp_path: Path
) -> None:
    """The README's "CLI walk-through", command for command: only the CLI, no other tool. The
    test's clock stands in for the time passing between the steps."""
    cli, clock = services.cli, services.ledger.clock

    async def made(*args: str) -> str:
        """`$(billing -q ...)`: the id of what the command made, alone on stdout."""
        [found] = (await cli("-q", *args)).stdout.split()
        return found

    wallet = await made("wallets", "create", "--customer", "acme")
    await cli("grants", "create", wallet, "1000", "--reference", "order-1042")
    meter = await made(
        "meters", "create", "api_calls", "--event-type", "api.call", "--property", "units",
        "--description", "API calls",
    )  # fmt: skip
    price = await made("prices", "create", "--meter", meter, "--unit-price", "0.5")
    plan = await made("plans", "create", "Pay as you go", "--price", f"{price}:10")
    await cli("plans", "assign", plan, "--customer", "acme", "--wallet", wallet)
    in_force = await cli("plans", "assignment", "get", "--customer", "acme")
    assert plan[:8] in in_force.stdout and wallet[:8] in in_force.stdout
    assert wallet == (await cli("--json", "wallets", "list")).json()["wallets"][0]["wallet_id"]

    clock.set(START + timedelta(hours=1))
    usage = tmp_path / "usage.jsonl"
    usage.write_text(
        "".join(
            json.dumps(
                {
                    "event_id": f"evt-{n}",
                    "customer_id": "acme",
                    "type": "api.call",
                    "occurred_time": "2026-01-01T00:30:00Z",
                    "properties": {"units": units},
                }
            )
            + "\n"
            for n, units in [(1, 30), (2, 12)]
        )
    )
    imported = await cli("events", "import", str(usage), "--sync", "--no-progress")
    assert rows(imported.stdout)["CHARGED"] == ["2"]

    draft = (await cli("--json", "invoices", "get", "--customer", "acme")).json()
    # 42 units, 10 included, 32 at 0.5.
    assert (draft["status"], draft["total"]) == ("INVOICE_STATUS_DRAFT", "16")
    assert (await cli("--json", "balance", wallet)).json()["available"] == "984"

    clock.set(START + timedelta(days=32))  # the January period has ended
    closed = await cli(
        "--json", "invoices", "close", "--customer", "acme", "--period", "2026-01-15"
    )
    final = closed.json()
    assert (final["invoice_id"], final["status"], final["total"]) == (
        draft["invoice_id"],
        "INVOICE_STATUS_FINAL",
        "16",
    )
    table = await cli("invoices", "get", final["invoice_id"])
    assert "final" in table.stdout and "API calls" in table.stdout


async def test_plans_create_with_a_debited_fixed_charge_and_a_minimum_commitment(
    services: Services,
) -> None:
    cli = services.cli
    meter = (
        await cli(
            "--json", "meters", "create", "m2", "--event-type", "e2", "--aggregation", "count"
        )
    ).json()["meter_id"]
    price = (await cli("--json", "prices", "create", "--meter", meter, "--unit-price", "1")).json()
    plan = (
        await cli("--json", "plans", "create", "Team", "--price", price["price_id"],
                  "--fixed-charge", "20", "--collect", "debit", "--minimum-commitment", "50")
    ).json()  # fmt: skip
    assert (plan["fixed_charge_collection"], plan["minimum_commitment"]) == (
        "FIXED_CHARGE_COLLECTION_DEBIT",
        "50",
    )
    shown = await cli("plans", "get", plan["plan_id"])
    assert "debit" in shown.stdout and "50 CREDITS" in shown.stdout
    default = (await cli("--json", "plans", "create", "Basic", "--price", price["price_id"])).json()
    assert (default["fixed_charge_collection"], default["minimum_commitment"]) == (
        "FIXED_CHARGE_COLLECTION_INVOICE",
        "0",
    )
    bad = await cli("--json", "plans", "create", "X", "--minimum-commitment", "-1", expect=2)
    assert "--minimum-commitment" in bad.stderr
    annual = (
        await cli("--json", "plans", "create", "Enterprise", "--price", price["price_id"],
                  "--minimum-commitment", "12000", "--commitment-period", "annual")
    ).json()  # fmt: skip
    assert (annual["minimum_commitment"], annual["commitment_period"]) == (
        "12000",
        "COMMITMENT_PERIOD_ANNUAL",
    )
    assert "annual" in (await cli("plans", "get", annual["plan_id"])).stdout
    prorated = (
        await cli("--json", "plans", "create", "Monthly", "--price", price["price_id"],
                  "--fixed-charge", "31", "--anchor", "2026-01-01T00:00:00Z", "--prorate")
    ).json()  # fmt: skip
    assert prorated["prorate_fixed_charge"] is True
    assert (
        "its share of the fixed charge" in (await cli("plans", "get", prorated["plan_id"])).stdout
    )
    assert default["prorate_fixed_charge"] is False  # the whole charge
