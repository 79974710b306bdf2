"""The `billing` entry point: global options and the command tree."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

# typer 0.29 vendors click: its exceptions are these, not the click package's.
from typer._click import exceptions as click

from billing_cli import (
    catalogue,
    grants,
    holds,
    intake,
    keys,
    ledger,
    plans,
    pool,
    refunds,
    report,
    rules,
    watch,
    webhooks,
)
from billing_cli.errors import EXIT_USAGE, usage_failure
from billing_cli.events import events
from billing_cli.invoices import invoices
from billing_cli.render import set_wide
from billing_cli.state import (
    DEFAULT_LEDGER,
    DEFAULT_RATING,
    DEV_API_KEY_FILE,
    DEV_CA_FILE,
    State,
    default_file,
    read_api_key,
)

app = typer.Typer(
    name="billing",
    help=(
        "Operator tool for the billing backend, over gRPC: wallets, grants, debits and "
        "refunds, holds, top-ups, alerts, allotments, webhooks and wallet events; meters, "
        "prices, plans, usage event import and invoices. Tables by default (--wide for full "
        "ids), --json for scripts (errors too), -q for ids alone."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main(
    ctx: typer.Context,
    ledger_target: Annotated[
        str,
        typer.Option("--ledger", envvar="BILLING_LEDGER", help="Ledger service host:port."),
    ] = DEFAULT_LEDGER,
    rating_target: Annotated[
        str,
        typer.Option("--rating", envvar="BILLING_RATING", help="Rating service host:port."),
    ] = DEFAULT_RATING,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="Print JSON (proto field names) instead of tables; errors too."
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print only ids (of what was made, or listed), one a line."
        ),
    ] = False,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide", help="Full ids and ISO 8601 times in tables (default: 8-character ids)."
        ),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(min=0.1, envvar="BILLING_TIMEOUT", help="Deadline of each call, in seconds."),
    ] = 10.0,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            envvar="BILLING_CA_FILE",
            help=f"CA certificate the servers' certificates are checked against (default: "
            f"{DEV_CA_FILE} when present, else the system's trusted roots).",
        ),
    ] = None,
    cert_file: Annotated[
        Path | None,
        typer.Option(envvar="BILLING_CERT_FILE", help="Client certificate, for mutual TLS."),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(envvar="BILLING_KEY_FILE", help="The client certificate's key."),
    ] = None,
    plaintext: Annotated[
        bool,
        typer.Option(
            envvar="BILLING_PLAINTEXT",
            help="Connect without TLS (only to servers started with plaintext, in development).",
        ),
    ] = False,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="BILLING_API_KEY",
            help="API key, sent as `authorization: Bearer <key>` on every call.",
        ),
    ] = None,
    api_key_file: Annotated[
        Path | None,
        typer.Option(
            envvar="BILLING_API_KEY_FILE",
            help=f"File holding the API key (default: {DEV_API_KEY_FILE} when present).",
        ),
    ] = None,
) -> None:
    # An embedding caller (the tests) may pass its own State, with consoles of its choosing.
    state = ctx.obj if isinstance(ctx.obj, State) else State()
    state.ledger_target, state.rating_target = ledger_target, rating_target
    state.json, state.quiet, state.timeout = json_output, quiet, timeout
    set_wide(wide)
    state.ca_file = default_file(ca_file, DEV_CA_FILE)
    state.cert_file, state.key_file, state.plaintext = cert_file, key_file, plaintext
    # An option wins over the key an embedding caller's State holds, which wins over the file.
    state.api_key = read_api_key(api_key or state.api_key, api_key_file)
    ctx.obj = state
    ctx.call_on_close(state.close)


ledger.wallets.command("events")(watch.wallet_events)
app.add_typer(ledger.wallets, name="wallets")
app.add_typer(grants.grants, name="grants")
app.command("balance")(ledger.balance)
app.command("history")(ledger.history)
app.command("debit")(ledger.debit)
app.command("refund")(refunds.refund)
app.add_typer(holds.holds, name="holds")
app.command("authorize")(holds.authorize)
app.add_typer(rules.top_ups, name="top-ups")
app.add_typer(rules.alerts, name="alerts")
app.add_typer(rules.allotments, name="allotments")
app.add_typer(webhooks.webhooks, name="webhooks")
app.add_typer(catalogue.meters, name="meters")
app.add_typer(catalogue.prices, name="prices")
app.add_typer(plans.plans, name="plans")
app.add_typer(events, name="events")
app.add_typer(invoices, name="invoices")
app.add_typer(keys.keys, name="keys")
app.add_typer(report.report, name="report")
app.add_typer(intake.intake, name="intake")
app.add_typer(pool.pool, name="pool")


def run(argv: Sequence[str] | None = None, state: State | None = None) -> int:
    """The entry point: runs one command line and returns its exit code. A refused command line
    (unknown option, missing argument, bad value) exits 2; with --json its error is one JSON
    line on stderr in the same shape as a failed call's (`kind` "usage")."""
    args = list(sys.argv[1:] if argv is None else argv)
    state = state if state is not None else State()
    options = args[: args.index("--")] if "--" in args else args
    state.json = "--json" in options  # before parsing, which may be what fails
    try:
        code = app(args=args, prog_name="billing", standalone_mode=False, obj=state)
    except click.NoArgsIsHelpError as exc:
        state.err.file.write(exc.format_message() + "\n")
        return EXIT_USAGE
    except click.ClickException as exc:
        if state.json:
            state.print_failure(usage_failure(exc))
        else:
            exc.show(file=state.err.file)
        return exc.exit_code
    except typer.Abort:
        return 130
    return int(code or 0)


def main_script() -> None:
    """The `billing` console script and `python -m billing_cli`."""
    sys.exit(run())
