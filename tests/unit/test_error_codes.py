"""Every error is declared once, as a class: its category gives its gRPC code and its reason is
written on it. No error a caller can cause may come out as INTERNAL."""

from __future__ import annotations

import grpc
import pytest
from billing.type.v1 import types_pb2

from billing_common import errors as common
from billing_common.grpc_errors import classify, item_error, to_rpc_status
from ledger_service.domain import errors as ledger_errors
from rating_service.domain import errors as rating_errors


def _declared() -> list[type[common.BillingError]]:
    found: list[type[common.BillingError]] = []
    for module in (common, ledger_errors, rating_errors):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, common.BillingError)
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


ERRORS = [e for e in _declared() if e not in (common.BillingError, common.Internal)]


def _instance(cls: type[common.BillingError]) -> common.BillingError:
    return cls.__new__(cls)  # the class's own reason, whatever its constructor asks for


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_declared_error_has_a_category_code_and_its_own_reason(
    cls: type[common.BillingError],
) -> None:
    code, reason = classify(_instance(cls))
    assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.OK)
    assert reason == cls.reason and reason.isupper() and reason != "BILLING_ERROR"


def test_within_a_service_a_reason_names_one_error() -> None:
    """(The rating service may repeat a ledger reason it passes on, e.g. INSUFFICIENT_CREDITS.)"""
    by_reason: dict[tuple[str, str], list[str]] = {}
    for cls in ERRORS:
        by_reason.setdefault((cls.__module__, cls.reason), []).append(cls.__name__)
    assert {r: n for r, n in by_reason.items() if len(n) > 1} == {}


def test_the_code_and_reason_reach_the_status_and_a_batch_item_alike() -> None:
    error = ledger_errors.InsufficientCredits("short by 5", shortfall=5)  # type: ignore[arg-type]
    status = to_rpc_status(error, "ledger.billing")
    assert status.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    item = item_error(error)
    assert isinstance(item, types_pb2.ItemError)
    assert (item.code, item.reason, item.message) == (
        grpc.StatusCode.FAILED_PRECONDITION.value[0],
        "INSUFFICIENT_CREDITS",
        "short by 5",
    )


def test_an_input_error_keeps_the_exact_reason_of_its_instance() -> None:
    error = common.InvalidArgument("bad amount", reason="INVALID_AMOUNT")
    assert classify(error) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_AMOUNT")
