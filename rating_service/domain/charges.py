"""A charge as rating writes it, and the ledger request it becomes.

The ledger request id is derived from the event, so every retry (after a crash, a timeout or a
lost answer) names the same ledger request and nothing is booked twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing_common.errors import InvalidArgument
from billing_common.money import exact, format_amount, parse_amount
from rating_service.domain.status import ChargeStatus

LEDGER_REQUEST_ID_MAX = 128
# What a ledger request id asks for: a charge's debit, a refund part of a negative charge, or the
# refund of a debit booked by a synchronous call whose event was then denied on another meter.
LEDGER_KINDS = frozenset({"debit", "refund", "undo"})
# The ledger history line keeps this much of a meter's description.
DESCRIPTION_CHARS_MAX = 100


def ledger_request_id(kind: str, event_id: str, meter_key: str, *rest: str) -> str:
    """The ledger request id of an event's charge on a meter (and of its refunds).

    `rating:<kind>:<len(event_id)>:<event_id>:<meter_key>[:<rest>]`: the kind comes first and the
    event id is length-prefixed (meter keys have no ':'), so two different charges can never
    spell the same text. When longer than the ledger's 128 characters: a SHA-256 of that text."""
    assert kind in LEDGER_KINDS, kind
    readable = ":".join(("rating", kind, str(len(event_id)), event_id, meter_key, *rest))
    if len(readable) <= LEDGER_REQUEST_ID_MAX:
        return readable
    return "rating:sha256:" + hashlib.sha256(readable.encode()).hexdigest()


@exact
def charge_out_of_range(amount: Decimal) -> bool:
    """Whether the ledger could never accept this charge: money has at most 18 fractional and 38
    significant digits (SPEC "Money"). Prices are exact, so a product of a quantity and a price
    can have more; such an event is rejected (CHARGE_OUT_OF_RANGE) rather than rounded."""
    try:
        # format_amount drops trailing fractional zeros: 0.10 * 0.10 = 0.0100 is 0.01, in range.
        parse_amount(format_amount(abs(amount)), "amount", allow_zero=True)
    except InvalidArgument:
        return True
    return False


def describe(meter_description: str, event_id: str) -> str:
    """The ledger history line of a charge: what was used, and the event behind it. The meter's
    description is cut to 100 characters so the line stays short (at most 237 characters)."""
    return f"{meter_description[:DESCRIPTION_CHARS_MAX]} (event {event_id})"


@dataclass(slots=True)
class NewCharge:
    """A charge written by ingest, one per event and meter. `id` is the database's, set once
    the charge is stored (0 before)."""

    event_id: str
    meter_id: str
    price_id: str
    price_version: int
    assignment_id: str
    customer_id: str
    wallet_id: str
    period_start: datetime
    period_end: datetime
    occurred_time: datetime
    amount: Decimal
    quantity_before: Decimal
    quantity_after: Decimal
    status: ChargeStatus
    ledger_request_id: str
    # Not sent before this time: a synchronous caller holds its charges for `sync_hold`.
    forward_after: datetime
    create_time: datetime
    # The pool member the event was for (its debit names it); empty for none.
    member_id: str = ""
    id: int = 0


# The columns of a NewCharge the charges table stores (all but the database's id).
NEW_CHARGE_COLUMNS = tuple(f for f in NewCharge.__dataclass_fields__ if f != "id")
