"""Every gRPC code the ledger can answer a charge with has exactly one retry rule: DENIED (a DENY
wallet's refusal), permanent (FAILED at once), bounded (INTERNAL-like: retried a few times, then
FAILED) or transient (retried until it passes)."""

from __future__ import annotations

import grpc
import pytest

from rating_service.app.ports import Refused


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
    refused = Refused(code.value[0], code.name, "")
    assert (refused.permanent, refused.bounded, refused.transient) == (
        outcome == "permanent",
        outcome == "bounded",
        outcome == "transient",
    )
    assert not refused.denied
    denied = Refused(grpc.StatusCode.FAILED_PRECONDITION.value[0], "INSUFFICIENT_CREDITS", "")
    assert denied.denied and not (denied.permanent or denied.bounded or denied.transient)
