"""Exact money: decimal strings on the wire, `Decimal` in Python, NUMERIC in PostgreSQL.

Rules (SPEC "Money"): plain decimal notation only (no exponent, NaN or infinity), at most 18
fractional digits and 38 significant digits. Anything else is INVALID_ARGUMENT.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Any, TypeVar, cast

from billing_common.errors import InvalidArgument

FRACTION_DIGITS_MAX = 18
SIGNIFICANT_DIGITS_MAX = 38

# The context of every money operation. Sums of many amounts need more than the default 28
# digits of precision; 100 leaves room for sums of billions of 38-digit amounts and for products
# of two of them. Rounding a money value is always a bug, so Inexact traps (as do the rest).
# It is used explicitly (`exact`, `with localcontext(MONEY)`), never installed globally: a
# module's exactness must not depend on what was imported before it.
MONEY = Context(
    prec=100,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact],
)

F = TypeVar("F", bound=Callable[..., Any])


def exact(fn: F) -> F:
    """Run `fn` (a function or a coroutine function) under MONEY, whatever the caller's decimal
    context; the caller's context is restored afterwards."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with localcontext(MONEY):
                return await fn(*args, **kwargs)

        return cast(F, run_async)  # functools.wraps: the signature of `fn`

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with localcontext(MONEY):
            return fn(*args, **kwargs)

    return cast(F, run)  # functools.wraps: the signature of `fn`


# ASCII digits only: \d would accept any Unicode digit ("１"), and Decimal() would too.
_PLAIN = re.compile(r"-?(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?")
ZERO = Decimal(0)


class AmountError(ValueError):
    """Text that is not an amount under the money rules; the message says why."""


def to_amount(text: str, *, allow_zero: bool = False, allow_negative: bool = False) -> Decimal:
    """The one amount parser (server validation, the CLI): `text` as a Decimal, or AmountError.

    Plain decimal notation only ("12.50", "-3", "0.000001"): no exponent, no NaN or infinity, no
    sign "+", no spaces, ASCII digits; at most 18 fractional and 38 significant digits. Negative
    amounts only with `allow_negative`, zero only with `allow_zero`.
    The Python client carries the same rules (clients/python, `_money.py`), since it installs
    without this package; tests/unit/test_amount_parser.py holds all of them to one verdict.
    """
    match = _PLAIN.fullmatch(text)
    if match is None:
        raise AmountError(f'{text!r} is not a plain decimal number such as "12.50"')
    fraction = match.group("frac") or ""
    if len(fraction) > FRACTION_DIGITS_MAX:
        raise AmountError(f"at most {FRACTION_DIGITS_MAX} fractional digits")
    digits = (match.group("int") + fraction).lstrip("0")
    if len(digits) > SIGNIFICANT_DIGITS_MAX:
        raise AmountError(f"at most {SIGNIFICANT_DIGITS_MAX} significant digits")
    value = Decimal(text)  # exact whatever the context: construction never rounds
    if value < 0 and not allow_negative:
        raise AmountError("must not be negative")
    if value == 0 and not allow_zero:
        raise AmountError("must be greater than zero")
    return value


def parse_amount(
    text: str, field: str, *, allow_zero: bool = False, allow_negative: bool = False
) -> Decimal:
    """Parse a decimal string from a request, or raise InvalidArgument naming `field`."""
    try:
        return to_amount(text, allow_zero=allow_zero, allow_negative=allow_negative)
    except AmountError as exc:
        raise InvalidArgument.field(field, str(exc), "INVALID_AMOUNT") from None


def format_amount(value: Decimal) -> str:
    """Canonical decimal string: plain notation, no exponent, no trailing fractional zeros."""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
