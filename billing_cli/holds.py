"""Hold commands: reserve credits, then capture or release them; `authorize`: may a wallet be
used for an amount now, optionally holding it."""

from __future__ import annotations

from typing import Annotated

import typer
from billing.ledger.v1 import ledger_pb2 as pb

from billing_cli import parse
from billing_cli.errors import EXIT_DENIED
from billing_cli.ledger import RequestId, show_entry
from billing_cli.render import enum, table, when
from billing_cli.state import State, state_of, to_dict

holds = typer.Typer(help="Reserve credits and capture or release them.", no_args_is_help=True)

# --- holds ---------------------------------------------------------------------------------------

HOLD_COLUMNS = ["Hold", "Wallet", "Amount", "Captured", "State", "Created", "Expires", "Feature"]


def _hold_rows(hold: pb.Hold) -> list[list[object]]:
    return [
        [
            hold.hold_id,
            hold.wallet_id,
            hold.amount,
            hold.captured_amount,
            enum(hold, "state"),
            when(hold, "create_time"),
            when(hold, "expire_time"),
            hold.feature,
        ]
    ]


def _show_hold(state: State, response: pb.CreateHoldResponse | pb.CaptureHoldResponse) -> None:
    def show() -> None:
        state.out.print(table("Hold", HOLD_COLUMNS, _hold_rows(response.hold)))
        show_entry(state, response.entry)

    state.emit(to_dict(response), show)


@holds.command("create")
def holds_create(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    amount: Annotated[str, typer.Argument(help="Positive decimal, covered by available credits.")],
    timeout: Annotated[
        str | None,
        typer.Option("--expires-in", help="Released automatically after (90s, 15m, 1h)."),
    ] = None,
    feature: Annotated[str, typer.Option(help="The feature the work is for.")] = "",
    description: Annotated[str, typer.Option(help="What the hold is for.")] = "",
    request_id: RequestId = None,
) -> None:
    """Reserve credits; the available balance drops at once."""
    state = state_of(ctx)
    request = pb.CreateHoldRequest(
        wallet_id=wallet_id, amount=parse.amount(amount), feature=feature, description=description
    )
    if timeout is not None:
        request.timeout.CopyFrom(parse.duration(timeout, name="--expires-in"))
    request.request_id = state.request_id(request_id)
    response: pb.CreateHoldResponse = state.call(
        state.ledger.CreateHold, request, name="CreateHold", request_id=request.request_id
    )
    _show_hold(state, response)


@holds.command("capture")
def holds_capture(
    ctx: typer.Context,
    hold_id: Annotated[str, typer.Argument()],
    amount: Annotated[str, typer.Argument(help="The final amount, zero or more.")],
    description: Annotated[str, typer.Option(help="History line.")] = "",
    request_id: RequestId = None,
) -> None:
    """Turn a hold into usage."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.CaptureHoldRequest(
        request_id=rid,
        hold_id=hold_id,
        amount=parse.amount(amount, allow_zero=True),
        description=description,
    )
    _show_hold(
        state, state.call(state.ledger.CaptureHold, request, name="CaptureHold", request_id=rid)
    )


@holds.command("release")
def holds_release(
    ctx: typer.Context,
    hold_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why; becomes the RELEASE entry's description.")] = "",
    request_id: RequestId = None,
) -> None:
    """Free a hold's credits."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.ReleaseHoldRequest(request_id=rid, hold_id=hold_id, reason=reason)
    _show_hold(
        state, state.call(state.ledger.ReleaseHold, request, name="ReleaseHold", request_id=rid)
    )


@holds.command("get")
def holds_get(ctx: typer.Context, hold_id: Annotated[str, typer.Argument()]) -> None:
    """Show one hold."""
    state = state_of(ctx)
    hold = state.call(state.ledger.GetHold, pb.GetHoldRequest(hold_id=hold_id), name="GetHold").hold
    state.emit(
        to_dict(hold), lambda: state.out.print(table("Hold", HOLD_COLUMNS, _hold_rows(hold)))
    )


# --- authorize -----------------------------------------------------------------------------------


def authorize(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    amount: Annotated[str, typer.Argument(help="Positive decimal: the most the action may use.")],
    feature: Annotated[str, typer.Option(help="The feature the action is for.")] = "",
    hold: Annotated[
        bool, typer.Option("--hold", help="Also reserve the amount, in the same step.")
    ] = False,
    ttl: Annotated[
        str | None,
        typer.Option("--ttl", help="With --hold: released automatically after (90s, 10m, 1h)."),
    ] = None,
    description: Annotated[str, typer.Option(help="With --hold: what the hold is for.")] = "",
    member: Annotated[
        str, typer.Option(help="The pool member asking (a DENY member past its budget: denied).")
    ] = "",
    request_id: RequestId = None,
) -> None:
    """May this wallet be used for AMOUNT now? Exits 0 when allowed, 4 when denied."""
    state = state_of(ctx)
    request = pb.AuthorizeRequest(
        member_id=member,
        wallet_id=wallet_id,
        amount=parse.amount(amount),
        feature=feature,
        hold=hold,
        description=description,
    )
    if ttl is not None:
        request.hold_timeout.CopyFrom(parse.duration(ttl, name="--ttl"))
    if hold:  # a pure check writes nothing and needs no request id
        request.request_id = state.request_id(request_id)
    answer: pb.AuthorizeResponse = state.call(
        state.ledger.Authorize, request, name="Authorize", request_id=request.request_id or None
    )

    def show() -> None:
        verdict = "allowed" if answer.allowed else "denied"
        state.out.print(
            table(
                f"Authorize {amount} on {answer.wallet_id}: {verdict}",
                ["Figure", "Value"],
                [
                    ["reason", enum(answer, "reason")],
                    ["available before", answer.available_before],
                    ["available after", answer.available_after],
                    ["overage", answer.overage_amount],
                    ["top-up", answer.top_up_amount],
                    ["shortfall", answer.shortfall],
                    *([["member budget left", answer.member_remaining]] if member else []),
                ],
            )
        )
        if answer.HasField("hold"):
            state.out.print(table("Hold", HOLD_COLUMNS, _hold_rows(answer.hold)))

    state.emit(to_dict(answer), show)
    if not answer.allowed:
        raise typer.Exit(EXIT_DENIED)
