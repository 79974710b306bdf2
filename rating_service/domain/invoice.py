"""An invoice: one per customer per billing period, computed from the period's charges. Pure.

A line per price version used in the period: quantity = sum of the quantity changes of its events,
amount = sum of their charges (so a line always equals its events). When one version covers the
meter's whole period the line also carries the tier breakdown of the final aggregate, whose total
equals the line amount by the incremental rule. The invoice's usage total is the sum of its lines
and its total adds the plan's fixed charge. Credits applied come from how the ledger covered each
acknowledged charge (prepaid, promotional, overage); the overage part is split into what the
wallet still owes and what was settled since (`with_outstanding`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from billing_common.money import exact
from billing_common.periods import Period
from rating_service.domain.commitments import commitment_of
from rating_service.domain.fixed_charges import fixed_charge_of
from rating_service.domain.meters import Meter
from rating_service.domain.model import Assignment, Plan, PriceVersion
from rating_service.domain.pricing import PricingModel, breakdown
from rating_service.domain.status import InvoiceStatus

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class TopUpView:
    """An automatic top-up the ledger made for a wallet (a block bought, under block pricing)."""

    top_up_id: str
    credits: Decimal
    unit_price: Decimal
    currency: str
    create_time: datetime

    @property
    @exact
    def price(self) -> Decimal:
        return self.credits * self.unit_price


@dataclass(frozen=True, slots=True)
class LineTotal:
    """The charges of one price version in the period, summed (by status, and how the ledger
    covered them)."""

    meter_id: str
    price_id: str
    price_version: int
    amount: Decimal
    quantity: Decimal
    denied: Decimal
    pending: Decimal
    pending_count: int
    failed: Decimal
    prepaid: Decimal
    promotional: Decimal
    overage: Decimal


class InvoiceHead(Protocol):
    """The stored invoice a view is computed for."""

    @property
    def id(self) -> str: ...

    @property
    def customer_id(self) -> str: ...

    @property
    def period_start(self) -> datetime: ...

    @property
    def period_end(self) -> datetime: ...

    @property
    def status(self) -> str: ...

    @property
    def close_time(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class TierView:
    tier_index: int
    quantity: Decimal
    unit_price: Decimal
    flat_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class LineView:
    line_id: str
    meter_id: str
    price_id: str
    price_version: int
    description: str
    quantity: Decimal
    amount: Decimal
    tiers: tuple[TierView, ...]
    denied: Decimal
    pending: Decimal
    blocks: Decimal | None
    failed: Decimal = ZERO
    pending_count: int = 0


@dataclass(frozen=True, slots=True)
class InvoiceView:
    id: str
    customer_id: str
    assignment_id: str
    plan_id: str
    wallet_id: str
    period_start: datetime
    period_end: datetime
    status: str
    unit: str
    fixed_charge: Decimal
    lines: tuple[LineView, ...]
    usage_total: Decimal
    total: Decimal
    prepaid: Decimal
    promotional: Decimal
    overage: Decimal
    close_time: datetime | None
    overage_settled: Decimal = ZERO
    # Automatic top-ups (blocks bought) in the period, from the ledger; kept in the snapshot.
    top_ups: tuple[TopUpView, ...] = ()
    # The commitment's shortfall settled on this invoice (`commitments.commitment_of`), included
    # in `total`.
    true_up: Decimal = ZERO
    # The part of the fixed charge debited from the wallet (plans that debit it); the rest is
    # unpaid: refused by the wallet (DENIED, FAILED), or still on its way (`fixed_charge_pending`).
    fixed_charge_paid: Decimal = ZERO
    fixed_charge_pending: bool = False
    # The commitment span the period counts towards and where it stands (None, 0: no commitment).
    commitment_start: datetime | None = None
    commitment_end: datetime | None = None
    commitment_used: Decimal = ZERO
    commitment_remaining: Decimal = ZERO


def snapshot_of(v: InvoiceView) -> dict[str, Any]:
    def conv(x: Any) -> Any:
        if isinstance(x, Decimal):
            return str(x)
        if isinstance(x, datetime):
            return x.isoformat()
        if isinstance(x, tuple):
            return [conv(i) for i in x]
        if hasattr(x, "__dataclass_fields__"):
            return {f: conv(getattr(x, f)) for f in x.__dataclass_fields__}
        return x

    result: dict[str, Any] = conv(v)
    return result


def from_snapshot(d: dict[str, Any], close_time: datetime | None) -> InvoiceView:
    def dec(x: str | None) -> Decimal | None:
        return None if x is None else Decimal(x)

    def when(x: str | None) -> datetime | None:
        return None if x is None else datetime.fromisoformat(x)

    lines = tuple(
        LineView(
            line_id=ln["line_id"],
            meter_id=ln["meter_id"],
            price_id=ln["price_id"],
            price_version=ln["price_version"],
            description=ln["description"],
            quantity=Decimal(ln["quantity"]),
            amount=Decimal(ln["amount"]),
            tiers=tuple(
                TierView(
                    t["tier_index"],
                    Decimal(t["quantity"]),
                    Decimal(t["unit_price"]),
                    Decimal(t["flat_price"]),
                    Decimal(t["amount"]),
                )
                for t in ln["tiers"]
            ),
            denied=Decimal(ln["denied"]),
            pending=Decimal(ln["pending"]),
            blocks=dec(ln["blocks"]),
            failed=Decimal(ln.get("failed", "0")),
            pending_count=ln.get("pending_count", 0),
        )
        for ln in d["lines"]
    )
    return InvoiceView(
        id=d["id"],
        customer_id=d["customer_id"],
        assignment_id=d["assignment_id"],
        plan_id=d["plan_id"],
        wallet_id=d["wallet_id"],
        period_start=datetime.fromisoformat(d["period_start"]),
        period_end=datetime.fromisoformat(d["period_end"]),
        status=InvoiceStatus.FINAL,
        unit=d["unit"],
        fixed_charge=Decimal(d["fixed_charge"]),
        lines=lines,
        usage_total=Decimal(d["usage_total"]),
        total=Decimal(d["total"]),
        prepaid=Decimal(d["prepaid"]),
        promotional=Decimal(d["promotional"]),
        overage=Decimal(d["overage"]),
        close_time=close_time,
        overage_settled=Decimal(d.get("overage_settled", "0")),
        true_up=Decimal(d.get("true_up", "0")),
        fixed_charge_paid=Decimal(d.get("fixed_charge_paid", "0")),
        commitment_start=when(d.get("commitment_start")),
        commitment_end=when(d.get("commitment_end")),
        commitment_used=Decimal(d.get("commitment_used", "0")),
        commitment_remaining=Decimal(d.get("commitment_remaining", "0")),
        top_ups=tuple(
            TopUpView(
                t["top_up_id"],
                Decimal(t["credits"]),
                Decimal(t["unit_price"]),
                t["currency"],
                datetime.fromisoformat(t["create_time"]),
            )
            for t in d.get("top_ups", [])
        ),
    )


@exact
def line_of(
    t: LineTotal,
    version: PriceVersion,
    meter: Meter,
    *,
    whole_period: bool,
    quantity: Decimal,
    included: Decimal,
) -> LineView:
    """A line of the invoice. `whole_period`: the version is the only one of its meter in the
    period, so the line shows the tier breakdown of the meter's final aggregate (`quantity`)."""
    tiers: tuple[TierView, ...] = ()
    blocks = None
    if whole_period:
        parts = breakdown(version.pricing, quantity, included)
        tiers = tuple(
            TierView(p.tier_index, p.quantity, p.unit_price, p.flat_price, p.amount) for p in parts
        )
        if version.pricing.model == PricingModel.PACKAGE:
            blocks = sum((p.quantity for p in parts), ZERO)
    return LineView(
        line_id=f"{t.price_id}:{t.price_version}",
        meter_id=t.meter_id,
        price_id=t.price_id,
        price_version=t.price_version,
        description=f"{meter.description} ({version.pricing.model.value.lower()}, "
        f"price version {version.version})",
        quantity=t.quantity,
        amount=t.amount,
        tiers=tiers,
        denied=t.denied,
        pending=t.pending,
        blocks=blocks,
        failed=t.failed,
        pending_count=t.pending_count,
    )


@exact
def compute_invoice(
    head: InvoiceHead,
    assignment: Assignment,
    plan: Plan,
    unit: str,
    totals: Sequence[LineTotal],
    versions: Mapping[tuple[str, int], PriceVersion],
    meters: Mapping[str, Meter],
    quantities: Mapping[str, Decimal],
    fixed_charge_paid: Decimal = ZERO,
    *,
    fixed_charge_pending: bool = False,
    earlier_usage: Decimal = ZERO,
) -> InvoiceView:
    """The invoice of a period from its line totals (in line order), with all the overage
    booked shown as due (`with_outstanding` caps it by what the wallet owes). `versions`: by
    (price id, version); `quantities`: each meter's final aggregate in the period;
    `fixed_charge_paid`: what the ledger booked of the period's fixed-charge debit;
    `earlier_usage`: the usage of the commitment span's earlier periods (`commitments.
    earlier_periods`). The total is the fixed charge, the usage and the commitment's true-up when
    the period closes its commitment span (the shortfall so far while it is open, final at the
    close)."""
    included = {p.price_id: p.included_quantity for p in plan.prices}
    per_meter: dict[str, int] = {}
    for t in totals:
        per_meter[t.meter_id] = per_meter.get(t.meter_id, 0) + 1
    lines = tuple(
        line_of(
            t,
            versions[(t.price_id, t.price_version)],
            meters[t.meter_id],
            whole_period=per_meter[t.meter_id] == 1,
            quantity=quantities.get(t.meter_id, ZERO),
            included=included.get(t.price_id, ZERO),
        )
        for t in totals
    )
    usage_total = sum((ln.amount for ln in lines), ZERO)
    commitment = commitment_of(
        plan, assignment, Period(head.period_start, head.period_end), usage_total, earlier_usage
    )
    shortfall = commitment.true_up if commitment else ZERO
    fixed = fixed_charge_of(plan, assignment, Period(head.period_start, head.period_end))
    return InvoiceView(
        id=head.id,
        customer_id=head.customer_id,
        assignment_id=assignment.id,
        plan_id=plan.id,
        wallet_id=assignment.wallet_id,
        period_start=head.period_start,
        period_end=head.period_end,
        status=head.status,
        unit=unit,
        fixed_charge=fixed,
        lines=lines,
        usage_total=usage_total,
        total=fixed + usage_total + shortfall,
        prepaid=sum((t.prepaid for t in totals), ZERO),
        promotional=sum((t.promotional for t in totals), ZERO),
        overage=sum((t.overage for t in totals), ZERO),
        close_time=head.close_time,
        overage_settled=ZERO,
        true_up=shortfall,
        fixed_charge_paid=fixed_charge_paid,
        fixed_charge_pending=fixed_charge_pending,
        commitment_start=commitment.span.start if commitment else None,
        commitment_end=commitment.span.end if commitment else None,
        commitment_used=commitment.used if commitment else ZERO,
        commitment_remaining=commitment.remaining if commitment else ZERO,
    )


def pending_charges(view: InvoiceView) -> bool:
    """Whether charges of the period are still on their way to the ledger (counted, not summed:
    pending charges can add up to 0), its fixed-charge debit included. A period closes only
    without them."""
    return view.fixed_charge_pending or any(ln.pending_count for ln in view.lines)


@exact
def with_outstanding(view: InvoiceView, outstanding: Decimal | None) -> InvoiceView:
    """Split the booked overage into due (capped by the wallet's outstanding) and settled."""
    if view.status == InvoiceStatus.FINAL or outstanding is None:
        return view
    booked = view.overage + view.overage_settled
    due = min(booked, outstanding)
    return replace(view, overage=due, overage_settled=booked - due)
