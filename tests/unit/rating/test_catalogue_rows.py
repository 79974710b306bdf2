"""Price versions and plans are mapped to their rows once (adapters/db/rows.py), their tiers and
plan prices through the JSON codec of billing_common/rowmap.py: what is stored reads back as the
same value, every Decimal digit for digit, and no float is ever part of the JSON path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from billing_common.periods import Cadence
from billing_common.rowmap import RowMap, json_items
from rating_service.adapters.db.rows import PLAN, PRICE, PRICE_VERSION, STORED_PLAN
from rating_service.app.records import StoredPlan, StoredPrice
from rating_service.domain.model import Plan, PlanPrice, PriceVersion
from rating_service.domain.pricing import Pricing, PricingModel, Tier

T = datetime(2026, 3, 1, tzinfo=UTC)
# Digits a float would lose or reshape: 0.1 with trailing zeros, 28 significant digits, tiny
# and huge exponents.
AWKWARD = (
    Decimal("0.10"),
    Decimal("0.1000000000000000055511151231257827"),
    Decimal("1E-18"),
    Decimal("123456789012345678.000000001"),
)


def _no_float(text: str) -> Any:
    raise AssertionError(f"a JSON number ({text}) in the stored JSON")


def _stored(row: dict[str, Any]) -> dict[str, Any]:
    """The row as PostgreSQL gives it back: each JSON column through JSON text."""
    return {
        k: json.loads(json.dumps(v), parse_float=_no_float, parse_int=_no_float)
        if isinstance(v, list)
        else v
        for k, v in row.items()
    }


def _exact(a: object, b: object) -> None:
    """Equal, and every Decimal with the same digits and exponent (0.10 is not 0.1)."""
    assert a == b
    assert repr(a) == repr(b)


def _pricing(model: PricingModel) -> Pricing:
    tiers = (
        Tier(AWKWARD[0], AWKWARD[1], AWKWARD[2]),
        Tier(AWKWARD[3], Decimal("0"), Decimal("-0.00")),
        Tier(None, AWKWARD[2], AWKWARD[0]),
    )
    if model == PricingModel.PER_UNIT:
        return Pricing(model, unit_price=AWKWARD[1])
    if model == PricingModel.PACKAGE:
        return Pricing(model, package_size=Decimal("1000"), package_price=AWKWARD[0])
    return Pricing(model, tiers=tiers)


@pytest.mark.parametrize("model", list(PricingModel))
def test_every_price_model_reads_back_digit_for_digit(model: PricingModel) -> None:
    version = PriceVersion("p1", 3, "m1", T, _pricing(model))
    row = {**PRICE_VERSION.dump(version), "unit": "USD", "create_time": T, "seq": 7}
    assert all(isinstance(t["unit_price"], str) for t in row["tiers"])
    _exact(PRICE.load(SimpleNamespace(**_stored(row))), StoredPrice(version, "USD", T, 7))


def test_a_price_read_from_a_record_parses_its_tiers_text_without_floats() -> None:
    version = PriceVersion("p1", 1, "m1", T, _pricing(PricingModel.GRADUATED))
    row = {**PRICE_VERSION.dump(version), "unit": "USD", "create_time": T, "seq": 1}
    record = {**row, "tiers": json.dumps(row["tiers"])}  # JSON inside a composite value: text
    _exact(PRICE.load_record(record), StoredPrice(version, "USD", T, 1))


def test_plan_prices_read_back_digit_for_digit() -> None:
    prices = (PlanPrice("p1", AWKWARD[1]), PlanPrice("p2"), PlanPrice("p3", AWKWARD[3]))
    plan = Plan("plan1", "Pro", Cadence.MONTHLY, None, AWKWARD[0], prices)
    row = {**PLAN.dump(plan), "unit": "EUR", "create_time": T}
    assert row["prices"][0] == {"price_id": "p1", "included_quantity": str(AWKWARD[1])}
    assert row["cadence"] == "MONTHLY"
    _exact(STORED_PLAN.load(SimpleNamespace(**_stored(row))), StoredPlan(plan, "EUR", T))


def test_a_number_in_the_json_is_refused_not_read_as_a_float() -> None:
    rows = RowMap(Pricing, codecs={"tiers": json_items(Tier)})
    stored = {**rows.dump(_pricing(PricingModel.VOLUME))}
    stored["tiers"] = [{"up_to": None, "unit_price": 0.1, "flat_price": "0"}]
    with pytest.raises(TypeError, match="decimal string"):
        rows.load(SimpleNamespace(**stored))
    as_text = '[{"up_to": null, "unit_price": 0.1, "flat_price": "0"}]'
    with pytest.raises(TypeError, match="JSON number"):
        rows.load_record({**stored, "tiers": as_text})


def test_a_float_is_never_written_into_the_json() -> None:
    codec = json_items(Tier)
    with pytest.raises(TypeError, match="float"):
        codec.encode([Tier(None, 0.1)])  # type: ignore[arg-type]  # what the codec refuses
