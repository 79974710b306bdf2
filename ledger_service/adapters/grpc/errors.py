"""The one table from the ledger's errors to gRPC codes and ErrorInfo reasons.

A reason of None keeps the error's own reason (input errors name the exact problem, for example
INVALID_AMOUNT or PAGE_SIZE_TOO_LARGE).
"""

from __future__ import annotations

import grpc

from billing_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    RequestIdConflict,
    ResourceExhausted,
    Unavailable,
)
from billing_common.grpc_errors import ErrorTable
from ledger_service.domain import errors as e

DOMAIN = "ledger.billing"

Code = grpc.StatusCode

ERRORS: ErrorTable = {
    e.WalletNotFound: (Code.NOT_FOUND, "WALLET_NOT_FOUND"),
    e.WalletCustomerMismatch: (Code.FAILED_PRECONDITION, "WALLET_CUSTOMER_MISMATCH"),
    e.GrantNotFound: (Code.NOT_FOUND, "GRANT_NOT_FOUND"),
    e.EntryNotFound: (Code.NOT_FOUND, "ENTRY_NOT_FOUND"),
    e.HoldNotFound: (Code.NOT_FOUND, "HOLD_NOT_FOUND"),
    e.HoldNotActive: (Code.FAILED_PRECONDITION, "HOLD_NOT_ACTIVE"),
    e.CaptureExceedsHold: (Code.FAILED_PRECONDITION, "CAPTURE_EXCEEDS_HOLD"),
    e.GrantHeld: (Code.FAILED_PRECONDITION, "GRANT_HELD"),
    e.TopUpNotFound: (Code.NOT_FOUND, "TOP_UP_NOT_FOUND"),
    e.ScheduleNotFound: (Code.NOT_FOUND, "SCHEDULE_NOT_FOUND"),
    e.TopUpNotPending: (Code.FAILED_PRECONDITION, "TOP_UP_NOT_PENDING"),
    e.WebhookEndpointNotFound: (Code.NOT_FOUND, "WEBHOOK_ENDPOINT_NOT_FOUND"),
    e.TooManyWebhookEndpoints: (Code.FAILED_PRECONDITION, "TOO_MANY_WEBHOOK_ENDPOINTS"),
    e.WalletAlreadyExists: (Code.ALREADY_EXISTS, "WALLET_ALREADY_EXISTS"),
    RequestIdConflict: (Code.ALREADY_EXISTS, "REQUEST_ID_CONFLICT"),
    e.InsufficientCredits: (Code.FAILED_PRECONDITION, "INSUFFICIENT_CREDITS"),
    e.GrantAlreadyVoided: (Code.FAILED_PRECONDITION, "GRANT_ALREADY_VOIDED"),
    e.GrantAlreadyEnded: (Code.FAILED_PRECONDITION, "GRANT_ALREADY_ENDED"),
    e.RefundExceedsDebit: (Code.FAILED_PRECONDITION, "REFUND_EXCEEDS_DEBIT"),
    e.NotADebit: (Code.INVALID_ARGUMENT, "ENTRY_NOT_A_DEBIT"),
    InvalidArgument: (Code.INVALID_ARGUMENT, None),
    NotFound: (Code.NOT_FOUND, None),
    AlreadyExists: (Code.ALREADY_EXISTS, None),
    FailedPrecondition: (Code.FAILED_PRECONDITION, None),
    Unavailable: (Code.UNAVAILABLE, None),
    ResourceExhausted: (Code.RESOURCE_EXHAUSTED, None),
}
