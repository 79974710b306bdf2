"""Every gRPC code the ledger can answer a charge with means exactly one thing to rating (the
ledger client translates it): DENIED (a DENY wallet's refusal), permanent (FAILED at once), the
ledger failed (INTERNAL-like: retried a few times, then FAILED) or retry later (retried until it
passes)."""

from __future__ import annotations

import grpc
import pytest

from rating_service.adapters.ledger_client import refusal_of
from rating_service.domain.status import LedgerRefusal

MEANING = {
    "permanent": LedgerRefusal.PERMANENT,
    "bounded": LedgerRefusal.LEDGER_FAILED,
    "transient": LedgerRefusal.RETRY_LATER,
}


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, "permanent"),
        (grpc.StatusCode.NOT_FOUND, "permanent"),
        (grpc.StatusCode.ALREADY_EXISTS, "permanent"),
        (grpc.StatusCode.FAILED_PRECONDITION, "permanent"),
        (grpc.StatusCode.OUT_OF_RANGE, "permanent"),
        (grpc.StatusCode.INTERNAL, "bounded"),
        (grpc.StatusCode.UNKNOWN, "bounded"),
        (grpc.StatusCode.DATA_LOSS, "bounded"),
        (grpc.StatusCode.UNAVAILABLE, "transient"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "transient"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "transient"),
        (grpc.StatusCode.ABORTED, "transient"),
        (grpc.StatusCode.CANCELLED, "transient"),
        (grpc.StatusCode.UNAUTHENTICATED, "transient"),
        (grpc.StatusCode.PERMISSION_DENIED, "transient"),
        (grpc.StatusCode.UNIMPLEMENTED, "transient"),
    ],
)
def test_every_ledger_code_has_one_retry_rule(code: grpc.StatusCode, outcome: str) -> None:
    assert refusal_of(code.value[0], code.name) == MEANING[outcome]
    denied = refusal_of(grpc.StatusCode.FAILED_PRECONDITION.value[0], "INSUFFICIENT_CREDITS")
    assert denied == LedgerRefusal.DENIED
