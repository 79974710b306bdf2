"""`billing report forecast` against the real ledger: the depletion forecast as a table and as
JSON."""

from __future__ import annotations

from datetime import timedelta

from billing_common.protoconv import timestamp
from tests.support.cli import Cli
from tests.support.ledger import debit_request, make_grant, make_wallet
from tests.support.servers import RunningLedger

DAY = timedelta(days=1)


async def test_report_forecast_shows_burn_depletion_and_expiries(
    ledger_server: RunningLedger,
) -> None:
    stub, clock = ledger_server.stub, ledger_server.clock
    wallet = (await make_wallet(stub)).wallet_id
    first = await make_grant(stub, wallet, "60", expire=clock.now() + 5 * DAY)  # burns first
    await make_grant(stub, wallet, "100")
    for _ in range(3):  # 10 a day for the wallet's 3 days
        clock.advance(DAY)
        await stub.Debit(debit_request(wallet, "10"))
    now = clock.now()
    cli = Cli(ledger_server.target)

    found = (await cli("--json", "report", "forecast", wallet)).json()
    assert (found["available"], found["daily_burn"]) == ("130", "10")
    assert (found["daily_burn_low"], found["daily_burn_high"]) == ("10", "10")
    # The first grant has 30 left and expires in 2 days: 20 burnt, 10 expire unused; then the
    # second's 100 last 10 days.
    expiry = timestamp(now + 2 * DAY).ToJsonString()
    assert found["expiries"] == [
        {"grant_id": first.grant.grant_id, "expire_time": expiry, "amount": "10"}
    ]
    assert found["depletion_time"] == timestamp(now + 12 * DAY).ToJsonString()

    shown = await cli("report", "forecast", wallet, "--horizon", "7d")
    assert "Depletion forecast" in shown.stdout
    assert "not within the horizon" in shown.stdout  # 12 days is beyond 7
    assert "10 (10 to 10)" in shown.stdout
    assert "Expiring unused" in shown.stdout
