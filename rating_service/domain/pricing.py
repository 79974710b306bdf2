"""Pricing models: the price of a quantity of usage, exact in Decimal.

Tier rules (the same for GRADUATED, VOLUME and STAIR_STEP):
- tiers are ordered by `up_to`, strictly increasing; the last tier has `up_to=None` (unbounded);
- a tier's `up_to` is inclusive: with tiers up_to 100 and up_to 1000, quantity 100 is in tier 1
  and 100.5 in tier 2;
- quantity 0 costs 0 in every model (no usage, no charge; flat fees need usage to apply).

Models:
- PER_UNIT: quantity * unit_price.
- PACKAGE: ceil(quantity / package_size) * package_price (a started block is a whole block).
- GRADUATED: each tier's units at that tier's unit_price, plus the flat_price of every tier that
  has units in it.
- VOLUME: all units at the unit_price of the tier the quantity falls in, plus that tier's
  flat_price.
- STAIR_STEP: the flat_price of the tier the quantity falls in.
Every price is applied after `included` units are taken off (the plan's included allotment).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from billing_common.errors import InvalidArgument, Violation
from billing_common.money import exact

ZERO = Decimal(0)
TIERS_MAX = 100


class PricingModel(StrEnum):
    PER_UNIT = "PER_UNIT"
    PACKAGE = "PACKAGE"
    GRADUATED = "GRADUATED"
    VOLUME = "VOLUME"
    STAIR_STEP = "STAIR_STEP"


@dataclass(frozen=True, slots=True)
class Tier:
    up_to: Decimal | None
    unit_price: Decimal = ZERO
    flat_price: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Pricing:
    model: PricingModel
    unit_price: Decimal = ZERO
    package_size: Decimal = ZERO
    package_price: Decimal = ZERO
    tiers: tuple[Tier, ...] = ()


@dataclass(frozen=True, slots=True)
class TierLine:
    """One tier's part of a price: for invoices."""

    tier_index: int
    quantity: Decimal
    unit_price: Decimal
    flat_price: Decimal
    amount: Decimal


def validate(pricing: Pricing, prefix: str = "") -> Pricing:
    """Check a pricing definition; raise InvalidArgument(INVALID_PRICING) listing every problem."""
    bad: list[Violation] = []

    def field(name: str) -> str:
        return f"{prefix}{name}"

    if pricing.model == PricingModel.PER_UNIT:
        if pricing.unit_price < 0:
            bad.append(Violation(field("unit_price"), "must not be negative"))
        if pricing.tiers:
            bad.append(Violation(field("tiers"), "PER_UNIT takes no tiers"))
    elif pricing.model == PricingModel.PACKAGE:
        if pricing.package_size <= 0:
            bad.append(Violation(field("package_size"), "must be greater than zero"))
        if pricing.package_price < 0:
            bad.append(Violation(field("package_price"), "must not be negative"))
        if pricing.tiers:
            bad.append(Violation(field("tiers"), "PACKAGE takes no tiers"))
    else:
        bad.extend(_tier_violations(pricing.tiers, field("tiers")))
    if bad:
        raise InvalidArgument(
            "; ".join(f"{v.field}: {v.description}" for v in bad),
            reason="INVALID_PRICING",
            violations=bad,
        )
    return pricing


def _tier_violations(tiers: Sequence[Tier], name: str) -> list[Violation]:
    if not tiers:
        return [Violation(name, "a tiered model needs at least one tier")]
    if len(tiers) > TIERS_MAX:
        return [Violation(name, f"at most {TIERS_MAX} tiers")]
    bad: list[Violation] = []
    previous = ZERO
    for i, tier in enumerate(tiers):
        last = i == len(tiers) - 1
        if tier.up_to is None and not last:
            bad.append(Violation(f"{name}[{i}].up_to", "only the last tier may be unbounded"))
        if tier.up_to is not None:
            if last:
                bad.append(Violation(f"{name}[{i}].up_to", "the last tier must be unbounded"))
            if tier.up_to <= previous:
                bad.append(
                    Violation(f"{name}[{i}].up_to", "must be greater than the previous tier's")
                )
            else:
                previous = tier.up_to
        if tier.unit_price < 0:
            bad.append(Violation(f"{name}[{i}].unit_price", "must not be negative"))
        if tier.flat_price < 0:
            bad.append(Violation(f"{name}[{i}].flat_price", "must not be negative"))
    return bad


def _tier_index(tiers: Sequence[Tier], quantity: Decimal) -> int:
    for i, tier in enumerate(tiers):
        if tier.up_to is None or quantity <= tier.up_to:
            return i
    raise AssertionError("validated tiers end with an unbounded tier")


@exact
def breakdown(pricing: Pricing, quantity: Decimal, included: Decimal = ZERO) -> list[TierLine]:
    """The price of `quantity` as lines (one per tier used; one line for untiered models)."""
    assert quantity >= 0, "aggregates are never negative"
    billable = max(ZERO, quantity - included)
    if billable == 0:
        return []
    model = pricing.model
    if model == PricingModel.PER_UNIT:
        return [TierLine(0, billable, pricing.unit_price, ZERO, billable * pricing.unit_price)]
    if model == PricingModel.PACKAGE:
        blocks, rest = divmod(billable, pricing.package_size)
        if rest:
            blocks += 1
        return [TierLine(0, blocks, pricing.package_price, ZERO, blocks * pricing.package_price)]
    tiers = pricing.tiers
    if model == PricingModel.GRADUATED:
        lines = []
        lower = ZERO
        for i, tier in enumerate(tiers):
            upper = billable if tier.up_to is None else min(billable, tier.up_to)
            units = upper - lower
            if units <= 0:
                break
            amount = units * tier.unit_price + tier.flat_price
            lines.append(TierLine(i, units, tier.unit_price, tier.flat_price, amount))
            lower = upper
        return lines
    i = _tier_index(tiers, billable)
    tier = tiers[i]
    if model == PricingModel.VOLUME:
        amount = billable * tier.unit_price + tier.flat_price
        return [TierLine(i, billable, tier.unit_price, tier.flat_price, amount)]
    assert model == PricingModel.STAIR_STEP
    return [TierLine(i, billable, ZERO, tier.flat_price, tier.flat_price)]


@exact
def price(pricing: Pricing, quantity: Decimal, included: Decimal = ZERO) -> Decimal:
    """The price of `quantity` units (after `included` free units) under `pricing`."""
    return sum((line.amount for line in breakdown(pricing, quantity, included)), ZERO)
