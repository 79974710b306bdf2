"""Command line: `python -m rating_service serve|migrate`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from billing_common import tls
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
    return parser


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
        return main.serve(settings)
    else:
        asyncio.run(_migrate(settings))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
