"""Amounts: `Decimal` in Python, plain decimal strings on the wire ("1250.5", "0.000002").

Floats are refused: 0.1 has no exact binary value, and a client that rounds money is a bug.

The rules are the server's (billing_common.money.to_amount; SPEC "Money"), copied here because
this package installs on its own: plain decimal notation (no exponent, NaN or infinity), at most
18 fractional and 38 significant digits, and the field's sign rule. The repository's
tests/unit/test_amount_parser.py holds this copy, the server and the CLI to one verdict for any
text, so what the client refuses is exactly what the server would refuse.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

FRACTION_DIGITS_MAX = 18
SIGNIFICANT_DIGITS_MAX = 38

# ASCII digits only: \d would accept any Unicode digit ("１"), and Decimal() would too.
_PLAIN = re.compile(r"-?(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?")


def parse_amount(text: str, *, allow_zero: bool = False, allow_negative: bool = False) -> Decimal:
    """An amount typed by a person or read from a file, as the server would read it; ValueError
    for anything the server would refuse ("1e3", "NaN", "1,5", 19 fractional digits, ...).
    Positive unless `allow_zero` / `allow_negative` say otherwise."""
    match = _PLAIN.fullmatch(text)
    if match is None:
        raise ValueError(f'{text!r} is not a plain decimal number such as "12.50"')
    fraction = match.group("frac") or ""
    if len(fraction) > FRACTION_DIGITS_MAX:
        raise ValueError(f"at most {FRACTION_DIGITS_MAX} fractional digits")
    digits = (match.group("int") + fraction).lstrip("0")
    if len(digits) > SIGNIFICANT_DIGITS_MAX:
        raise ValueError(f"at most {SIGNIFICANT_DIGITS_MAX} significant digits")
    value = Decimal(text)
    if value < 0 and not allow_negative:
        raise ValueError("must not be negative")
    if value == 0 and not allow_zero:
        raise ValueError("must be greater than zero")
    return value


def to_wire(amount: Decimal | int, *, allow_zero: bool = True, allow_negative: bool = True) -> str:
    """`Decimal("12.50")` -> `"12.50"`; plain notation, never an exponent (`1E+3` -> `"1000"`).

    ValueError for a value the server would refuse: not finite, more than 18 fractional or 38
    significant digits (fractional zeros beyond 18 digits are dropped first: they change nothing),
    or against the sign rule (the typed helpers send positive amounts only)."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise TypeError(f"amounts are Decimal (or int), not {type(amount).__name__}")
    amount = Decimal(amount)
    if not amount.is_finite():
        raise ValueError(f"amount must be finite, got {amount}")
    if amount.is_zero():
        text = "0"  # not "-0" or "0E-7"
    else:
        text = format(amount, "f")
        whole, _, fraction = text.partition(".")
        if len(fraction) > FRACTION_DIGITS_MAX:
            fraction = fraction.rstrip("0")
            text = f"{whole}.{fraction}" if fraction else whole
    parse_amount(text, allow_zero=allow_zero, allow_negative=allow_negative)
    return text


def from_wire(text: str) -> Decimal:
    """A decimal string from a response as a `Decimal`; an empty (unset) field is an error."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {text!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {text!r}")
    return amount
