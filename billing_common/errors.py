"""The root of every error a caller can cause, with structured subclasses.

Each service maps these to gRPC codes and `google.rpc.ErrorInfo` reasons in one table in its gRPC
adapter (`adapters/grpc/errors.py`). The classes here carry a default reason; input errors carry
field violations. Anything that is not a `BillingError` is a bug and surfaces as INTERNAL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Violation:
    field: str
    description: str


class BillingError(Exception):
    """Root class. `reason` is stable and machine-readable; the message is for humans."""

    reason: str = "BILLING_ERROR"

    def __init__(
        self, message: str, *, reason: str | None = None, violations: Sequence[Violation] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.violations = tuple(violations)


class InvalidArgument(BillingError):
    """Bad input. Nothing was written."""

    reason = "INVALID_ARGUMENT"

    @classmethod
    def field(
        cls, field: str, description: str, reason: str = "INVALID_ARGUMENT"
    ) -> InvalidArgument:
        return cls(
            f"{field}: {description}", reason=reason, violations=[Violation(field, description)]
        )


class NotFound(BillingError):
    reason = "NOT_FOUND"


class AlreadyExists(BillingError):
    reason = "ALREADY_EXISTS"


class RequestIdConflict(AlreadyExists):
    """The request_id was used before with a different request."""

    reason = "REQUEST_ID_CONFLICT"


class FailedPrecondition(BillingError):
    reason = "FAILED_PRECONDITION"


class Unavailable(BillingError):
    """Transient: retry with the same request_id."""

    reason = "UNAVAILABLE"


class ResourceExhausted(BillingError):
    """A bound was reached (concurrent calls, a queue): retry later, with the same request_id."""

    reason = "RESOURCE_EXHAUSTED"


class Unauthenticated(BillingError):
    """No credential, or one that is not (or no longer) valid: the call did nothing."""

    reason = "UNAUTHENTICATED"


class PermissionDenied(BillingError):
    """A valid credential without the scope the call needs: the call did nothing."""

    reason = "PERMISSION_DENIED"


class CredentialMissing(Unauthenticated):
    reason = "CREDENTIAL_MISSING"


class ApiKeyUnknown(Unauthenticated):
    """Not a key of this service (malformed, never created, or made on the other service)."""

    reason = "API_KEY_UNKNOWN"


class ApiKeyRevoked(Unauthenticated):
    reason = "API_KEY_REVOKED"


class ApiKeyExpired(Unauthenticated):
    reason = "API_KEY_EXPIRED"


class CertificateNotAllowed(Unauthenticated):
    """A verified client certificate whose common name no setting maps to scopes."""

    reason = "CERTIFICATE_NOT_ALLOWED"


class ScopeMissing(PermissionDenied):
    reason = "SCOPE_MISSING"


class Internal(BillingError):
    """A bug on our side. Never raised for anything a caller can cause."""

    reason = "INTERNAL"


def require(value: str, field: str) -> str:
    """A required string field, or InvalidArgument(MISSING_FIELD)."""
    if not value:
        raise InvalidArgument.field(field, "is required", "MISSING_FIELD")
    return value


class MalformedRequest(InvalidArgument):
    """An HTTP request body that is not the method's request message (Connect JSON or binary)."""

    reason = "MALFORMED_REQUEST"


class MessageTooLarge(ResourceExhausted):
    """An HTTP request body over message_bytes_max (gRPC's transport refuses one itself)."""

    reason = "MESSAGE_TOO_LARGE"
