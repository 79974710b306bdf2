"""Rating catalogue commands: meters (what counts) and prices (what it costs, in versions)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer
from billing.rating.v1 import rating_pb2 as pb

from billing_cli import parse
from billing_cli.choices import Aggregation, Model
from billing_cli.ledger import RequestId, list_pages
from billing_cli.render import enum, metadata, table, when
from billing_cli.state import State, state_of, to_dict

meters = typer.Typer(help="Meters: which events count and how they add up.", no_args_is_help=True)
prices = typer.Typer(
    help="Prices of meters (per-unit, package, graduated, volume, stair-step), in versions.",
    no_args_is_help=True,
)

# --- meters --------------------------------------------------------------------------------------

METER_COLUMNS = ["Meter", "Key", "Event type", "Aggregation", "Property", "Filters"]


def _meter_rows(items: list[pb.Meter]) -> list[list[object]]:
    return [
        [
            m.meter_id,
            m.key,
            m.event_type,
            enum(m, "aggregation").replace("_", "-"),
            m.value_property,
            metadata(m.filters),
        ]
        for m in items
    ]


def _show_meter(state: State, meter: pb.Meter) -> None:
    state.emit(
        to_dict(meter),
        lambda: state.out.print(table("Meter", METER_COLUMNS, _meter_rows([meter]))),
    )


@meters.command("create")
def meters_create(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Unique name, for example api_calls.")],
    event_type: Annotated[str, typer.Option("--event-type", help="Events of this type count.")],
    aggregation: Annotated[Aggregation, typer.Option(help="How they add up.")] = Aggregation.sum,
    prop: Annotated[
        str, typer.Option("--property", help="The property aggregated (all but count).")
    ] = "",
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", metavar="KEY=VALUE", help="Only events with this property."),
    ] = None,
    description: Annotated[str, typer.Option(help="Name in history lines; default KEY.")] = "",
    request_id: RequestId = None,
) -> None:
    """Create a meter."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.CreateMeterRequest(
        request_id=rid,
        key=key,
        event_type=event_type,
        aggregation=aggregation.proto,
        value_property=prop,
        filters=parse.labels(filters, name="--filter"),
        description=description,
    )
    meter = state.call(state.rating.CreateMeter, request, name="CreateMeter", request_id=rid).meter
    _show_meter(state, meter)


@meters.command("get")
def meters_get(ctx: typer.Context, meter_id: Annotated[str, typer.Argument()]) -> None:
    """Show one meter."""
    state = state_of(ctx)
    request = pb.GetMeterRequest(meter_id=meter_id)
    _show_meter(state, state.call(state.rating.GetMeter, request, name="GetMeter").meter)


@meters.command("list")
def meters_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    page_token: Annotated[str, typer.Option(help="Continue from a previous listing.")] = "",
) -> None:
    """List meters, oldest first."""
    state = state_of(ctx)
    list_pages(
        state,
        state.rating.ListMeters,
        lambda size, tok: pb.ListMetersRequest(page_size=size, page_token=tok),
        "meters",
        limit,
        page_token,
        METER_COLUMNS,
        _meter_rows,
    )


# --- prices --------------------------------------------------------------------------------------

PRICE_COLUMNS = ["Price", "Version", "Meter", "Model", "Pricing", "Effective"]


def describe(price: pb.Price) -> str:
    """The model's numbers in a line: "0.5 each", "10 per 100", "<=100: 0.1, rest: 0.05"."""
    if price.model == pb.PRICING_MODEL_PER_UNIT:
        return f"{price.unit_price} each"
    if price.model == pb.PRICING_MODEL_PACKAGE:
        return f"{price.package_price} per {price.package_size}"
    parts = []
    for t in price.tiers:
        bound = f"<={t.up_to}" if t.up_to else "rest"
        money = [f"{t.unit_price} each" if _nonzero(t.unit_price) else ""]
        money.append(f"{t.flat_price} flat" if _nonzero(t.flat_price) else "")
        parts.append(f"{bound}: {' + '.join(m for m in money if m) or '0'}")
    return ", ".join(parts)


def _nonzero(amount: str) -> bool:
    return bool(amount) and Decimal(amount) != 0


def _price_rows(items: list[pb.Price]) -> list[list[object]]:
    return [
        [
            p.price_id,
            p.version,
            p.meter_id,
            enum(p, "model").replace("_", "-"),
            f"{describe(p)} {p.unit}",
            when(p, "effective_time"),
        ]
        for p in items
    ]


def tier(text: str) -> pb.Tier:
    """UP_TO:UNIT_PRICE[:FLAT_PRICE]; UP_TO "*" (or empty) is the last, unbounded tier."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise typer.BadParameter(
            f"{text!r} is not UP_TO:UNIT_PRICE[:FLAT_PRICE] (for example 1000:0.02, *:0.01:5)",
            param_hint="--tier",
        )
    up_to, unit_price, flat = (*parts, "")[:3]
    up_to = "" if up_to == "*" else up_to
    for value in (up_to, unit_price, flat):
        if value:
            parse.amount(value, name="--tier", allow_zero=True)
    return pb.Tier(up_to=up_to, unit_price=unit_price, flat_price=flat)


@prices.command("create")
def prices_create(
    ctx: typer.Context,
    meter_id: Annotated[str, typer.Option("--meter", help="The meter priced.")] = "",
    model: Annotated[Model, typer.Option(help="The pricing model.")] = Model.per_unit,
    unit: Annotated[str, typer.Option(help="Unit of the amounts (the wallet's).")] = "CREDITS",
    unit_price: Annotated[str, typer.Option(help="per-unit: price of one unit.")] = "",
    package_size: Annotated[str, typer.Option(help="package: units per block.")] = "",
    package_price: Annotated[str, typer.Option(help="package: price per block.")] = "",
    tiers: Annotated[
        list[str] | None,
        typer.Option(
            "--tier",
            metavar="UP_TO:UNIT_PRICE[:FLAT]",
            help="graduated, volume, stair-step: a tier (repeatable, by increasing UP_TO; "
            "the last one's UP_TO is *).",
        ),
    ] = None,
    effective: Annotated[str | None, typer.Option(help="In force from (ISO); default now.")] = None,
    price_id: Annotated[
        str, typer.Option("--price", help="Add a new version to this price instead.")
    ] = "",
    request_id: RequestId = None,
    backfill: Annotated[
        bool,
        typer.Option("--backfill", help="Allow a past --effective (history import; admin key)."),
    ] = False,
) -> None:
    """Create a price of a meter, or (--price) a new version of a price."""
    state = state_of(ctx)
    if not meter_id and not price_id:
        raise typer.BadParameter("give --meter (a new price) or --price (a new version)")
    rid = state.request_id(request_id)
    request = pb.CreatePriceRequest(
        request_id=rid,
        price_id=price_id,
        meter_id=meter_id,
        unit=unit,
        model=model.proto,
        unit_price=unit_price and parse.amount(unit_price, name="--unit-price", allow_zero=True),
        package_size=package_size and parse.amount(package_size, name="--package-size"),
        package_price=package_price
        and parse.amount(package_price, name="--package-price", allow_zero=True),
        tiers=[tier(t) for t in tiers or []],
        backfill=backfill,
    )
    if effective is not None:
        request.effective_time.CopyFrom(parse.timestamp(effective, name="--effective"))
    price = state.call(state.rating.CreatePrice, request, name="CreatePrice", request_id=rid).price
    state.emit(
        to_dict(price),
        lambda: state.out.print(table("Price", PRICE_COLUMNS, _price_rows([price]))),
    )


@prices.command("version")
def prices_version(
    ctx: typer.Context,
    price_id: Annotated[str, typer.Argument(help="The price to add a version to.")],
    model: Annotated[Model, typer.Option(help="The pricing model.")] = Model.per_unit,
    unit: Annotated[str, typer.Option(help="Unit of the amounts.")] = "CREDITS",
    unit_price: Annotated[str, typer.Option(help="per-unit: price of one unit.")] = "",
    package_size: Annotated[str, typer.Option(help="package: units per block.")] = "",
    package_price: Annotated[str, typer.Option(help="package: price per block.")] = "",
    tiers: Annotated[
        list[str] | None,
        typer.Option("--tier", metavar="UP_TO:UNIT_PRICE[:FLAT]", help="A tier (repeatable)."),
    ] = None,
    effective: Annotated[str | None, typer.Option(help="In force from (ISO); default now.")] = None,
    request_id: RequestId = None,
    backfill: Annotated[
        bool,
        typer.Option("--backfill", help="Allow a past --effective (history import; admin key)."),
    ] = False,
) -> None:
    """A new version of a price, in force from --effective (same as `create --price`)."""
    prices_create(
        ctx,
        model=model,
        unit=unit,
        unit_price=unit_price,
        package_size=package_size,
        package_price=package_price,
        tiers=tiers,
        effective=effective,
        price_id=price_id,
        request_id=request_id,
        backfill=backfill,
    )


@prices.command("list")
def prices_list(
    ctx: typer.Context,
    meter_id: Annotated[str, typer.Option("--meter", help="Only this meter's.")] = "",
    price_id: Annotated[str, typer.Option("--price", help="Only this price's versions.")] = "",
    limit: Annotated[int, typer.Option(min=1, help="At most this many versions.")] = 50,
    page_token: Annotated[str, typer.Option(help="Continue from a previous listing.")] = "",
) -> None:
    """Price versions, by price then version."""
    state = state_of(ctx)
    list_pages(
        state,
        state.rating.ListPrices,
        lambda size, tok: pb.ListPricesRequest(
            meter_id=meter_id, price_id=price_id, page_size=size, page_token=tok
        ),
        "prices",
        limit,
        page_token,
        PRICE_COLUMNS,
        _price_rows,
    )
