"""The status machines of rating's stored records, and what a ledger answer moves them to.

Events (`events.status`): ACCEPTED (asynchronous ingest), or HELD while a synchronous caller may
still undo the event, then ACCEPTED, or DENIED (undone: it counts in no aggregate, its id stays
taken). Charges: PENDING -> ACKNOWLEDGED | DENIED | FAILED, all three final; a zero charge is
ACKNOWLEDGED at once (nothing for the ledger to do). Undo refunds: PENDING -> DONE | FAILED.
Invoices: DRAFT -> FINAL (a snapshot that never changes again).

What a refusal of the ledger means is a `LedgerRefusal` (the ledger client translates the
ledger's gRPC codes into it); `after_refusal` is the one rule for what happens to the charge (or
refund) then. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class EventState(StrEnum):
    """The stored status of an event (the API's `EventStatus` is the answer to one request)."""

    HELD = "HELD"
    ACCEPTED = "ACCEPTED"
    DENIED = "DENIED"


class ChargeStatus(StrEnum):
    PENDING = "PENDING"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    DENIED = "DENIED"
    FAILED = "FAILED"


class UndoStatus(StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"
    FAILED = "FAILED"


class InvoiceStatus(StrEnum):
    DRAFT = "DRAFT"
    FINAL = "FINAL"


class GrantKind(StrEnum):
    PREPAID = "PREPAID"
    PROMOTIONAL = "PROMOTIONAL"


class LedgerRefusal(StrEnum):
    """What a refusal of the ledger means for the request (README "Retry rules")."""

    # A DENY wallet cannot cover the debit: final, the charge is DENIED.
    DENIED = "DENIED"
    # About the request itself (invalid, unknown, conflicting): the same answer on every retry.
    PERMANENT = "PERMANENT"
    # The ledger failed on it: a passing fault or a bug that repeats. Retried a bounded number
    # of times, then FAILED.
    LEDGER_FAILED = "LEDGER_FAILED"
    # Unreachable, overloaded, restarting, or something an operator fixes for every charge at
    # once (our credential, an older ledger): retried until it passes.
    RETRY_LATER = "RETRY_LATER"


def initial_event_state(sync: bool) -> EventState:
    """HELD keeps duplicates from being told DUPLICATE while a synchronous caller may still undo
    the event."""
    return EventState.HELD if sync else EventState.ACCEPTED


def initial_charge_status(amount: Decimal) -> ChargeStatus:
    """A zero charge has nothing for the ledger to do."""
    return ChargeStatus.PENDING if amount != 0 else ChargeStatus.ACKNOWLEDGED


class Verdict(StrEnum):
    DENY = "DENY"
    FAIL = "FAIL"
    RETRY = "RETRY"


@dataclass(frozen=True, slots=True)
class Next:
    """What a refusal does to a PENDING charge (or undo refund): DENY and FAIL are final, RETRY
    keeps it PENDING for a later attempt. `internal`: the answer counts as one of the ledger's
    failures (`internal_errors`)."""

    verdict: Verdict
    internal: bool = False


def after_refusal(
    refusal: LedgerRefusal, internal_errors: int, internal_answers_max: int, *, deniable: bool
) -> Next:
    """The one retry rule. `internal_errors`: how many LEDGER_FAILED answers the record had
    before this one. A refund cannot be DENIED (`deniable` False): a DENIED answer to it is
    permanent."""
    if refusal == LedgerRefusal.DENIED and deniable:
        return Next(Verdict.DENY)
    if refusal == LedgerRefusal.LEDGER_FAILED:
        if internal_errors + 1 >= internal_answers_max:
            return Next(Verdict.FAIL, internal=True)
        return Next(Verdict.RETRY, internal=True)
    if refusal == LedgerRefusal.RETRY_LATER:
        return Next(Verdict.RETRY)
    return Next(Verdict.FAIL)
