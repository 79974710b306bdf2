"""Run the demo: `python -m demo` (or `make demo`).

Starts the ledger and the rating service on the embedded PostgreSQL (data kept in .data/postgres;
each service has its own database in it), runs the scenarios against them over gRPC with TLS (the
development CA in .data/tls, which the services create on first start), prints the results and
the customer page's address (the scenario's wallet and customer-scoped read keys in its
fragment), waits for Enter when run from a terminal (so the page can be opened), and stops both
services with SIGTERM. It calls with the admin API key the services keep in .data/admin.key.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc

from billing_common import devcerts
from billing_common.client_auth import KeyFromFile, bearer_interceptors
from billing_common.process import ServiceProcess, start_service
from billing_common.tls import channel_credentials
from demo import forecast, ledger_scenario, page, pool_scenario, rating_scenario

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"


async def main() -> int:
    DATA.mkdir(exist_ok=True)
    log_path = DATA / "demo-services.log"
    pg = str(DATA / "postgres")
    print(
        f"Starting the ledger and rating services on the embedded PostgreSQL in "
        f"{DATA.relative_to(ROOT)}/postgres (service logs: {log_path.relative_to(ROOT)}) ..."
    )
    # What the services would create on first start; made here first so the demo's own
    # channels can trust it.
    certs = devcerts.ensure(DATA / "tls")
    print(f"TLS with the development CA in {certs.folder.relative_to(ROOT)}")
    services: list[ServiceProcess] = []
    try:
        ledger = await start_service(
            "ledger_service",
            # A short sweep interval: the demo's signal is raised by the sweeper within seconds.
            {"LEDGER_LISTEN": "127.0.0.1:0", "LEDGER_DATA_DIR": pg, "LEDGER_SWEEP_INTERVAL_S": "2"},
            cwd=ROOT,
            log_path=log_path,
        )
        services.append(ledger)
        rating = await start_service(
            "rating_service",
            {
                "RATING_LISTEN": "127.0.0.1:0",
                "RATING_DATA_DIR": pg,
                "RATING_LEDGER_TARGET": ledger.target,
                # the customer page, served by the ledger, reads usage from rating's HTTP port
                "RATING_HTTP_CORS_ORIGINS": f"https://127.0.0.1:{ledger.http_port}",
            },
            cwd=ROOT,
            log_path=log_path,
        )
        services.append(rating)
        # The admin key both services made sure of at start (the ledger wrote it on its first
        # start): the demo calls as the operator.
        admin = bearer_interceptors(KeyFromFile(DATA / "admin.key"))
        async with (
            grpc.aio.secure_channel(
                ledger.target, channel_credentials(certs.ca), interceptors=admin
            ) as ledger_channel,
            grpc.aio.secure_channel(
                rating.target, channel_credentials(certs.ca), interceptors=admin
            ) as rating_channel,
        ):
            wallet_id = await ledger_scenario.run(ledger_channel)
            await forecast.show(ledger_channel, wallet_id)
            await pool_scenario.run(ledger_channel)
            customer = await rating_scenario.run(ledger_channel, rating_channel)
            url = await page.url(ledger, rating, ledger_channel, rating_channel, customer)
            page.show(url, certs.ca)
            if sys.stdin.isatty():
                await asyncio.to_thread(input, "Press Enter to stop the services. ")
    finally:
        codes = [await service.stop() for service in reversed(services)]
        print(f"\nServices stopped cleanly (exit codes {codes}).")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
