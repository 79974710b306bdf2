"""Protobuf <-> use-case types. Input checks that need only the request live here (amount
syntax, enums, required fields), each naming the exact field."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from billing.rating.v1 import rating_pb2 as pb
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message

from billing_common.errors import BillingError, InvalidArgument, require
from billing_common.grpc_errors import item_error
from billing_common.money import format_amount, parse_amount
from billing_common.periods import Cadence
from billing_common.protoconv import timestamp, to_datetime
from rating_service.adapters.db.repository import StoredPlan, StoredPrice
from rating_service.app import commands as cmd
from rating_service.domain.aggregation import Aggregation
from rating_service.domain.invoice import InvoiceView
from rating_service.domain.meters import Meter
from rating_service.domain.model import (
    Assignment,
    CommitmentPeriod,
    FixedChargeCollection,
    PlanPrice,
)
from rating_service.domain.pricing import Pricing, PricingModel, Tier

ZERO = Decimal(0)
ID_LENGTH_MAX = 128
TEXT_LENGTH_MAX = 1000


def ident(value: str, field: str) -> str:
    """A required id: 1 to 128 characters."""
    require(value, field)
    if len(value) > ID_LENGTH_MAX:
        raise InvalidArgument.field(field, f"at most {ID_LENGTH_MAX} characters", "INVALID_ID")
    return value


def optional_ident(value: str, field: str) -> str:
    return ident(value, field) if value else value


def text(value: str, field: str) -> str:
    if len(value) > TEXT_LENGTH_MAX:
        raise InvalidArgument.field(field, f"at most {TEXT_LENGTH_MAX} characters", "INVALID_TEXT")
    return value


def time(message: Message, field: str, path: str = "") -> datetime | None:
    """A Timestamp field as an aware UTC datetime (None when unset). Out of the accepted range
    (1970 to 9000, see billing_common.protoconv) or malformed: INVALID_TIME on `path`. The range
    also keeps period arithmetic (anchor + months) far from the calendar's end."""
    return to_datetime(message, field, path or field)


def optional_enum(value: int, names: dict[int, str], field: str) -> str:
    if value not in names:
        raise InvalidArgument.field(field, "unknown value", "INVALID_ENUM")
    return names[value]


def _enum(value: int, enum_type: EnumTypeWrapper, prefix: str, field: str) -> str:
    """The enum value's name without its prefix; unset or unknown values are refused."""
    name = enum_type.DESCRIPTOR.values_by_number.get(value)
    if value == 0 or name is None:
        raise InvalidArgument.field(field, "is required", "MISSING_FIELD")
    return name.name.removeprefix(prefix)


def _amount(text: str, field: str, *, default_zero: bool = True) -> Decimal:
    if not text and default_zero:
        return ZERO
    return parse_amount(text, field, allow_zero=True)


def fmt(value: Decimal) -> str:
    return format_amount(value)


# -- catalogue ------------------------------------------------------------------------------


def new_meter(r: pb.CreateMeterRequest) -> cmd.NewMeter:
    agg = Aggregation(_enum(r.aggregation, pb.Aggregation, "AGGREGATION_", "aggregation"))
    return cmd.NewMeter(
        key=require(r.key, "key"),
        event_type=text(require(r.event_type, "event_type"), "event_type"),
        aggregation=agg,
        value_property=text(r.value_property, "value_property"),
        filters=dict(r.filters),
        description=text(r.description, "description"),
    )


def meter(m: Meter, create_time: datetime) -> pb.Meter:
    return pb.Meter(
        meter_id=m.id,
        key=m.key,
        event_type=m.event_type,
        aggregation="AGGREGATION_" + m.aggregation.value,
        value_property=m.value_property,
        filters=dict(m.filters),
        description=m.description,
        create_time=timestamp(create_time),
    )


def new_price(r: pb.CreatePriceRequest) -> cmd.NewPrice:
    model = PricingModel(_enum(r.model, pb.PricingModel, "PRICING_MODEL_", "model"))
    tiers = tuple(
        Tier(
            None if not t.up_to else parse_amount(t.up_to, f"tiers[{i}].up_to"),
            _amount(t.unit_price, f"tiers[{i}].unit_price"),
            _amount(t.flat_price, f"tiers[{i}].flat_price"),
        )
        for i, t in enumerate(r.tiers)
    )
    pricing = Pricing(
        model,
        unit_price=_amount(r.unit_price, "unit_price"),
        package_size=_amount(r.package_size, "package_size"),
        package_price=_amount(r.package_price, "package_price"),
        tiers=tiers,
    )
    return cmd.NewPrice(
        price_id=optional_ident(r.price_id, "price_id"),
        meter_id=optional_ident(r.meter_id, "meter_id"),
        unit=require(r.unit, "unit"),
        pricing=pricing,
        effective_time=time(r, "effective_time"),
        backfill=r.backfill,
    )


def price(s: StoredPrice) -> pb.Price:
    v = s.version
    p = v.pricing
    return pb.Price(
        price_id=v.price_id,
        version=v.version,
        meter_id=v.meter_id,
        unit=s.unit,
        model="PRICING_MODEL_" + p.model.value,
        unit_price=fmt(p.unit_price),
        package_size=fmt(p.package_size),
        package_price=fmt(p.package_price),
        tiers=[
            pb.Tier(
                up_to="" if t.up_to is None else fmt(t.up_to),
                unit_price=fmt(t.unit_price),
                flat_price=fmt(t.flat_price),
            )
            for t in p.tiers
        ],
        effective_time=timestamp(v.effective_time),
        create_time=timestamp(s.create_time),
    )


def new_plan(r: pb.CreatePlanRequest) -> cmd.NewPlan:
    cadence = Cadence(_enum(r.cadence, pb.Cadence, "CADENCE_", "cadence"))
    prices = tuple(
        PlanPrice(
            ident(p.price_id, f"prices[{i}].price_id"),
            _amount(p.included_quantity, f"prices[{i}].included_quantity"),
        )
        for i, p in enumerate(r.prices)
    )
    return cmd.NewPlan(
        name=text(r.name, "name"),
        cadence=cadence,
        billing_anchor=time(r, "billing_anchor_time"),
        fixed_charge=_amount(r.fixed_charge, "fixed_charge"),
        unit=require(r.unit, "unit"),
        prices=prices,
        fixed_charge_collection=_collection(r.fixed_charge_collection),
        minimum_commitment=_amount(r.minimum_commitment, "minimum_commitment"),
        commitment_period=_commitment_period(r.commitment_period),
        prorate_fixed_charge=r.prorate_fixed_charge,
    )


def _collection(value: int) -> FixedChargeCollection:
    """Unset is INVOICE (plans made before the field existed keep their behaviour)."""
    if value == pb.FIXED_CHARGE_COLLECTION_UNSPECIFIED:
        return FixedChargeCollection.INVOICE
    prefix = "FIXED_CHARGE_COLLECTION_"
    name = _enum(value, pb.FixedChargeCollection, prefix, "fixed_charge_collection")
    return FixedChargeCollection(name)


def _commitment_period(value: int) -> CommitmentPeriod:
    """Unset is PER_PERIOD (plans made before the field existed keep their behaviour)."""
    if value == pb.COMMITMENT_PERIOD_UNSPECIFIED:
        return CommitmentPeriod.PER_PERIOD
    name = _enum(value, pb.CommitmentPeriod, "COMMITMENT_PERIOD_", "commitment_period")
    return CommitmentPeriod(name)


def plan(s: StoredPlan) -> pb.Plan:
    p = s.plan
    msg = pb.Plan(
        plan_id=p.id,
        name=p.name,
        cadence="CADENCE_" + p.cadence.value,
        fixed_charge=fmt(p.fixed_charge),
        fixed_charge_collection="FIXED_CHARGE_COLLECTION_" + p.fixed_charge_collection.value,
        minimum_commitment=fmt(p.minimum_commitment),
        commitment_period="COMMITMENT_PERIOD_" + p.commitment_period.value,
        prorate_fixed_charge=p.prorate_fixed_charge,
        unit=s.unit,
        prices=[
            pb.PlanPrice(price_id=x.price_id, included_quantity=fmt(x.included_quantity))
            for x in p.prices
        ],
        create_time=timestamp(s.create_time),
    )
    if p.billing_anchor is not None:
        msg.billing_anchor_time.CopyFrom(timestamp(p.billing_anchor))
    return msg


def new_assignment(r: pb.AssignPlanRequest) -> cmd.NewAssignment:
    return cmd.NewAssignment(
        customer_id=ident(r.customer_id, "customer_id"),
        plan_id=ident(r.plan_id, "plan_id"),
        wallet_id=ident(r.wallet_id, "wallet_id"),
        start_time=time(r, "start_time"),
        backfill=r.backfill,
    )


def assignment(a: Assignment, create_time: datetime) -> pb.PlanAssignment:
    msg = pb.PlanAssignment(
        assignment_id=a.id,
        customer_id=a.customer_id,
        plan_id=a.plan_id,
        wallet_id=a.wallet_id,
        start_time=timestamp(a.start_time),
        create_time=timestamp(create_time),
    )
    if a.end_time is not None:
        msg.end_time.CopyFrom(timestamp(a.end_time))
    return msg


# -- events ---------------------------------------------------------------------------------


def event_in(e: pb.Event) -> cmd.EventIn:
    """An event of a batch. A bad timestamp is this event's error, not the batch's."""
    error: BillingError | None = None
    try:
        occurred = time(e, "occurred_time")
    except InvalidArgument as exc:
        occurred, error = None, exc
    return cmd.EventIn(
        event_id=e.event_id,
        customer_id=e.customer_id,
        type=e.type,
        occurred_time=occurred,
        properties=dict(e.properties),
        error=error,
        member_id=e.member_id,
    )


def event(e: cmd.EventIn) -> pb.Event:
    msg = pb.Event(
        event_id=e.event_id,
        customer_id=e.customer_id,
        type=e.type,
        properties=dict(e.properties),
        member_id=e.member_id,
    )
    if e.occurred_time is not None:
        msg.occurred_time.CopyFrom(timestamp(e.occurred_time))
    return msg


def charge(c: cmd.ChargeView) -> pb.Charge:
    return pb.Charge(
        meter_id=c.meter_id,
        price_id=c.price_id,
        price_version=c.price_version,
        amount=fmt(c.amount),
        quantity_before=fmt(c.quantity_before),
        quantity_after=fmt(c.quantity_after),
        period_start_time=timestamp(c.period_start),
        period_end_time=timestamp(c.period_end),
        status="CHARGE_STATUS_" + c.status.value,
        ledger_entry_id=c.ledger_entry_id,
    )


def event_result(o: cmd.EventOutcome) -> pb.EventResult:
    msg = pb.EventResult(
        event_id=o.event_id,
        status="EVENT_STATUS_" + o.status.value,
        charges=[charge(c) for c in o.charges],
        available_after=o.available_after,
    )
    if o.error is not None:
        msg.error.CopyFrom(item_error(o.error))
    return msg


# -- invoices -------------------------------------------------------------------------------


def invoice(v: InvoiceView) -> pb.Invoice:
    msg = pb.Invoice(
        invoice_id=v.id,
        customer_id=v.customer_id,
        assignment_id=v.assignment_id,
        plan_id=v.plan_id,
        wallet_id=v.wallet_id,
        period_start_time=timestamp(v.period_start),
        period_end_time=timestamp(v.period_end),
        status="INVOICE_STATUS_" + v.status,
        unit=v.unit,
        fixed_charge=fmt(v.fixed_charge),
        true_up=fmt(v.true_up),
        fixed_charge_paid=fmt(v.fixed_charge_paid),
        commitment_used=fmt(v.commitment_used),
        commitment_remaining=fmt(v.commitment_remaining),
        lines=[
            pb.InvoiceLine(
                line_id=ln.line_id,
                meter_id=ln.meter_id,
                price_id=ln.price_id,
                price_version=ln.price_version,
                description=ln.description,
                quantity=fmt(ln.quantity),
                amount=fmt(ln.amount),
                tiers=[
                    pb.InvoiceTierLine(
                        tier_index=t.tier_index,
                        quantity=fmt(t.quantity),
                        unit_price=fmt(t.unit_price),
                        flat_price=fmt(t.flat_price),
                        amount=fmt(t.amount),
                    )
                    for t in ln.tiers
                ],
                denied_amount=fmt(ln.denied),
                pending_amount=fmt(ln.pending),
                failed_amount=fmt(ln.failed),
                blocks="" if ln.blocks is None else fmt(ln.blocks),
            )
            for ln in v.lines
        ],
        usage_total=fmt(v.usage_total),
        total=fmt(v.total),
        prepaid_credits_applied=fmt(v.prepaid),
        promotional_credits_applied=fmt(v.promotional),
        overage_due=fmt(v.overage),
        overage_settled=fmt(v.overage_settled),
        top_ups=[
            pb.InvoiceTopUp(
                top_up_id=t.top_up_id,
                credits=fmt(t.credits),
                unit_price=fmt(t.unit_price),
                currency=t.currency,
                price=fmt(t.price),
                create_time=timestamp(t.create_time),
            )
            for t in v.top_ups
        ],
    )
    if v.close_time is not None:
        msg.close_time.CopyFrom(timestamp(v.close_time))
    if v.commitment_start is not None and v.commitment_end is not None:
        msg.commitment_start_time.CopyFrom(timestamp(v.commitment_start))
        msg.commitment_end_time.CopyFrom(timestamp(v.commitment_end))
    return msg
