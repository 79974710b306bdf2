"""Incremental rating: aggregation behaviour and the telescoping property."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from rating_service.domain.aggregation import EMPTY, AggregateState, Aggregation
from rating_service.domain.meters import MeterValue
from rating_service.domain.pricing import Pricing, PricingModel, Tier, price
from rating_service.domain.rating import rate

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TIERS = (
    Tier(D(5), unit_price=D("1.5"), flat_price=D(1)),
    Tier(D(20), unit_price=D("0.75"), flat_price=D(3)),
    Tier(None, unit_price=D("0.25"), flat_price=D(7)),
)
MODELS = [
    Pricing(PricingModel.PER_UNIT, unit_price=D("0.3")),
    Pricing(PricingModel.PACKAGE, package_size=D(4), package_price=D(2)),
    Pricing(PricingModel.GRADUATED, tiers=TIERS),
    Pricing(PricingModel.VOLUME, tiers=TIERS),
    Pricing(PricingModel.STAIR_STEP, tiers=TIERS),
]

Event = tuple[str, datetime, str]  # (event id, occurred time, value)


def run(
    aggregation: Aggregation, pricing: Pricing, events: list[Event], included: D = D(0)
) -> tuple[AggregateState, list[D]]:
    """Rate events in the given order; return the final state and each event's charge."""
    state = EMPTY
    seen: set[str] = set()
    charges = []
    for event_id, occurred, raw in events:
        if aggregation == Aggregation.UNIQUE_COUNT:
            value = MeterValue(unique_key=raw)
        elif aggregation == Aggregation.COUNT:
            value = MeterValue()
        else:
            value = MeterValue(number=D(raw))
        rated = rate(
            aggregation,
            pricing,
            state,
            value,
            occurred_time=occurred,
            event_id=event_id,
            value_seen=raw in seen,
            included=included,
        )
        seen.add(raw)
        state = rated.after
        charges.append(rated.charge)
    return state, charges


events_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10_000),
        st.decimals(min_value=0, max_value=50, places=2, allow_nan=False, allow_infinity=False),
    ),
    min_size=0,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    raw=events_strategy,
    model=st.sampled_from(MODELS),
    aggregation=st.sampled_from(list(Aggregation)),
    included=st.sampled_from([D(0), D(3)]),
    order=st.randoms(use_true_random=False),
)
def test_sum_of_incremental_charges_is_price_of_final_aggregate(
    raw: list[tuple[int, D]], model: Pricing, aggregation: Aggregation, included: D, order
) -> None:
    events = [(f"e{i:03}", T0 + timedelta(seconds=s), str(v)) for i, (s, v) in enumerate(raw)]
    shuffled = list(events)
    order.shuffle(shuffled)
    final_a, charges_a = run(aggregation, model, events, included)
    final_b, charges_b = run(aggregation, model, shuffled, included)
    # The final aggregate does not depend on arrival order...
    assert final_a.quantity == final_b.quantity
    # ...and the charges always sum to its price.
    assert sum(charges_a, D(0)) == price(model, final_a.quantity, included)
    assert sum(charges_b, D(0)) == price(model, final_b.quantity, included)


def test_unique_count_repeat_costs_nothing() -> None:
    per_unit = MODELS[0]
    _, charges = run(
        Aggregation.UNIQUE_COUNT,
        per_unit,
        [("a", T0, "alice"), ("b", T0, "bob"), ("c", T0, "alice")],
    )
    assert charges == [D("0.3"), D("0.3"), D(0)]


def test_max_charges_only_on_increase() -> None:
    per_unit = MODELS[0]
    events = [("a", T0, "10"), ("b", T0, "4"), ("c", T0, "12"), ("d", T0, "12")]
    state, charges = run(Aggregation.MAX, per_unit, events)
    assert charges == [D(3), D(0), D("0.6"), D(0)]
    assert state.quantity == D(12)


def test_latest_follows_occurred_time_and_can_refund() -> None:
    per_unit = MODELS[0]
    t = [T0 + timedelta(minutes=m) for m in range(4)]
    # b is later than a; c arrives late with an older time and changes nothing; d drops to 2.
    events = [("a", t[1], "10"), ("b", t[2], "20"), ("c", t[0], "99"), ("d", t[3], "2")]
    state, charges = run(Aggregation.LATEST, per_unit, events)
    assert charges == [D(3), D(3), D(0), D("-5.4")]
    assert state.quantity == D(2)


def test_volume_tier_change_can_be_negative() -> None:
    volume = MODELS[3]
    # 5 units at 1.5 + 1 = 8.5; the 6th moves everything to tier 2: 6 * 0.75 + 3 = 7.5.
    _, charges = run(Aggregation.COUNT, volume, [(f"e{i}", T0, "") for i in range(6)])
    assert charges[4] == D("1.5")
    assert charges[5] == D(-1)
    assert sum(charges) == D("7.5")
