"""Every pricing model against hand-computed tables, including tier boundaries and round-up."""

from decimal import Decimal as D

import pytest

from billing_common.errors import InvalidArgument
from rating_service.domain.pricing import Pricing, PricingModel, Tier, breakdown, price, validate

TIERS = (
    Tier(D(100), unit_price=D("0.10")),
    Tier(D(1000), unit_price=D("0.05"), flat_price=D(2)),
    Tier(None, unit_price=D("0.01"), flat_price=D(5)),
)
STAIRS = (
    Tier(D(10), flat_price=D(10)),
    Tier(D(100), flat_price=D(50)),
    Tier(None, flat_price=D(200)),
)

PER_UNIT = Pricing(PricingModel.PER_UNIT, unit_price=D("0.002"))
PACKAGE = Pricing(PricingModel.PACKAGE, package_size=D(100), package_price=D(3))
GRADUATED = Pricing(PricingModel.GRADUATED, tiers=TIERS)
VOLUME = Pricing(PricingModel.VOLUME, tiers=TIERS)
STAIR = Pricing(PricingModel.STAIR_STEP, tiers=STAIRS)


@pytest.mark.parametrize(
    ("pricing", "quantity", "expected"),
    [
        (PER_UNIT, "0", "0"),
        (PER_UNIT, "1", "0.002"),
        (PER_UNIT, "1500", "3"),
        (PER_UNIT, "0.5", "0.001"),
        (PACKAGE, "0", "0"),
        (PACKAGE, "1", "3"),
        (PACKAGE, "100", "3"),
        (PACKAGE, "100.001", "6"),
        (PACKAGE, "101", "6"),
        (PACKAGE, "250", "9"),
        # graduated: 100 * 0.10 = 10; tier 2 adds 0.05/unit + 2 flat; tier 3 0.01/unit + 5 flat.
        (GRADUATED, "0", "0"),
        (GRADUATED, "1", "0.1"),
        (GRADUATED, "100", "10"),
        (GRADUATED, "101", "12.05"),
        (GRADUATED, "1000", "57"),
        (GRADUATED, "1001", "62.01"),
        (GRADUATED, "2000", "72"),
        # volume: all units at the tier reached, plus that tier's flat price.
        (VOLUME, "0", "0"),
        (VOLUME, "100", "10"),
        (VOLUME, "101", "7.05"),
        (VOLUME, "1000", "52"),
        (VOLUME, "1001", "15.01"),
        (VOLUME, "2000", "25"),
        # stair step: the flat amount of the tier reached.
        (STAIR, "0", "0"),
        (STAIR, "1", "10"),
        (STAIR, "10", "10"),
        (STAIR, "10.5", "50"),
        (STAIR, "100", "50"),
        (STAIR, "101", "200"),
    ],
)
def test_price_table(pricing: Pricing, quantity: str, expected: str) -> None:
    validate(pricing)
    assert price(pricing, D(quantity)) == D(expected)


@pytest.mark.parametrize(
    ("pricing", "quantity", "included", "expected"),
    [
        (PER_UNIT, "1500", "1000", "1"),
        (PER_UNIT, "999", "1000", "0"),
        (PACKAGE, "150", "50", "3"),
        (GRADUATED, "150", "50", "10"),
    ],
)
def test_included_units_are_free(
    pricing: Pricing, quantity: str, included: str, expected: str
) -> None:
    assert price(pricing, D(quantity), D(included)) == D(expected)


def test_graduated_breakdown_lists_each_tier() -> None:
    lines = breakdown(GRADUATED, D(1001))
    assert [(line.tier_index, line.quantity, line.amount) for line in lines] == [
        (0, D(100), D(10)),
        (1, D(900), D(47)),
        (2, D(1), D("5.01")),
    ]
    assert sum(line.amount for line in lines) == price(GRADUATED, D(1001))


@pytest.mark.parametrize(
    ("pricing", "fields"),
    [
        (Pricing(PricingModel.PACKAGE, package_size=D(0), package_price=D(1)), {"package_size"}),
        (Pricing(PricingModel.GRADUATED), {"tiers"}),
        (
            Pricing(PricingModel.VOLUME, tiers=(Tier(D(10)), Tier(D(5)), Tier(None))),
            {"tiers[1].up_to"},
        ),
        (Pricing(PricingModel.VOLUME, tiers=(Tier(D(10)),)), {"tiers[0].up_to"}),
        (Pricing(PricingModel.VOLUME, tiers=(Tier(None), Tier(None))), {"tiers[0].up_to"}),
        (
            Pricing(PricingModel.STAIR_STEP, tiers=(Tier(None, flat_price=D(-1)),)),
            {"tiers[0].flat_price"},
        ),
        (Pricing(PricingModel.PER_UNIT, unit_price=D(-1)), {"unit_price"}),
    ],
)
def test_malformed_pricing_is_rejected_with_field_violations(
    pricing: Pricing, fields: set[str]
) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate(pricing)
    assert err.value.reason == "INVALID_PRICING"
    assert {v.field for v in err.value.violations} == fields
