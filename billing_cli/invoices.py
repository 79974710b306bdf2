"""Invoice commands: get, list and close a billing period."""

from __future__ import annotations

from typing import Annotated

import typer
from billing.rating.v1 import rating_pb2 as pb

from billing_cli import parse
from billing_cli.choices import InvoiceStatus
from billing_cli.ledger import PAGE_MAX, RequestId
from billing_cli.render import enum, pairs, table, when
from billing_cli.state import State, state_of, to_dict

invoices = typer.Typer(help="Read, list and close invoices.", no_args_is_help=True)

LIST_COLUMNS = ["Invoice", "Customer", "Period start", "Period end", "Status", "Unit", "Total"]


def show_invoice(state: State, inv: pb.Invoice) -> None:
    def render() -> None:
        state.out.print(
            pairs(
                f"Invoice {inv.invoice_id}",
                [
                    ("customer", inv.customer_id),
                    ("wallet", inv.wallet_id),
                    ("plan", inv.plan_id),
                    (
                        "period",
                        f"{when(inv, 'period_start_time')} .. {when(inv, 'period_end_time')}",
                    ),
                    ("status", enum(inv, "status")),
                    ("closed", when(inv, "close_time")),
                    ("unit", inv.unit),
                    ("fixed charge", inv.fixed_charge),
                    ("fixed charge paid", inv.fixed_charge_paid or "0"),
                    ("usage total", inv.usage_total),
                    ("true-up (minimum commitment)", inv.true_up or "0"),
                    *(
                        [
                            (
                                "commitment",
                                f"{inv.commitment_used} used, {inv.commitment_remaining} to go, "
                                f"{when(inv, 'commitment_start_time')} .. "
                                f"{when(inv, 'commitment_end_time')}",
                            )
                        ]
                        if inv.HasField("commitment_start_time")
                        else []
                    ),
                    ("total", inv.total),
                    ("prepaid credits applied", inv.prepaid_credits_applied),
                    ("promotional credits applied", inv.promotional_credits_applied),
                    ("overage due", inv.overage_due),
                    ("overage settled", inv.overage_settled),
                ],
            )
        )
        state.out.print(
            table(
                "Lines",
                ["Line", "Description", "Quantity", "Amount", "Denied", "Pending"],
                [
                    [
                        line.line_id,
                        line.description,
                        line.quantity,
                        line.amount,
                        line.denied_amount,
                        line.pending_amount,
                    ]
                    for line in inv.lines
                ],
            )
        )

    state.emit(to_dict(inv), render)


@invoices.command("get")
def invoices_get(
    ctx: typer.Context,
    invoice_id: Annotated[str, typer.Argument(help="The invoice; or use --customer.")] = "",
    customer: Annotated[
        str, typer.Option("--customer", "-c", help="The customer, instead of an invoice id.")
    ] = "",
    period: Annotated[
        str | None, typer.Option(help="Any ISO time of the period (with --customer); default now.")
    ] = None,
) -> None:
    """Show an invoice with its lines."""
    state = state_of(ctx)
    if not invoice_id and not customer:
        raise typer.BadParameter("give an INVOICE_ID or --customer")
    request = pb.GetInvoiceRequest(invoice_id=invoice_id, customer_id=customer)
    if period is not None:
        request.period_time.CopyFrom(parse.timestamp(period, name="--period"))
    show_invoice(state, state.call(state.rating.GetInvoice, request, name="GetInvoice").invoice)


@invoices.command("list")
def invoices_list(
    ctx: typer.Context,
    customer: Annotated[str, typer.Option("--customer", "-c", help="The customer.")],
    status: Annotated[InvoiceStatus | None, typer.Option(help="Only in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 20,
    page_token: Annotated[str, typer.Option(help="Continue from a previous listing.")] = "",
) -> None:
    """A customer's invoices, newest period first."""
    state = state_of(ctx)
    wanted = status.proto if status else pb.INVOICE_STATUS_UNSPECIFIED
    items: list[pb.Invoice] = []
    token = page_token
    while len(items) < limit:
        response: pb.ListInvoicesResponse = state.call(
            state.rating.ListInvoices,
            pb.ListInvoicesRequest(
                customer_id=customer,
                status=wanted,
                page_size=min(limit - len(items), PAGE_MAX),
                page_token=token,
            ),
            name="ListInvoices",
        )
        items.extend(response.invoices)
        token = response.next_page_token
        if not token:
            break
    state.emit(
        {"invoices": [to_dict(i) for i in items], "next_page_token": token},
        lambda: state.out.print(
            table(
                None,
                LIST_COLUMNS,
                [
                    [
                        i.invoice_id,
                        i.customer_id,
                        when(i, "period_start_time"),
                        when(i, "period_end_time"),
                        enum(i, "status"),
                        i.unit,
                        i.total,
                    ]
                    for i in items
                ],
            )
        ),
    )
    if token and not state.json:
        state.note(f"more: --page-token {token}")


@invoices.command("close")
def invoices_close(
    ctx: typer.Context,
    customer: Annotated[str, typer.Option("--customer", "-c", help="The customer.")],
    period: Annotated[str, typer.Option(help="Any ISO time of the period; it must have ended.")],
    request_id: RequestId = None,
) -> None:
    """Close a customer's billing period: its invoice becomes final (idempotent)."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.CloseBillingPeriodRequest(
        request_id=rid,
        customer_id=customer,
        period_time=parse.timestamp(period, name="--period"),
    )
    response: pb.CloseBillingPeriodResponse = state.call(
        state.rating.CloseBillingPeriod, request, name="CloseBillingPeriod", request_id=rid
    )
    show_invoice(state, response.invoice)
