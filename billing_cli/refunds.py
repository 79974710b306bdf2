"""`refund ENTRY [AMOUNT]`: give back all or part of a debit to the grants it burnt."""

from __future__ import annotations

from typing import Annotated

import typer
from billing.ledger.v1 import ledger_pb2 as pb

from billing_cli import parse
from billing_cli.ledger import ENTRY_COLUMNS, RequestId, entry_rows
from billing_cli.render import table
from billing_cli.state import state_of, to_dict


def refund(
    ctx: typer.Context,
    entry_id: Annotated[str, typer.Argument(help="The DEBIT entry (from `history`).")],
    amount: Annotated[
        str | None, typer.Argument(help="Positive decimal; default what is left of the debit.")
    ] = None,
    description: Annotated[str, typer.Option(help="History line.")] = "",
    request_id: RequestId = None,
) -> None:
    """Refund a debit, in full or in part (several partial refunds up to the debit)."""
    state = state_of(ctx)
    request = pb.RefundDebitRequest(entry_id=entry_id, description=description)
    if amount is not None:
        request.amount = parse.amount(amount)
    request.request_id = state.request_id(request_id)
    response: pb.RefundDebitResponse = state.call(
        state.ledger.RefundDebit, request, name="RefundDebit", request_id=request.request_id
    )
    state.emit(
        to_dict(response),
        lambda: state.out.print(
            table("Entries", ENTRY_COLUMNS, entry_rows(list(response.entries)))
        ),
    )
