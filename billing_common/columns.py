"""Column types both services' tables use: exact money and timezone-aware times."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Numeric, text

# Unconstrained NUMERIC: input validation caps amounts at 38 significant / 18 fractional digits.
MONEY = Numeric(asdecimal=True)
TS = DateTime(timezone=True)


def money_column(name: str) -> Column[object]:
    """A NOT NULL money column that starts at 0."""
    return Column(name, MONEY, nullable=False, server_default=text("0"))
