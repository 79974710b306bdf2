"""`billing invoices get` shows where an invoice stands against its plan's commitment (the span,
used, still to go) when the plan has one, and nothing about it otherwise."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from billing.rating.v1 import rating_pb2 as pb
from rich.console import Console

from billing_cli.invoices import show_invoice
from billing_cli.state import State
from billing_common.protoconv import timestamp


def shown(inv: pb.Invoice) -> str:
    out = Console(file=io.StringIO(), width=200, highlight=False)
    show_invoice(State(out=out, err=out), inv)
    return out.file.getvalue()  # type: ignore[attr-defined,no-any-return]


def test_an_invoice_under_an_annual_commitment_shows_its_progress() -> None:
    inv = pb.Invoice(
        invoice_id="i1", true_up="0", commitment_used="200", commitment_remaining="1000"
    )
    inv.commitment_start_time.CopyFrom(timestamp(datetime(2026, 1, 1, tzinfo=UTC)))
    inv.commitment_end_time.CopyFrom(timestamp(datetime(2027, 1, 1, tzinfo=UTC)))
    text = shown(inv)
    assert "200 used, 1000 to go, 2026-01-01 00:00 .. 2027-01-01 00:00" in text


def test_an_invoice_without_a_commitment_says_nothing_of_one() -> None:
    assert "to go" not in shown(pb.Invoice(invoice_id="i2", true_up="0"))
