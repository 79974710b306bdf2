"""The one table from the rating service's errors to gRPC codes and ErrorInfo reasons.

A reason of None keeps the error's own reason (input errors name the exact problem, for example
INVALID_PRICING, INVALID_PROPERTY or BATCH_TOO_LARGE). Per-event errors of IngestEvents use the
same table to fill their ItemError.
"""

from __future__ import annotations

import grpc
from billing.type.v1 import types_pb2

from billing_common.errors import (
    AlreadyExists,
    BillingError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    RequestIdConflict,
    ResourceExhausted,
    Unavailable,
)
from billing_common.grpc_errors import ErrorTable
from billing_common.grpc_errors import item_error as common_item_error
from rating_service.domain import errors as e

DOMAIN = "rating.billing"

Code = grpc.StatusCode

ERRORS: ErrorTable = {
    RequestIdConflict: (Code.ALREADY_EXISTS, "REQUEST_ID_CONFLICT"),
    e.MeterKeyAlreadyExists: (Code.ALREADY_EXISTS, "METER_ALREADY_EXISTS"),
    e.MeterNotFound: (Code.NOT_FOUND, "METER_NOT_FOUND"),
    e.PriceNotFound: (Code.NOT_FOUND, "PRICE_NOT_FOUND"),
    e.PlanNotFound: (Code.NOT_FOUND, "PLAN_NOT_FOUND"),
    e.CustomerNotFound: (Code.NOT_FOUND, "CUSTOMER_NOT_FOUND"),
    e.InvoiceNotFound: (Code.NOT_FOUND, "INVOICE_NOT_FOUND"),
    e.WalletNotFound: (Code.NOT_FOUND, "WALLET_NOT_FOUND"),
    e.WalletCustomerMismatch: (Code.FAILED_PRECONDITION, "WALLET_CUSTOMER_MISMATCH"),
    e.PriceVersionOverlap: (Code.INVALID_ARGUMENT, "PRICE_VERSION_OVERLAP"),
    e.AssignmentOverlap: (Code.FAILED_PRECONDITION, "ASSIGNMENT_OVERLAP"),
    e.PeriodNotEnded: (Code.FAILED_PRECONDITION, "PERIOD_NOT_ENDED"),
    e.PeriodClosed: (Code.FAILED_PRECONDITION, "PERIOD_CLOSED"),
    e.NoPriceInForce: (Code.FAILED_PRECONDITION, "NO_PRICE_IN_FORCE"),
    e.InsufficientCredits: (Code.FAILED_PRECONDITION, "INSUFFICIENT_CREDITS"),
    e.ChargesPending: (Code.FAILED_PRECONDITION, "CHARGES_PENDING"),
    e.ChargeOutOfRange: (Code.INVALID_ARGUMENT, "CHARGE_OUT_OF_RANGE"),
    e.EffectiveTimeInPast: (Code.INVALID_ARGUMENT, "EFFECTIVE_TIME_IN_PAST"),
    e.EventInProgress: (Code.UNAVAILABLE, "EVENT_IN_PROGRESS"),
    e.RequestInProgress: (Code.UNAVAILABLE, "REQUEST_IN_PROGRESS"),
    InvalidArgument: (Code.INVALID_ARGUMENT, None),
    NotFound: (Code.NOT_FOUND, None),
    AlreadyExists: (Code.ALREADY_EXISTS, None),
    FailedPrecondition: (Code.FAILED_PRECONDITION, None),
    Unavailable: (Code.UNAVAILABLE, None),
    ResourceExhausted: (Code.RESOURCE_EXHAUSTED, None),
}


def item_error(error: BillingError) -> types_pb2.ItemError:
    return common_item_error(error, ERRORS)
