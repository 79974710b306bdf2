"""One root exception; gRPC errors are mapped to it at one boundary (`from_rpc_error`).

The services put a `google.rpc.ErrorInfo` (a stable `reason` such as "INSUFFICIENT_CREDITS") and,
for bad input, a `google.rpc.BadRequest` in the status details; both are unpacked here.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2

_DETAILS_KEY = "grpc-status-details-bin"


class BillingClientError(Exception):
    """Root of every error this package raises."""


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class RpcError(BillingClientError):
    """A call failed with a gRPC status. Subclasses name the codes callers usually branch on."""

    def __init__(
        self,
        method: str,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str | None = None,
        violations: tuple[FieldViolation, ...] = (),
        attempts: int = 1,
    ) -> None:
        super().__init__(f"{method}: {code.name}: {message}" + (f" ({reason})" if reason else ""))
        self.method = method
        self.code = code
        self.message = message
        self.reason = reason  # ErrorInfo.reason, when the service sent one
        self.violations = violations
        self.attempts = attempts  # how many times the call was sent


class InvalidArgument(RpcError):
    pass


class NotFound(RpcError):
    pass


class AlreadyExists(RpcError):
    pass


class FailedPrecondition(RpcError):
    """For example reason "INSUFFICIENT_CREDITS"."""


class Unavailable(RpcError):
    """The service could not be reached (after every retry the policy allows)."""


class DeadlineExceeded(RpcError):
    """The call's deadline passed. A mutation may or may not have happened: retry it with the
    same request_id to find out; the ledger replays the original result."""


_BY_CODE: dict[grpc.StatusCode, type[RpcError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def from_rpc_error(exc: grpc.aio.AioRpcError, method: str, attempts: int) -> RpcError:
    reason: str | None = None
    violations: list[FieldViolation] = []
    for key, value in exc.trailing_metadata() or ():
        if key != _DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            # Unpack returns False (and leaves the message alone) when the type does not match.
            info = error_details_pb2.ErrorInfo()
            bad = error_details_pb2.BadRequest()
            if detail.Unpack(info):
                reason = info.reason
            elif detail.Unpack(bad):
                violations.extend(
                    FieldViolation(v.field, v.description) for v in bad.field_violations
                )
    cls = _BY_CODE.get(exc.code(), RpcError)
    return cls(
        method,
        exc.code(),
        exc.details() or "",
        reason=reason,
        violations=tuple(violations),
        attempts=attempts,
    )
