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
from datetime import datetime, timedelta
from decimal import Decimal

from billing_common.money import exact
from billing_common.periods import Period, period_at, period_index, period_start
from rating_service.domain.charges import LEDGER_REQUEST_ID_MAX
from rating_service.domain.model import Assignment, FixedChargeCollection, Plan, billing_period

ZERO = Decimal(0)
MICROSECOND = timedelta(microseconds=1)
# A prorated fixed charge keeps the fixed charge's decimals, and at least this many.
PRORATED_DECIMALS_MIN = 2
# Periods booked per assignment per call: a daily plan after a long downtime catches up over
# several rounds rather than in one unbounded transaction.
PERIODS_PER_CALL_MAX = 100


def debits_fixed_charge(plan: Plan) -> bool:
    """Whether the plan's fixed charge is debited from the wallet (not only invoiced)."""
    return plan.fixed_charge_collection == FixedChargeCollection.DEBIT and plan.fixed_charge > 0


@exact
def fixed_charge_of(plan: Plan, assignment: Assignment, period: Period) -> Decimal:
    """The fixed charge of one billing period of the assignment (what its invoice shows and a
    DEBIT plan debits). The plan's whole fixed charge, except under `prorate_fixed_charge` for a
    period cut short by the assignment's start (the first period of a plan with an anchor): the
    fixed charge times the part of the whole period's time from the start on (microseconds,
    exactly), rounded half-even to the fixed charge's decimals, at least 2. A period cut short
    by the assignment's end pays the whole charge: fixed charges are paid in advance and not
    refunded."""
    fixed = plan.fixed_charge
    if not plan.prorate_fixed_charge or fixed == 0:
        return fixed
    whole = period_at(plan.billing_anchor or assignment.start_time, plan.cadence, period.start)
    if period.start <= whole.start:
        return fixed
    exponent = fixed.normalize().as_tuple().exponent
    places = max(PRORATED_DECIMALS_MIN, -exponent if isinstance(exponent, int) else 0)
    # In integers (units of 10**-places, microseconds): exact, then rounded half-even.
    length = (whole.end - whole.start) // MICROSECOND
    covered = (whole.end - period.start) // MICROSECOND
    units, rest = divmod(int(fixed.scaleb(places)) * covered, length)
    if 2 * rest > length or (2 * rest == length and units % 2 == 1):
        units += 1
    return Decimal(units).scaleb(-places)


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
    plan has an anchor); its fixed charge is `fixed_charge_of` it."""
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
