"""Errors the ledger's operations can return. The gRPC adapter maps each to a code and reason."""

from __future__ import annotations

from decimal import Decimal

from billing_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound


class WalletNotFound(NotFound):
    reason = "WALLET_NOT_FOUND"


class CustomerNotFound(NotFound):
    """A wallet is created for a customer outside the caller's tenant scope: for that caller the
    customer does not exist (domain/tenancy.py)."""

    reason = "CUSTOMER_NOT_FOUND"


class WalletCustomerMismatch(FailedPrecondition):
    """A debit states a customer other than the wallet's owner (one customer's usage must never
    spend another customer's credits)."""

    reason = "WALLET_CUSTOMER_MISMATCH"


class GrantNotFound(NotFound):
    reason = "GRANT_NOT_FOUND"


class EntryNotFound(NotFound):
    reason = "ENTRY_NOT_FOUND"


class WalletAlreadyExists(AlreadyExists):
    reason = "WALLET_ALREADY_EXISTS"


class InsufficientCredits(FailedPrecondition):
    reason = "INSUFFICIENT_CREDITS"

    def __init__(self, message: str, *, shortfall: Decimal = Decimal(0)) -> None:
        super().__init__(message)
        self.shortfall = shortfall


class GrantAlreadyVoided(FailedPrecondition):
    reason = "GRANT_ALREADY_VOIDED"


class GrantAlreadyEnded(FailedPrecondition):
    """Nothing is left to void: the grant was consumed or written off."""

    reason = "GRANT_ALREADY_ENDED"


class RefundExceedsDebit(FailedPrecondition):
    reason = "REFUND_EXCEEDS_DEBIT"


class NotADebit(InvalidArgument):
    reason = "ENTRY_NOT_A_DEBIT"


class TopUpRuleNotFound(NotFound):
    """The wallet has no automatic top-up rule (to read or to clear)."""

    reason = "TOP_UP_RULE_NOT_FOUND"


class HoldNotFound(NotFound):
    reason = "HOLD_NOT_FOUND"


class HoldNotActive(FailedPrecondition):
    """The hold was captured, released or timed out already."""

    reason = "HOLD_NOT_ACTIVE"


class CaptureExceedsHold(FailedPrecondition):
    reason = "CAPTURE_EXCEEDS_HOLD"


class GrantHeld(FailedPrecondition):
    """Active holds reserve credits from the grant."""

    reason = "GRANT_HELD"


class TopUpNotFound(NotFound):
    reason = "TOP_UP_NOT_FOUND"


class TopUpNotPending(FailedPrecondition):
    reason = "TOP_UP_NOT_PENDING"


class WebhookEndpointNotFound(NotFound):
    """Unknown, or deleted (for anything but reading its delivery log)."""

    reason = "WEBHOOK_ENDPOINT_NOT_FOUND"


class TooManyWebhookEndpoints(FailedPrecondition):
    reason = "TOO_MANY_WEBHOOK_ENDPOINTS"


class InsecureWebhookUrl(InvalidArgument):
    """An http webhook URL the egress policy does not allow (domain/egress.py)."""

    reason = "INSECURE_WEBHOOK_URL"


class WebhookAddressRefused(InvalidArgument):
    """A webhook URL whose host is or resolves to an address webhooks may not reach: loopback,
    private, link-local, multicast, carrier-grade NAT, unspecified or cloud metadata."""

    reason = "WEBHOOK_ADDRESS_REFUSED"


class ScheduleNotFound(NotFound):
    reason = "SCHEDULE_NOT_FOUND"


class MemberNotFound(NotFound):
    """A debit, hold or Authorize names a member the pooled wallet does not have (members are
    never made implicitly: SetPoolMember first)."""

    reason = "MEMBER_NOT_FOUND"


class TooManyPoolMembers(FailedPrecondition):
    reason = "TOO_MANY_POOL_MEMBERS"


class MemberBudgetExceeded(FailedPrecondition):
    """A DENY member's budget for the period does not cover the amount; nothing is written."""

    reason = "MEMBER_BUDGET_EXCEEDED"

    def __init__(self, message: str, *, remaining: Decimal = Decimal(0)) -> None:
        super().__init__(message)
        self.remaining = remaining
