"""`billing report consumption` and `billing report revenue`: the hand-computed journal's
figures in tables within 80 columns, and the same figures as JSON."""

from __future__ import annotations

import re

from tests.support.cli import Cli, rows
from tests.support.reports import book_journal
from tests.support.servers import RunningLedger

RANGE = ("--start", "2026-01-01", "--end", "2026-01-08")


async def test_report_consumption_shows_days_features_and_the_burn_rate(
    ledger_server: RunningLedger,
) -> None:
    journal = await book_journal(ledger_server.stub, ledger_server.clock)
    wallet = journal.wallet.wallet_id
    cli = Cli(ledger_server.target, width=80)
    shown = (await cli("report", "consumption", "--wallet", wallet, *RANGE)).stdout
    assert max(len(line) for line in shown.splitlines()) <= 80, shown
    table = rows(shown)
    assert table["2026-01-01"] == ["10", "20", "0", "30"]
    assert table["2026-01-06"] == ["15", "0", "-15", "0"]
    assert table["total"] == ["75", "20", "0", "95"]
    assert table["chat"] == ["40", "20", "0", "60"]
    assert "13.571428571428571429" in shown

    weekly = (
        await cli("--json", "report", "consumption", "--wallet", wallet, "--bucket", "week", *RANGE)
    ).json()
    (report,) = weekly["wallets"]
    assert [b["consumption"]["total"] for b in report["buckets"]] == ["80", "15"]
    assert report["burn_rate_per_week"] == "95.000000000000000003"


async def test_report_revenue_shows_revenue_breakage_and_deferred_per_customer_and_total(
    ledger_server: RunningLedger,
) -> None:
    journal = await book_journal(ledger_server.stub, ledger_server.clock)
    cli = Cli(ledger_server.target, width=80)
    span = ("--start", "2026-01-01", "--end", "2026-02-01")
    shown = (await cli("report", "revenue", *span)).stdout
    assert max(len(line) for line in shown.splitlines()) <= 80, shown
    # Period, currency, unit, revenue, breakage, deferred, promotional credits used: the
    # customer's table, then every customer's (the same, with one customer).
    cells = [
        [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        for line in shown.splitlines()
        if "CREDITS" in line
    ]
    assert (
        cells
        == [
            ["2026-01-01", "-", "CREDITS", "0", "0", "0", "20"],
            ["2026-01-01", "USD", "CREDITS", "32.75", "25", "6.25", "0"],
        ]
        * 2
    )

    data = (
        await cli("--json", "report", "revenue", "--customer", journal.wallet.customer_id, *span)
    ).json()
    (customer,) = data["customers"]
    usd = next(f for f in customer["periods"][0]["figures"] if f["currency"] == "USD")
    assert (usd["revenue_recognized"], usd["breakage"], usd["deferred_revenue"]) == (
        "32.75",
        "25",
        "6.25",
    )
    assert data["total"] == customer["periods"]
