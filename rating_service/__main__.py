"""Command line: `python -m rating_service serve|migrate|create-admin-key`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from billing_common import auth_setup, listening, tls
from billing_common.listening import PortInUse
from billing_common.logs import configure_logging
from rating_service import main
from rating_service.adapters.db.migrate import upgrade_async
from rating_service.config import RatingSettings, settings_parser


async def _migrate(settings: RatingSettings) -> None:
    await upgrade_async(await main.database_uri(settings))


def build_parser() -> argparse.ArgumentParser:
    common = settings_parser()
    parser = argparse.ArgumentParser(
        prog="rating_service", description="The billing rating service.", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "serve", parents=[common], help="run the gRPC server and the forwarder (migrates first)"
    )
    sub.add_parser("migrate", parents=[common], help="apply database migrations and exit")
    admin = sub.add_parser(
        "create-admin-key",
        parents=[common],
        help="create an admin API key (every scope) and print it, once (migrates first)",
    )
    admin.add_argument("--name", default="admin", help="what the key is for")
    return parser


def _serve(settings: RatingSettings) -> int:
    try:
        return main.serve(settings)
    except PortInUse as exc:  # one line naming the setting, exit 2, no traceback
        return listening.report(exc, "RATING")


def cli(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = RatingSettings.from_env().with_args(args)
        if args.command == "serve":
            tls.check(settings)
    except ValueError as exc:  # a setting that cannot work: say which, exit 2
        parser.error(str(exc))
    configure_logging(settings.log_level)
    if args.command == "serve":
        return _serve(settings)
    asyncio.run(_migrate(settings))
    if args.command == "create-admin-key":
        uri = asyncio.run(main.database_uri(settings))
        print(asyncio.run(auth_setup.create_admin_key_in(uri, args.name)))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
