"""Errors the rating operations can return. The gRPC adapter maps each to a code and reason."""

from __future__ import annotations

from billing_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)


class MeterNotFound(NotFound):
    reason = "METER_NOT_FOUND"


class PriceNotFound(NotFound):
    reason = "PRICE_NOT_FOUND"


class PlanNotFound(NotFound):
    reason = "PLAN_NOT_FOUND"


class CustomerNotFound(NotFound):
    """The customer has no plan assignment (at the time asked about)."""

    reason = "CUSTOMER_NOT_FOUND"


class InvoiceNotFound(NotFound):
    reason = "INVOICE_NOT_FOUND"


class WalletNotFound(NotFound):
    """The ledger has no such wallet."""

    reason = "WALLET_NOT_FOUND"


class WalletCustomerMismatch(FailedPrecondition):
    """A plan's wallet must belong to the plan's customer (the ledger says who owns it)."""

    reason = "WALLET_CUSTOMER_MISMATCH"


class MeterKeyAlreadyExists(AlreadyExists):
    reason = "METER_ALREADY_EXISTS"


class PriceVersionOverlap(InvalidArgument):
    """A new price version must start after every existing version of the same price."""

    reason = "PRICE_VERSION_OVERLAP"


class AssignmentOverlap(FailedPrecondition):
    reason = "ASSIGNMENT_OVERLAP"


class AssignmentAlreadyEnded(FailedPrecondition):
    """EndPlanAssignment on an assignment that already has an end."""

    reason = "ASSIGNMENT_ALREADY_ENDED"


class PeriodNotEnded(FailedPrecondition):
    reason = "PERIOD_NOT_ENDED"


class EventRejected(InvalidArgument):
    """Base of the per-event input refusals (EVENT_TOO_OLD, EVENT_IN_FUTURE, ...)."""

    reason = "EVENT_REJECTED"


class NoPriceInForce(FailedPrecondition):
    """The event counts for a meter whose price has no version in force at its occurred_time."""

    reason = "NO_PRICE_IN_FORCE"


class PeriodClosed(FailedPrecondition):
    """The event falls in a billing period whose invoice is final."""

    reason = "PERIOD_CLOSED"


class InsufficientCredits(FailedPrecondition):
    """The ledger refused the charge: a DENY wallet without enough credits (reason
    INSUFFICIENT_CREDITS), or a DENY pool member past its budget (MEMBER_BUDGET_EXCEEDED)."""

    reason = "INSUFFICIENT_CREDITS"


class ChargesPending(FailedPrecondition):
    """The period still has charges the ledger has not acknowledged; retry later."""

    reason = "CHARGES_PENDING"


class ChargeOutOfRange(InvalidArgument):
    """The event's charge has more digits than money may (18 fractional, 38 significant)."""

    reason = "CHARGE_OUT_OF_RANGE"


class EffectiveTimeInPast(InvalidArgument):
    """A price version or plan assignment would take effect before now (rewriting the past)."""

    reason = "EFFECTIVE_TIME_IN_PAST"


class EventInProgress(Unavailable):
    """The event id is held by a synchronous call still waiting for the ledger: retry shortly."""

    reason = "EVENT_IN_PROGRESS"


class RequestInProgress(Unavailable):
    """The request_id is being processed by an earlier call: retry with the same request_id."""

    reason = "REQUEST_IN_PROGRESS"
