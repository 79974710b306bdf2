"""Recurring allotments: a schedule grants `amount` credits every period, as pure functions.

- Periods come from `billing_common.periods` (an anchor and a cadence; monthly periods keep the
  anchor's day, clamped to short months). Period k's grant takes effect at the period's start.
- Exactly one grant per period: the schedule remembers the next period index, updated in the same
  transaction as the grant, under the wallet's lock. After downtime, every missed period is
  granted (catch-up, at most CATCH_UP_PERIODS_MAX per pass), backdated to its period.
- Expiry: END_OF_PERIOD (use it or lose it), AFTER_DURATION (rollover with expiry, e.g. 12 months)
  or NEVER (full rollover). A schedule's `end_time` (the end of the subscription) caps every
  expiry: everything resets when the subscription ends, and no period starts after it. Once it
  has passed, what its grants and the blocks bought under it (top-ups of a rule naming the
  schedule) still hold is voided.
- Rollover cap: when a period starts, what is left of the schedule's earlier grants beyond the
  cap is written off (EXPIRY entries), the grants that would burn first going first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from billing_common.money import exact, format_amount
from ledger_service.domain import ledger
from ledger_service.domain.burndown import burn_order
from ledger_service.domain.model import (
    ZERO,
    Allocation,
    AllotmentSchedule,
    Entry,
    EntryType,
    Grant,
    WalletEvent,
    WalletState,
)

NewId = Callable[[], str]


@exact
def _cap_rollover(
    state: WalletState, schedule: AllotmentSchedule, at: datetime, now: datetime
) -> ledger.Outcome:
    """Write off what the schedule's earlier grants still hold beyond the rollover cap.

    Credits an active hold reserves are never written off (a hold is a guarantee): they count
    towards what is carried, and the cut comes from the free rest, so what a hold reserves is
    spent by its capture or, once released, stays with the grant."""
    if schedule.rollover_cap is None:
        return ledger.Outcome(state, [])
    carried = [g for g in state.grants.values() if schedule.owns(g) and g.available_at(at)]
    excess = sum((g.remaining for g in carried), ZERO) - schedule.rollover_cap
    taken = ledger.reserved(state, now)
    entries: list[Entry] = []
    word = ledger.unit_word(state.wallet.unit)
    for g in burn_order(carried):
        if excess <= 0:
            break
        cut = min(excess, g.remaining - taken.get(g.id, ZERO))
        if cut <= 0:
            continue
        excess -= cut
        changed = replace(g, remaining=g.remaining - cut, expired_amount=g.expired_amount + cut)
        state = replace(state, grants={**state.grants, g.id: changed})
        entries.append(
            Entry(
                type=EntryType.EXPIRY,
                amount=-cut,
                occurred_time=at,
                allocations=(Allocation(g.id, -cut),),
                available_after=ledger.available(state, now),
                overage_after=state.overage,
                description=f"-{format_amount(cut)} {word} over the rollover cap of"
                f" {format_amount(schedule.rollover_cap)} expired",
                related_id=g.id,
            )
        )
    return ledger.Outcome(state, entries, ledger.events_for(entries))


def grant_due(
    state: WalletState, schedule: AllotmentSchedule, now: datetime, new_id: NewId
) -> tuple[ledger.Outcome, AllotmentSchedule]:
    """Book every period grant of the schedule that is due at `now`."""
    entries: list[Entry] = []
    events: list[WalletEvent] = []
    for index in schedule.due(now):
        start = schedule.start(index)
        capped = _cap_rollover(state, schedule, start, now)
        new_grant = Grant(
            id=new_id(),
            wallet_id=state.wallet.id,
            kind=schedule.kind,
            amount=schedule.amount,
            remaining=schedule.amount,
            priority=schedule.priority,
            effective_time=start,
            expire_time=schedule.expire_time(index),
            create_time=now,
            cost_unit_price=schedule.unit_price,
            cost_currency=schedule.currency,
            external_reference=schedule.reference(index),
        )
        word = ledger.unit_word(state.wallet.unit)
        granted = ledger.grant(
            capped.state,
            new_grant,
            now=now,
            description=schedule.description
            or f"+{format_amount(schedule.amount)} {word}: {schedule.cadence.value.lower()}"
            f" allotment for the period from {start:%Y-%m-%d}",
        )
        state = granted.state
        entries += capped.entries + granted.entries
        events += capped.events + granted.events
        schedule = replace(schedule, next_index=index + 1)
    return ledger.Outcome(state, entries, events), schedule


def catch_up(state: WalletState, now: datetime, new_id: NewId) -> ledger.Outcome:
    """Book every allotment grant due at `now`, for all the wallet's schedules. Runs before every
    write (so usage right after a period boundary finds the new period's credits) and in the
    sweeper (for wallets nobody writes to)."""
    outcome = ledger.Outcome(state, [])
    schedules = []
    for schedule in state.automation.schedules:
        granted, schedule = grant_due(outcome.state, schedule, now, new_id)
        outcome = outcome.then(granted)
        if schedule.end_time is not None and schedule.end_time <= now and not schedule.closed:
            voided, held = _void_remaining(outcome.state, schedule, now)
            outcome = outcome.then(voided)
            schedule = replace(schedule, closed=not held)
        schedules.append(schedule)
    if tuple(schedules) == state.automation.schedules:
        return outcome
    automation = replace(outcome.state.automation, schedules=tuple(schedules))
    return ledger.Outcome(
        replace(outcome.state, automation=automation), outcome.entries, outcome.events
    )


def _void_remaining(
    state: WalletState, schedule: AllotmentSchedule, now: datetime
) -> tuple[ledger.Outcome, bool]:
    """Void what the schedule's grants and the blocks bought under it still hold: the
    subscription has ended. A grant backing an active hold cannot be voided: it is left for a
    later pass (the second value says whether any was left), so ending never fails a write."""
    outcome = ledger.Outcome(state, [])
    reserved = ledger.reserved(state, now)
    held = False
    for g in sorted(state.grants.values(), key=lambda g: (g.effective_time, g.id)):
        if not (schedule.owns(g) or schedule.owns_block(g)):
            continue
        if g.remaining > 0 and g.void_time is None and reserved.get(g.id, ZERO) > 0:
            held = True
        elif g.remaining > 0 and g.void_time is None:
            outcome = outcome.then(
                ledger.void(
                    outcome.state,
                    g.id,
                    now=now,
                    reason=f"-{format_amount(g.remaining)}"
                    f" {ledger.unit_word(state.wallet.unit)}: subscription ended",
                )
            )
    return outcome, held


def end_schedule(
    state: WalletState, schedule_id: str, end: datetime, now: datetime, new_id: NewId
) -> ledger.Outcome:
    """End a schedule at `end` (not before now): no period starts from then on; once `end` has
    passed, what its grants still hold is voided (at once when `end` is now, else by the sweeper
    or the next write). Grants themselves are never rewritten."""
    auto = state.automation
    schedules = tuple(
        replace(s, end_time=end if s.end_time is None else min(s.end_time, end))
        if s.id == schedule_id
        else s
        for s in auto.schedules
    )
    ended = replace(state, automation=replace(auto, schedules=schedules))
    return catch_up(ended, now, new_id)
