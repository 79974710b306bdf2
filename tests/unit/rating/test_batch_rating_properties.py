"""Batch rating, refunds and invoices as pure functions (rating_service/domain): the order of a
batch does not matter, a period's charges sum to the price of its final aggregate, and an invoice
equals the sum of its lines."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from billing_common.periods import Cadence
from rating_service.domain.aggregation import EMPTY, AggregateState, Aggregation
from rating_service.domain.batch import (
    AggKey,
    CatalogueSnapshot,
    Planned,
    RatedBatch,
    UniqueKey,
    plan_event,
    rate_batch,
)
from rating_service.domain.charges import NewCharge
from rating_service.domain.events import EventIn, EventStatus
from rating_service.domain.invoice import LineTotal, compute_invoice, pending_charges
from rating_service.domain.meters import Meter
from rating_service.domain.model import Assignment, Plan, PlanPrice, PriceVersion
from rating_service.domain.pricing import Pricing, PricingModel, Tier, price
from rating_service.domain.refunds import split_refund
from rating_service.domain.status import ChargeStatus, InvoiceStatus

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=1)
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
CUSTOMERS = ("cust-a", "cust-b")


def catalogue(
    aggregation: Aggregation, pricing: Pricing, other: Pricing, included: D
) -> CatalogueSnapshot:
    """Two meters of "api" events on one plan: the drawn aggregation of property "v", and a
    COUNT of the events with region "eu"; each customer on the plan with a wallet."""
    value_property = "" if aggregation == Aggregation.COUNT else "v"
    meters = {
        "m-usage": Meter("m-usage", "usage", "api", aggregation, value_property),
        "m-eu": Meter("m-eu", "eu_calls", "api", Aggregation.COUNT, filters={"region": "eu"}),
    }
    start = T0 - timedelta(days=10)
    versions = {
        "p-usage": [PriceVersion("p-usage", 1, "m-usage", start, pricing)],
        "p-eu": [PriceVersion("p-eu", 1, "m-eu", start, other)],
    }
    plan = Plan(
        "plan", "plan", Cadence.MONTHLY, None, D("9.99"),
        (PlanPrice("p-usage", included), PlanPrice("p-eu")),
    )  # fmt: skip
    assignments = {c: [Assignment(f"asg-{c}", c, "plan", f"wallet-{c}", start)] for c in CUSTOMERS}
    return CatalogueSnapshot(assignments, {"plan": plan}, versions, meters)


@dataclass(frozen=True)
class Drawn:
    events: list[EventIn]
    cat: CatalogueSnapshot


raw_events = st.lists(
    st.tuples(
        st.sampled_from(CUSTOMERS),
        st.integers(min_value=0, max_value=3_000),  # seconds after T0: the same period
        st.decimals(min_value=0, max_value=40, places=1, allow_nan=False, allow_infinity=False),
        st.booleans(),  # in region "eu"
    ),
    min_size=1,
    max_size=40,
)


@st.composite
def batches(draw: st.DrawFn) -> Drawn:
    cat = catalogue(
        draw(st.sampled_from(list(Aggregation))),
        draw(st.sampled_from(MODELS)),
        draw(st.sampled_from(MODELS)),
        draw(st.sampled_from([D(0), D(3)])),
    )
    events = [
        EventIn(
            f"evt-{i}",
            customer,
            "api",
            T0 + timedelta(seconds=offset),
            {"v": str(value), **({"region": "eu"} if eu else {})},
        )
        for i, (customer, offset, value, eu) in enumerate(draw(raw_events))
    ]
    return Drawn(events, cat)


def planned(events: list[EventIn], cat: CatalogueSnapshot) -> list[Planned]:
    return [plan_event(i, e, cat) for i, e in enumerate(events)]


def rate_all(
    events: list[EventIn],
    cat: CatalogueSnapshot,
    states: dict[AggKey, AggregateState] | None = None,
    seen: set[UniqueKey] | None = None,
) -> RatedBatch:
    return rate_batch(
        planned(events, cat),
        states or {},
        seen or set(),
        NOW,
        sync=False,
        sync_hold=timedelta(seconds=60),
    )


def charges_by_key(charges: list[NewCharge]) -> dict[AggKey, D]:
    sums: dict[AggKey, D] = defaultdict(D)
    for c in charges:
        sums[(c.assignment_id, c.meter_id, c.period_start)] += c.amount
    return dict(sums)


def final_states(rated: RatedBatch) -> dict[AggKey, AggregateState]:
    return {key: state for key, (state, _) in rated.changed.items()}


@settings(max_examples=80, deadline=None)
@given(drawn=batches(), order=st.randoms(use_true_random=False))
def test_the_order_of_a_batch_does_not_change_its_aggregates_or_their_charges(
    drawn: Drawn, order: random.Random
) -> None:
    in_order = rate_all(drawn.events, drawn.cat)
    shuffled_events = list(drawn.events)
    order.shuffle(shuffled_events)
    shuffled = rate_all(shuffled_events, drawn.cat)

    assert all(o.status == EventStatus.ACCEPTED for o in in_order.outcomes.values())
    assert final_states(shuffled) == final_states(in_order)
    assert charges_by_key(shuffled.charges) == charges_by_key(in_order.charges)


@settings(max_examples=80, deadline=None)
@given(drawn=batches(), cut=st.integers(min_value=0, max_value=40))
def test_a_batch_split_in_two_rates_like_the_whole_batch(drawn: Drawn, cut: int) -> None:
    """The second batch starts from what the first one stored: the same aggregates and charges
    as one batch of all the events."""
    whole = rate_all(drawn.events, drawn.cat)
    first = rate_all(drawn.events[:cut], drawn.cat)
    second = rate_all(drawn.events[cut:], drawn.cat, final_states(first), set(first.new_uniques))

    assert final_states(first) | final_states(second) == final_states(whole)
    assert charges_by_key(first.charges + second.charges) == charges_by_key(whole.charges)


@settings(max_examples=80, deadline=None)
@given(drawn=batches())
def test_the_charges_of_an_aggregate_sum_to_the_price_of_its_final_quantity(
    drawn: Drawn,
) -> None:
    rated = rate_all(drawn.events, drawn.cat)
    plan = drawn.cat.plans["plan"]
    included = {p.price_id: p.included_quantity for p in plan.prices}
    pricing = {pid: versions[0].pricing for pid, versions in drawn.cat.versions.items()}
    price_of_meter = {versions[0].meter_id: pid for pid, versions in drawn.cat.versions.items()}
    sums = charges_by_key(rated.charges)

    assert sums.keys() == rated.changed.keys()
    for key, (state, _) in rated.changed.items():
        pid = price_of_meter[key[1]]
        assert sums[key] == price(pricing[pid], state.quantity, included[pid])


def line_totals(charges: list[NewCharge]) -> list[LineTotal]:
    """What the repository sums per price version (all charges acknowledged, covered from
    prepaid credits)."""
    grouped: dict[tuple[str, str, int], list[NewCharge]] = {}
    for c in charges:
        grouped.setdefault((c.meter_id, c.price_id, c.price_version), []).append(c)
    return [
        LineTotal(
            meter_id=meter_id,
            price_id=price_id,
            price_version=version,
            amount=sum((c.amount for c in items), D(0)),
            quantity=sum((c.quantity_after - c.quantity_before for c in items), D(0)),
            denied=D(0),
            pending=D(0),
            pending_count=0,
            failed=D(0),
            prepaid=sum((c.amount for c in items), D(0)),
            promotional=D(0),
            overage=D(0),
        )
        for (meter_id, price_id, version), items in grouped.items()
    ]


@dataclass(frozen=True)
class Head:
    id: str
    customer_id: str
    period_start: datetime
    period_end: datetime
    status: str
    close_time: datetime | None


@settings(max_examples=80, deadline=None)
@given(drawn=batches())
def test_an_invoice_equals_the_sum_of_its_lines(drawn: Drawn) -> None:
    rated = rate_all(drawn.events, drawn.cat)
    customer = drawn.events[0].customer_id
    assignment = drawn.cat.assignments[customer][0]
    plan = drawn.cat.plans["plan"]
    mine = [c for c in rated.charges if c.customer_id == customer]
    totals = line_totals(mine)
    versions = {(v.price_id, v.version): v for items in drawn.cat.versions.values() for v in items}
    quantities = {
        key[1]: state.quantity
        for key, (state, _) in rated.changed.items()
        if key[0] == assignment.id
    }
    head = Head("inv", customer, mine[0].period_start, mine[0].period_end, "DRAFT", None)

    view = compute_invoice(
        head, assignment, plan, "USD", totals, versions, drawn.cat.meters, quantities
    )

    assert view.status == InvoiceStatus.DRAFT
    assert view.usage_total == sum((ln.amount for ln in view.lines), D(0))
    assert view.total == plan.fixed_charge + view.usage_total
    assert view.prepaid == view.usage_total
    assert not pending_charges(view)
    for line in view.lines:
        own = [c for c in mine if (c.price_id, c.price_version) == (line.price_id, 1)]
        assert line.amount == sum((c.amount for c in own), D(0))
        # One version for the whole period: the tier breakdown of the final aggregate is the
        # line (the incremental rule telescopes).
        assert sum((t.amount for t in line.tiers), D(0)) == line.amount


@dataclass(frozen=True)
class Debit:
    amount: D
    refunded: D


@settings(max_examples=100, deadline=None)
@given(
    debits=st.lists(
        st.tuples(
            st.decimals(min_value="0.01", max_value=100, places=2),
            st.decimals(min_value=0, max_value=1, places=2),
        ).map(lambda t: Debit(t[0], (t[0] * t[1]).quantize(D("0.01")))),
        max_size=8,
    ),
    amount=st.decimals(min_value=0, max_value=300, places=2),
)
def test_a_refund_split_covers_the_refund_newest_debit_first_and_never_over_refunds(
    debits: list[Debit], amount: D
) -> None:
    split = split_refund(amount, debits)

    assert sum((part for _, part in split.parts), D(0)) + split.unrefundable == amount
    assert all(0 <= part <= d.amount - d.refunded for d, part in split.parts)
    # Debits are taken in the order given, each fully before the next is touched.
    taken = [d for d, _ in split.parts]
    assert taken == debits[: len(taken)]
    assert all(part == d.amount - d.refunded for d, part in split.parts[:-1])
    if split.unrefundable > 0:
        assert len(taken) == len(debits)


def test_a_zero_charge_is_acknowledged_at_once_and_others_wait_for_the_ledger() -> None:
    cat = catalogue(Aggregation.MAX, MODELS[0], MODELS[0], D(0))
    events = [
        EventIn("e1", "cust-a", "api", T0, {"v": "5"}),
        EventIn("e2", "cust-a", "api", T0 + timedelta(seconds=1), {"v": "3"}),  # MAX stays 5
    ]

    rated = rate_all(events, cat)

    statuses = [(c.event_id, c.meter_id, c.status) for c in rated.charges]
    assert statuses == [
        ("e1", "m-usage", ChargeStatus.PENDING),
        ("e2", "m-usage", ChargeStatus.ACKNOWLEDGED),
    ]
    assert final_states(rated)[("asg-cust-a", "m-usage", rated.charges[0].period_start)] != EMPTY
