from datetime import UTC, datetime

import pytest

from billing_common.periods import Cadence, Period, period_at


def dt(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("anchor", "cadence", "at", "expected"),
    [
        (
            dt(2026, 1, 15),
            Cadence.MONTHLY,
            dt(2026, 1, 15),
            Period(dt(2026, 1, 15), dt(2026, 2, 15)),
        ),
        (
            dt(2026, 1, 15),
            Cadence.MONTHLY,
            dt(2026, 2, 14, 23),
            Period(dt(2026, 1, 15), dt(2026, 2, 15)),
        ),
        (
            dt(2026, 1, 15),
            Cadence.MONTHLY,
            dt(2026, 2, 15),
            Period(dt(2026, 2, 15), dt(2026, 3, 15)),
        ),
        (
            dt(2026, 1, 15),
            Cadence.MONTHLY,
            dt(2025, 12, 20),
            Period(dt(2025, 12, 15), dt(2026, 1, 15)),
        ),
        # anchor on the 31st clamps to short months without drifting
        (
            dt(2026, 1, 31),
            Cadence.MONTHLY,
            dt(2026, 3, 1),
            Period(dt(2026, 2, 28), dt(2026, 3, 31)),
        ),
        (
            dt(2026, 1, 31),
            Cadence.MONTHLY,
            dt(2026, 4, 30),
            Period(dt(2026, 4, 30), dt(2026, 5, 31)),
        ),
        (
            dt(2024, 1, 31),
            Cadence.MONTHLY,
            dt(2024, 2, 29, 12),
            Period(dt(2024, 2, 29), dt(2024, 3, 31)),
        ),
        (
            dt(2026, 1, 1, 6),
            Cadence.DAILY,
            dt(2026, 1, 3, 5),
            Period(dt(2026, 1, 2, 6), dt(2026, 1, 3, 6)),
        ),
        (dt(2026, 1, 1), Cadence.WEEKLY, dt(2026, 1, 8), Period(dt(2026, 1, 8), dt(2026, 1, 15))),
        (dt(2026, 1, 1), Cadence.QUARTERLY, dt(2026, 5, 1), Period(dt(2026, 4, 1), dt(2026, 7, 1))),
        (dt(2024, 2, 29), Cadence.YEARLY, dt(2025, 3, 1), Period(dt(2025, 2, 28), dt(2026, 2, 28))),
    ],
)
def test_period_at(anchor: datetime, cadence: Cadence, at: datetime, expected: Period) -> None:
    period = period_at(anchor, cadence, at)
    assert period == expected
    assert period.contains(at)
