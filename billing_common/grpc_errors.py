"""Turning `BillingError`s into rich gRPC statuses (ErrorInfo + BadRequest details).

Every error is declared once, as a class: its category (the `billing_common.errors` class it
derives from: InvalidArgument, NotFound, ...) gives its gRPC code through CODES below, and its
`reason` (ErrorInfo.reason) is written on the class (an input error may carry a more exact one on
the instance, e.g. INVALID_AMOUNT). No service keeps a table of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from billing.type.v1 import types_pb2
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from billing_common.errors import (
    AlreadyExists,
    BillingError,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

# The gRPC code of each category of error.
CODES: Mapping[type[BillingError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    Internal: grpc.StatusCode.INTERNAL,
}


def classify(error: BillingError) -> tuple[grpc.StatusCode, str]:
    """The gRPC code of an error's category and its reason (INTERNAL for an error of none)."""
    for cls in type(error).__mro__:
        code = CODES.get(cls)
        if code is not None:
            return code, error.reason
    return grpc.StatusCode.INTERNAL, error.reason


def to_rpc_status(error: BillingError, domain: str) -> status_pb2.Status:
    code, reason = classify(error)
    status = status_pb2.Status(code=code.value[0], message=error.message)
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain))
    status.details.append(info)
    if error.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        detail = any_pb2.Any()
        detail.Pack(bad)
        status.details.append(detail)
    return status


def to_grpc_status(error: BillingError, domain: str) -> grpc.Status:
    return rpc_status.to_status(to_rpc_status(error, domain))


def item_error(error: BillingError) -> types_pb2.ItemError:
    """A batch item's error: what a failed unary call carries in its status details."""
    code, reason = classify(error)
    return types_pb2.ItemError(
        code=code.value[0],
        reason=reason,
        message=error.message,
        field_violations=[
            types_pb2.FieldViolation(field=v.field, description=v.description)
            for v in error.violations
        ],
    )
