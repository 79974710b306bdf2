"""Turning `BillingError`s into rich gRPC statuses (ErrorInfo + BadRequest details).

Each service passes its own table (class -> code, reason) from its gRPC adapter; the lookup walks
the exception's class hierarchy, so a table entry for a base class covers its subclasses.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from billing.type.v1 import types_pb2
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from billing_common.errors import BillingError

ErrorTable = Mapping[type[BillingError], tuple[grpc.StatusCode, str | None]]


def classify(error: BillingError, table: ErrorTable) -> tuple[grpc.StatusCode, str]:
    """The gRPC code and reason of an error; the table's reason wins over the instance's default."""
    for cls in type(error).__mro__:
        if cls in table:
            code, reason = table[cls]
            return code, reason or error.reason
    return grpc.StatusCode.INTERNAL, error.reason


def to_rpc_status(error: BillingError, table: ErrorTable, domain: str) -> status_pb2.Status:
    code, reason = classify(error, table)
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


def to_grpc_status(error: BillingError, table: ErrorTable, domain: str) -> grpc.Status:
    return rpc_status.to_status(to_rpc_status(error, table, domain))


def item_error(error: BillingError, table: ErrorTable) -> types_pb2.ItemError:
    """A batch item's error: what a failed unary call carries in its status details."""
    code, reason = classify(error, table)
    return types_pb2.ItemError(
        code=code.value[0],
        reason=reason,
        message=error.message,
        field_violations=[
            types_pb2.FieldViolation(field=v.field, description=v.description)
            for v in error.violations
        ],
    )
