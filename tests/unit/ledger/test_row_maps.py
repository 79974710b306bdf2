"""Each entity's row follows from its dataclass: storing a value and reading its row back gives
the same value, enums stored by value, "" stored as NULL where the column says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from billing_common.periods import Cadence
from billing_common.rowmap import RowMap
from ledger_service.adapters.db import mappers
from ledger_service.domain.model import (
    AlertKind,
    AlertRule,
    Allocation,
    AllotmentExpiry,
    AllotmentSchedule,
    GrantKind,
    TopUp,
    TopUpPayment,
    TopUpRule,
    TopUpState,
)
from tests.unit.ledger.factories import grant, wallet

T = datetime(2026, 3, 1, tzinfo=UTC)


def _read_back(rows: RowMap[Any], value: Any, **rest: Any) -> Any:
    return rows.load(SimpleNamespace(**rows.dump(value)), **rest)


SCHEDULE = AllotmentSchedule(
    "s1",
    "w1",
    Decimal("100"),
    GrantKind.PROMOTIONAL,
    3,
    Cadence.MONTHLY,
    T,
    AllotmentExpiry.END_OF_PERIOD,
    None,
    Decimal("50"),
    None,
    2,
    Decimal("0"),
    "USD",
    "monthly credits",
    False,
)
VALUES: list[tuple[RowMap[Any], Any]] = [
    (mappers.WALLET, wallet()),
    (mappers.GRANT, grant("g1", "10")),
    (
        mappers.ALERT_RULE,
        AlertRule("a1", "w1", "low", AlertKind.PERCENT, Decimal("20"), timedelta(hours=1)),
    ),
    (
        mappers.TOPUP_RULE,
        TopUpRule(
            "w1",
            Decimal("5"),
            Decimal("50"),
            None,
            GrantKind.PREPAID,
            0,
            None,
            Decimal("0.01"),
            "USD",
            Decimal("500"),
            None,
            payment=TopUpPayment.ON_CONFIRMATION,
        ),
    ),
    (
        mappers.TOPUP,
        TopUp(
            "t1",
            "w1",
            Decimal("50"),
            Decimal("0.01"),
            "USD",
            TopUpState.PENDING,
            T,
            GrantKind.PREPAID,
            0,
            None,
        ),
    ),
    (mappers.SCHEDULE, SCHEDULE),
]


@pytest.mark.parametrize(("rows", "value"), VALUES, ids=lambda v: type(v).__name__)
def test_a_stored_value_reads_back_as_itself(rows: RowMap[Any], value: Any) -> None:
    assert _read_back(rows, value) == value


def test_enums_are_stored_by_value_and_an_empty_schedule_id_as_null() -> None:
    row = mappers.TOPUP.dump(VALUES[4][1])
    assert (row["state"], row["kind"], row["schedule_id"]) == ("PENDING", "PREPAID", None)


def test_columns_named_otherwise_and_computed_columns_come_from_the_value() -> None:
    row = mappers.SCHEDULE.dump(SCHEDULE)
    assert row["anchor_time"] == T and "anchor" not in row
    assert row["next_time"] == SCHEDULE.start(2)


def test_a_hold_reads_its_allocations_from_elsewhere() -> None:
    hold_row = SimpleNamespace(
        id="h1",
        wallet_id="w1",
        amount=Decimal("5"),
        create_time=T,
        expire_time=T + timedelta(hours=1),
        state="ACTIVE",
        end_time=None,
        captured_amount=Decimal("0"),
        feature="f",
        description="",
        member_id="team-a",
    )
    hold = mappers.to_hold(hold_row, [Allocation("g1", Decimal("5"))])
    assert hold.allocations == (Allocation("g1", Decimal("5")),)
    assert hold.state.value == "ACTIVE"
    assert hold.member_id == "team-a"
