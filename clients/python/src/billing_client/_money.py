"""Amounts: `Decimal` in Python, plain decimal strings on the wire ("1250.5", "0.000002").

Floats are refused: 0.1 has no exact binary value, and a client that rounds money is a bug.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def to_wire(amount: Decimal | int) -> str:
    """`Decimal("12.50")` -> `"12.50"`; plain notation, never an exponent (`1E+3` -> `"1000"`)."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise TypeError(f"amounts are Decimal (or int), not {type(amount).__name__}")
    amount = Decimal(amount)
    if not amount.is_finite():
        raise ValueError(f"amount must be finite, got {amount}")
    if amount.is_zero():
        return "0"  # not "-0" or "0E-7"
    return format(amount, "f")


def from_wire(text: str) -> Decimal:
    """A decimal string from a response as a `Decimal`; an empty (unset) field is an error."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {text!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {text!r}")
    return amount
