"""Command line: `python -m ledger_service serve|migrate|create-admin-key|verify WALLET|
run-expiry [WALLET]`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from billing_common import auth_setup, database, listening, tls
from billing_common.clock import SystemClock
from billing_common.errors import BillingError
from billing_common.listening import PortInUse
from billing_common.logs import configure_logging
from billing_common.money import exact, format_amount
from ledger_service import main
from ledger_service.app.service import LedgerApp
from ledger_service.config import LedgerSettings, settings_parser

T = TypeVar("T")


@exact  # verify sums amounts in the app layer: under MONEY, like every money operation
async def _with_app(settings: LedgerSettings, work: Callable[[LedgerApp], Awaitable[T]]) -> T:
    uri = await main.database_uri(settings)
    engine = database.create_engine(uri, pool_size=2)
    try:
        return await work(main.make_app(settings, engine, SystemClock()))
    finally:
        await engine.dispose()


def build_parser() -> argparse.ArgumentParser:
    common = settings_parser()
    parser = argparse.ArgumentParser(
        prog="ledger_service", description="The billing ledger service.", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "serve", parents=[common], help="run the gRPC server (migrates unless --no-migrate)"
    )
    sub.add_parser("migrate", parents=[common], help="apply database migrations and exit")
    admin = sub.add_parser(
        "create-admin-key",
        parents=[common],
        help="create an admin API key (every scope) and print it, once (migrates first)",
    )
    admin.add_argument("--name", default="admin", help="what the key is for")
    verify = sub.add_parser("verify", parents=[common], help="recompute a wallet from its journal")
    verify.add_argument("wallet_id")
    expiry = sub.add_parser("run-expiry", parents=[common], help="book due write-offs now")
    expiry.add_argument("wallet_id", nargs="?", default="")
    return parser


def _serve(settings: LedgerSettings) -> int:
    try:
        return main.serve(settings)
    except PortInUse as exc:  # one line naming the setting, exit 2, no traceback
        return listening.report(exc, "LEDGER")


def cli(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = LedgerSettings.from_env().with_args(args)
        if args.command == "serve":
            tls.check(settings)
        if args.command in ("serve", "migrate", "create-admin-key"):  # these migrate
            main.sealer(settings)  # the secrets key (migration 0011 needs it)
    except ValueError as exc:  # a setting that cannot work: say which, exit 2
        parser.error(str(exc))
    configure_logging(settings.log_level)

    if args.command == "serve":
        return _serve(settings)
    if args.command == "migrate":
        asyncio.run(upgrade_async_uri(settings))
        return 0
    if args.command == "create-admin-key":
        asyncio.run(upgrade_async_uri(settings))
        uri = asyncio.run(main.database_uri(settings))
        print(asyncio.run(auth_setup.create_admin_key_in(uri, args.name)))
        return 0
    try:
        if args.command == "verify":
            report = asyncio.run(_with_app(settings, lambda app: app.verify_wallet(args.wallet_id)))
            print(
                json.dumps(
                    {
                        "consistent": report.consistent,
                        "differences": [
                            [s, format_amount(a), format_amount(b)]
                            for s, a, b in report.differences
                        ],
                        "granted": format_amount(report.granted),
                        "consumed": format_amount(report.consumed),
                        "expired": format_amount(report.expired),
                        "voided": format_amount(report.voided),
                        "remaining": format_amount(report.remaining),
                        "overage": format_amount(report.overage),
                    },
                    indent=2,
                )
            )
            return 0 if report.consistent else 1
        entries = asyncio.run(_with_app(settings, lambda app: app.run_expiry(args.wallet_id)))
        for e in entries:
            print(
                f"{e.wallet_id}  {e.entry.type.value:<18} "
                f"{format_amount(e.entry.amount):>14}  {e.entry.description}"
            )
        print(f"{len(entries)} entries booked")
        return 0
    except BillingError as exc:
        print(f"error: {exc.reason}: {exc.message}", file=sys.stderr)
        return 2


async def upgrade_async_uri(settings: LedgerSettings) -> None:
    await main.migrate(settings, await main.database_uri(settings))


if __name__ == "__main__":
    sys.exit(cli())
