"""Run the demo: `python -m demo` (or `make demo`).

Starts the ledger on the embedded PostgreSQL (data kept in .data/postgres), runs the scenario
against it over gRPC, prints the result and stops the service with SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc

from billing_common.process import start_service
from demo import ledger_scenario

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"


async def main() -> int:
    DATA.mkdir(exist_ok=True)
    log_path = DATA / "demo-services.log"
    print(
        f"Starting the ledger on the embedded PostgreSQL in {DATA.relative_to(ROOT)}/postgres "
        f"(service logs: {log_path.relative_to(ROOT)}) ..."
    )
    ledger = await start_service(
        "ledger_service",
        {"LEDGER_LISTEN": "127.0.0.1:0", "LEDGER_DATA_DIR": str(DATA / "postgres")},
        cwd=ROOT,
        log_path=log_path,
    )
    try:
        async with grpc.aio.insecure_channel(ledger.target) as channel:
            await ledger_scenario.run(channel)
    finally:
        code = await ledger.stop()
        print(f"\nLedger stopped cleanly (exit code {code}).")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
