"""Burn-down order (SPEC): priority, expiry (none last), promotional first, effective time,
creation, id — including every tie-break, and independence from input order."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger_service.domain.burndown import allocate, burn_order
from ledger_service.domain.model import GrantKind
from tests.unit.ledger.factories import T0, grant

DAY = timedelta(days=1)
PROMO, PREPAID = GrantKind.PROMOTIONAL, GrantKind.PREPAID

# (case, grants in expected burn order); each pair differs only in the rule being tested.
CASES = [
    ("lower priority first", [grant("b", "1", priority=0), grant("a", "1", priority=1)]),
    (
        "earlier expiry first",
        [grant("b", "1", expire=T0 + DAY), grant("a", "1", expire=T0 + 2 * DAY)],
    ),
    ("no expiry last", [grant("b", "1", expire=T0 + 900 * DAY), grant("a", "1")]),
    ("promotional before prepaid", [grant("b", "1", kind=PROMO), grant("a", "1", kind=PREPAID)]),
    ("promotional first without expiry too", [grant("b", "1", kind=PROMO), grant("a", "1")]),
    ("earlier effective first", [grant("b", "1", effective=T0 - DAY), grant("a", "1")]),
    ("earlier creation first", [grant("b", "1", created=T0 - DAY), grant("a", "1")]),
    ("id breaks the last tie", [grant("a", "1"), grant("b", "1")]),
    (
        "priority beats expiry and kind",
        [
            grant("b", "1", priority=0, kind=PREPAID),
            grant("a", "1", priority=5, kind=PROMO, expire=T0 + DAY),
        ],
    ),
    (
        "expiry beats kind",
        [
            grant("b", "1", kind=PREPAID, expire=T0 + DAY),
            grant("a", "1", kind=PROMO, expire=T0 + 2 * DAY),
        ],
    ),
    (
        "kind beats effective time",
        [
            grant("b", "1", kind=PROMO, effective=T0),
            grant("a", "1", kind=PREPAID, effective=T0 - DAY),
        ],
    ),
]


@pytest.mark.parametrize(("case", "expected"), CASES, ids=[c for c, _ in CASES])
def test_burn_order_table(case: str, expected: list) -> None:
    assert [g.id for g in burn_order(reversed(expected))] == [g.id for g in expected]
    assert [g.id for g in burn_order(expected)] == [g.id for g in expected]


def test_allocate_spans_grants_in_order_and_reports_uncovered() -> None:
    grants = [grant("p", "30", kind=PREPAID), grant("q", "20", kind=PROMO)]
    allocations, uncovered = allocate(grants, Decimal("60"))
    assert [(a.grant_id, a.amount) for a in allocations] == [
        ("q", Decimal(-20)),
        ("p", Decimal(-30)),
    ]
    assert uncovered == Decimal(10)


grant_specs = st.lists(
    st.tuples(
        st.integers(0, 2),  # priority
        st.one_of(st.none(), st.integers(1, 3)),  # expiry in days
        st.sampled_from([PROMO, PREPAID]),
        st.integers(-2, 0),  # effective offset in days
        st.integers(-2, 0),  # creation offset in days
        st.integers(1, 50),  # amount
    ),
    min_size=1,
    max_size=12,
)


@given(grant_specs, st.integers(1, 400), st.randoms(use_true_random=False))
def test_allocation_does_not_depend_on_input_order(specs, amount, rnd: random.Random) -> None:
    grants = [
        grant(
            f"g{i:02d}",
            str(amt),
            priority=p,
            kind=k,
            expire=None if e is None else T0 + e * DAY,
            effective=T0 + eff * DAY,
            created=T0 + c * DAY,
        )
        for i, (p, e, k, eff, c, amt) in enumerate(specs)
    ]
    shuffled = grants[:]
    rnd.shuffle(shuffled)
    assert allocate(grants, Decimal(amount)) == allocate(shuffled, Decimal(amount))
    # The allocation takes whole grants in order: every grant before the last one used is empty.
    allocations, uncovered = allocate(shuffled, Decimal(amount))
    order = [g.id for g in burn_order(grants)]
    used = [a.grant_id for a in allocations]
    assert used == order[: len(used)]
    assert -sum(a.amount for a in allocations) + uncovered == amount
