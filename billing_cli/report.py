"""Report commands (`billing report ...`): the depletion forecast of a wallet."""

from __future__ import annotations

from typing import Annotated

import typer
from billing.ledger.v1 import ledger_pb2 as pb

from billing_cli import parse
from billing_cli.render import pairs, table, when
from billing_cli.state import state_of, to_dict

report = typer.Typer(help="Consumption insight: forecasts and reports.", no_args_is_help=True)


@report.command("forecast")
def report_forecast(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    horizon: Annotated[
        str | None,
        typer.Option("--horizon", help="How far ahead, in whole days (30d; default 90d)."),
    ] = None,
) -> None:
    """When the available balance reaches zero at the recent burn, with its range, the
    expiries that come first and the top-ups and overage it implies."""
    state = state_of(ctx)
    request = pb.GetDepletionForecastRequest(wallet_id=wallet_id)
    if horizon is not None:
        request.horizon.CopyFrom(parse.duration(horizon, name="--horizon"))
    f: pb.GetDepletionForecastResponse = state.call(
        state.ledger.GetDepletionForecast, request, name="GetDepletionForecast"
    )

    def show() -> None:
        never = "not within the horizon"
        state.out.print(
            pairs(
                "Depletion forecast",
                [
                    ("Wallet", f.wallet_id),
                    ("As of", when(f, "as_of_time")),
                    ("Available", f.available),
                    ("Daily burn", f"{f.daily_burn} ({f.daily_burn_low} to {f.daily_burn_high})"),
                    ("Depletion", when(f, "depletion_time") or never),
                    ("Earliest", when(f, "depletion_earliest_time") or never),
                    ("Latest", when(f, "depletion_latest_time") or never),
                    ("Overage", f.overage),
                    ("Horizon end", when(f, "horizon_end_time")),
                ],
            )
        )
        if f.expiries:
            rows = [[e.grant_id, when(e, "expire_time"), e.amount] for e in f.expiries]
            state.out.print(table("Expiring unused", ["Grant", "Expires", "Amount"], rows))
        if f.top_ups:
            rows = [[when(t, "time"), t.amount] for t in f.top_ups]
            state.out.print(table("Top-ups the rule would make", ["When", "Amount"], rows))

    state.emit(to_dict(f), show)
