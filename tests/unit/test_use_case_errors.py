"""Each use case lists the errors it can raise: every app module of both services whose code
raises (or answers an item with) a `BillingError` declares them in a module-level `RAISES`
tuple, and every declared error has its gRPC code and reason in the one table
(billing_common/grpc_errors.py: its category's code, its own reason).

Checked from the source, as far as that reaches: the error classes the module's code names in a
`raise` or constructs (`PeriodClosed(...)`, `InvalidArgument.field(...)`), and those of every
function of the same service's app or domain it calls by name (`accept(...)`,
`ledger.debit(...)`), and of theirs, recursively. Calls through objects (`self.context...`) are
not followed: rating's use cases that claim a request id (`.idempotent(`) must list what
claiming can raise, and RAISES may name more than the scan finds."""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
import types
from typing import Any

import grpc
import pytest

from billing_common.errors import BillingError
from billing_common.grpc_errors import CODES, classify
from rating_service.app import context as rating_context
from tests.support.imports import modules_under

SERVICES = ("rating_service", "ledger_service")
APP_MODULES = [m for s in SERVICES for m in modules_under(f"{s}.app")]


def _resolve(node: ast.expr, names: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, names)
        return None if base is None else getattr(base, node.attr, None)
    return None


def _named(tree: ast.AST, names: dict[str, Any]) -> tuple[set[type[BillingError]], set[Any]]:
    """The error classes the code raises or constructs, and the functions it calls by name."""
    errors: set[type[BillingError]] = set()
    calls: set[Any] = set()
    for node in ast.walk(tree):
        target: ast.expr | None = None
        if isinstance(node, ast.Call):
            target = node.func
            if isinstance(target, ast.Attribute) and isinstance(
                _resolve(target.value, names), type
            ):
                target = target.value  # a class's constructor: InvalidArgument.field(...)
        elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Name | ast.Attribute):
            target = node.exc
        found = None if target is None else _resolve(target, names)
        if isinstance(found, type) and issubclass(found, BillingError):
            errors.add(found)
        elif isinstance(found, types.FunctionType):
            calls.add(found)
    return errors, calls


def _function_errors(func: Any, service: str, seen: set[Any]) -> set[type[BillingError]]:
    func = inspect.unwrap(func)
    layer = func.__module__.split(".")[:2]
    if func in seen or layer not in ([service, "app"], [service, "domain"]):
        return set()
    seen.add(func)
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    errors, calls = _named(tree, func.__globals__)
    for called in calls:
        errors |= _function_errors(called, service, seen)
    return errors


def raised_by(module_name: str) -> set[type[BillingError]]:
    module = importlib.import_module(module_name)
    source = inspect.getsource(module)
    errors, calls = _named(ast.parse(source), vars(module))
    seen: set[Any] = set()
    for called in calls:
        errors |= _function_errors(called, module_name.split(".")[0], seen)
    if module_name.startswith("rating_service.") and ".idempotent(" in source:
        errors |= raised_by(rating_context.__name__)
    return errors


def _declared(module_name: str) -> tuple[type[BillingError], ...]:
    return tuple(getattr(importlib.import_module(module_name), "RAISES", ()))


@pytest.mark.parametrize("module_name", APP_MODULES)
def test_every_error_a_use_case_raises_is_declared_beside_it(module_name: str) -> None:
    missing = raised_by(module_name) - set(_declared(module_name))
    assert sorted(e.__name__ for e in missing) == []


@pytest.mark.parametrize("module_name", APP_MODULES)
def test_every_declared_error_has_a_code_and_reason_in_the_one_table(module_name: str) -> None:
    for error in _declared(module_name):
        assert issubclass(error, BillingError), error
        assert any(c in CODES for c in error.__mro__), error
        code, reason = classify(error.__new__(error))
        assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), error
        assert reason.isupper() and reason != "BILLING_ERROR", error
    assert len(set(_declared(module_name))) == len(_declared(module_name))


def test_the_scan_finds_errors_raised_in_called_domain_functions() -> None:
    found = raised_by("rating_service.app.ingest")
    names = {e.__name__ for e in found}
    # accept (app) -> plan_event (domain) -> CustomerNotFound; and the claim of a request id.
    assert {"CustomerNotFound", "PeriodClosed", "RequestIdConflict"} <= names
