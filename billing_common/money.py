"""Exact money: decimal strings on the wire, `Decimal` in Python, NUMERIC in PostgreSQL.

Rules (SPEC "Money"): plain decimal notation only (no exponent, NaN or infinity), at most 18
fractional digits and 38 significant digits. Anything else is INVALID_ARGUMENT.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal

from billing_common.errors import InvalidArgument

FRACTION_DIGITS_MAX = 18
SIGNIFICANT_DIGITS_MAX = 38

# Sums of many amounts need more than the default 28 digits of precision; 100 leaves room for
# sums of billions of 38-digit amounts. Rounding a money value is always a bug, so Inexact traps.
_CONTEXT = decimal.Context(prec=100, rounding=decimal.ROUND_HALF_EVEN)
for _trap in (decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, decimal.Inexact):
    _CONTEXT.traps[_trap] = True
decimal.DefaultContext.prec = _CONTEXT.prec
decimal.setcontext(_CONTEXT.copy())

# ASCII digits only: \d would accept any Unicode digit ("１"), and Decimal() would too.
_PLAIN = re.compile(r"-?(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?")
ZERO = Decimal(0)


def parse_amount(
    text: str, field: str, *, allow_zero: bool = False, allow_negative: bool = False
) -> Decimal:
    """Parse a decimal string from a request, or raise InvalidArgument naming `field`."""
    match = _PLAIN.fullmatch(text)
    if match is None:
        raise InvalidArgument.field(
            field, f'{text!r} is not a plain decimal number such as "12.50"', "INVALID_AMOUNT"
        )
    fraction = match.group("frac") or ""
    if len(fraction) > FRACTION_DIGITS_MAX:
        raise InvalidArgument.field(
            field, f"at most {FRACTION_DIGITS_MAX} fractional digits", "INVALID_AMOUNT"
        )
    digits = (match.group("int") + fraction).lstrip("0")
    if len(digits) > SIGNIFICANT_DIGITS_MAX:
        raise InvalidArgument.field(
            field, f"at most {SIGNIFICANT_DIGITS_MAX} significant digits", "INVALID_AMOUNT"
        )
    value = Decimal(text)
    if value < 0 and not allow_negative:
        raise InvalidArgument.field(field, "must not be negative", "INVALID_AMOUNT")
    if value == 0 and not allow_zero:
        raise InvalidArgument.field(field, "must be greater than zero", "INVALID_AMOUNT")
    return value


def format_amount(value: Decimal) -> str:
    """Canonical decimal string: plain notation, no exponent, no trailing fractional zeros."""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
