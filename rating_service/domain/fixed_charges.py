"""A plan's fixed charge per period, debited from the wallet, and its minimum commitment. Pure.

Under `FixedChargeCollection.DEBIT` the fixed charge of every billing period of an assignment is
debited from its wallet once the period has started. `periods_started` says which periods have
started by `now` after the last one already booked (`since`), so a job that was down books every
missed period, each once; the ledger request id of a period's debit is derived from the
assignment and the period start (`fixed_request_id`), so a retry, a crash or a second job names
the same ledger request and the ledger books it once. A period that starts at or after the
assignment's end is never charged. The minimum commitment is `domain/commitments.py`'s.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal

from billing_common.periods import Period, period_index, period_start
from rating_service.domain.charges import LEDGER_REQUEST_ID_MAX
from rating_service.domain.model import Assignment, FixedChargeCollection, Plan, billing_period

ZERO = Decimal(0)
# Periods booked per assignment per call: a daily plan after a long downtime catches up over
# several rounds rather than in one unbounded transaction.
PERIODS_PER_CALL_MAX = 100


def debits_fixed_charge(plan: Plan) -> bool:
    """Whether the plan's fixed charge is debited from the wallet (not only invoiced)."""
    return plan.fixed_charge_collection == FixedChargeCollection.DEBIT and plan.fixed_charge > 0


def periods_started(
    plan: Plan,
    assignment: Assignment,
    now: datetime,
    since: datetime | None = None,
    limit: int = PERIODS_PER_CALL_MAX,
) -> list[Period]:
    """The billing periods of the assignment that have started by `now` (start <= now) and
    start after `since` (the start of the last period already booked; None: none booked yet),
    oldest first, at most `limit`. A period starting at or after the assignment's end is not one
    of its periods. The first period starts at the assignment's start (a partial period when the
    plan has an anchor); its fixed charge is the whole fixed charge (no proration)."""
    assert limit > 0
    end = assignment.end_time
    anchor = plan.billing_anchor or assignment.start_time
    # From the period of the last one booked: the work is bounded by the periods due, not by the
    # assignment's age.
    first = period_index(anchor, plan.cadence, since or assignment.start_time)
    last = period_index(anchor, plan.cadence, now)
    out: list[Period] = []
    for index in range(first, last + 1):
        start = max(period_start(anchor, plan.cadence, index), assignment.start_time)
        if start > now or (end is not None and start >= end):
            break
        if since is not None and start <= since:
            continue
        out.append(billing_period(plan, assignment, start))
        if len(out) == limit:
            break
    return out


def fixed_request_id(assignment_id: str, period: Period) -> str:
    """The ledger request id of the fixed-charge debit of one period of an assignment:
    `rating:fixed:<len(assignment_id)>:<assignment_id>:<period start, ISO 8601 UTC>` (a SHA-256
    of it beyond the ledger's 128 characters). Other rating request ids start `rating:debit`,
    `rating:refund` or `rating:undo`, so none can collide with it."""
    readable = ":".join(
        ("rating", "fixed", str(len(assignment_id)), assignment_id, period.start.isoformat())
    )
    if len(readable) <= LEDGER_REQUEST_ID_MAX:
        return readable
    return "rating:sha256:" + hashlib.sha256(readable.encode()).hexdigest()


def fixed_description(plan_name: str, period: Period) -> str:
    """The ledger history line of a fixed-charge debit."""
    return f"Fixed charge of {plan_name[:100]} for {period.start.date()} to {period.end.date()}"
