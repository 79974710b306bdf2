"""One set of amount rules: the CLI and the Python client refuse exactly what the server refuses
(plain decimal notation, at most 18 fractional and 38 significant digits, no exponent, no NaN or
infinity, and the field's sign rule) and accept the same values."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from billing_cli import parse
from billing_common.errors import InvalidArgument
from billing_common.money import parse_amount

# The client is its own distribution, not installed in the services' environment.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python" / "src"))

import billing_client

SIGNS = [(False, False), (True, False), (True, True)]  # (allow_zero, allow_negative)

TEXTS = [
    # accepted by the plain-number rule (some refused by a sign rule)
    "12.50",
    "1000",
    "0.000000000000000001",
    "1234567890123456789.0123456789012345678",  # 38 significant digits
    "00012.5",
    "0",
    "-0",
    "0.000",
    "-5",
    "-0.5",
    # refused whatever the sign rule
    "1e3",
    "1E3",
    "1E+3",
    "1e-3",
    "NaN",
    "nan",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    " 12",
    "12 ",
    "1,5",
    "+5",
    ".5",
    "5.",
    "1_000",
    "0x10",
    "１",  # a full-width digit: Decimal() takes it, the wire does not
    "",
    "-",
    "--1",
    "0.0000000000000000001",  # 19 fractional digits
    "123456789012345678901.123456789012345678",  # 39 significant digits
]


def server(text: str, allow_zero: bool, allow_negative: bool) -> Decimal | None:
    try:
        return parse_amount(text, "amount", allow_zero=allow_zero, allow_negative=allow_negative)
    except InvalidArgument:
        return None


def cli(text: str, allow_zero: bool, allow_negative: bool) -> Decimal | None:
    try:
        sent = parse.amount(text, allow_zero=allow_zero, allow_negative=allow_negative)
    except typer.BadParameter:
        return None
    return Decimal(sent)


def client(text: str, allow_zero: bool, allow_negative: bool) -> Decimal | None:
    try:
        return billing_client.parse_amount(
            text, allow_zero=allow_zero, allow_negative=allow_negative
        )
    except ValueError:
        return None


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize(("allow_zero", "allow_negative"), SIGNS)
def test_cli_and_client_agree_with_the_server(
    text: str, allow_zero: bool, allow_negative: bool
) -> None:
    expected = server(text, allow_zero, allow_negative)
    assert cli(text, allow_zero, allow_negative) == expected
    assert client(text, allow_zero, allow_negative) == expected


def test_exponent_notation_is_refused_not_scaled() -> None:
    """The CLI used to turn "1e3" into "1000" and debit a thousand."""
    assert server("1e3", False, False) is None
    with pytest.raises(typer.BadParameter, match="plain decimal"):
        parse.amount("1e3")


def test_the_cli_sends_the_text_it_checked() -> None:
    assert parse.amount("12.50") == "12.50"


numbers = st.text(alphabet="0123456789.-+eE_, nafiNIty", max_size=45)
long_plain = st.builds(
    lambda sign, whole, frac: sign + whole + ("." + frac if frac else ""),
    st.sampled_from(["", "-"]),
    st.text(alphabet="0123456789", min_size=1, max_size=24),
    st.text(alphabet="0123456789", max_size=22),
)


@given(st.one_of(numbers, long_plain), st.sampled_from(SIGNS))
def test_any_text_gets_the_same_verdict_everywhere(text: str, sign: tuple[bool, bool]) -> None:
    expected = server(text, *sign)
    assert cli(text, *sign) == expected
    assert client(text, *sign) == expected


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("1E-19"),  # 19 fractional digits
        Decimal("1E+38"),  # 39 significant digits in plain notation
        Decimal("123456789012345678901.123456789012345678"),  # 39 significant digits
        Decimal("NaN"),
    ],
)
def test_the_client_does_not_send_a_decimal_the_server_would_refuse(amount: Decimal) -> None:
    assert server(format(amount, "f"), True, True) is None
    with pytest.raises(ValueError):
        billing_client.to_wire(amount)


def test_the_client_sends_a_value_with_trailing_zeros_in_a_form_the_server_takes() -> None:
    wire = billing_client.to_wire(Decimal("1.5000000000000000000000"))  # 22 fractional digits
    assert server(wire, False, False) == Decimal("1.5")


def test_the_client_refuses_a_non_positive_debit_before_sending() -> None:
    with pytest.raises(ValueError):
        billing_client.to_wire(Decimal(0), allow_zero=False)
    with pytest.raises(ValueError):
        billing_client.to_wire(Decimal(-1), allow_negative=False)
