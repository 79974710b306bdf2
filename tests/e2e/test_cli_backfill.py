"""The CLI's history import, against the real services: a price and an assignment effective months
ago (`--backfill`), then `events import --backfill FILE` rates events older than the grace window
that a plain `events import` rejects (EVENT_TOO_OLD)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tests.support.cli import Services, rows

NOW = datetime(2026, 5, 10, tzinfo=UTC)


async def test_events_import_with_backfill_rates_history_the_plain_import_rejects(
    services: Services, tmp_path: Path
) -> None:
    cli = services.cli
    services.ledger.clock.set(NOW)
    wallet_id = (
        await cli("--json", "wallets", "create", "--customer", "moved", "--overage", "allow")
    ).json()["wallet_id"]
    meter_id = (
        await cli(
            "--json", "meters", "create", "calls", "--event-type", "call", "--aggregation", "count"
        )
    ).json()["meter_id"]
    since = "2026-01-01T00:00:00Z"
    price = ["prices", "create", "--meter", meter_id, "--unit-price", "0.5", "--effective", since]
    refused = await cli("--json", *price, expect=1)
    assert refused.error()["reason"] == "EFFECTIVE_TIME_IN_PAST"
    price_id = (await cli("--json", *price, "--backfill")).json()["price_id"]
    plan_id = (
        await cli("--json", "plans", "create", "moved", "--price", price_id, "--anchor", since)
    ).json()["plan_id"]
    assign = ["plans", "assign", plan_id, "--customer", "moved", "--wallet", wallet_id]
    await cli("--json", *assign, "--start", since, "--backfill")

    lines = [
        json.dumps(
            {
                "event_id": f"old-{n}",
                "customer_id": "moved",
                "type": "call",
                "occurred_time": "2026-02-10T12:00:00Z",
            }
        )
        for n in range(3)
    ]
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")

    plain = (await cli("--json", "events", "import", str(path), expect=3)).json()
    assert (plain["counts"]["rejected"], plain["reasons"]) == (3, {"EVENT_TOO_OLD": 3})
    imported = await cli("events", "import", str(path), "--backfill", "--no-progress")
    assert rows(imported.stdout)["ACCEPTED"] == ["3"]
    again = (await cli("--json", "events", "import", str(path), "--backfill")).json()
    assert again["counts"]["duplicate"] == 3

    await services.rating.forwarder.run_once()
    invoice = (
        await cli("--json", "invoices", "get", "--customer", "moved", "--period", "2026-02-10")
    ).json()
    assert (invoice["usage_total"], invoice["lines"][0]["quantity"]) == ("1.5", "3")
    await cli("events", "import", str(path), "--backfill", "--sync", expect=2)
