"""Expiry: holds past their timeout released, then grant remainders past their expiry and grace
written off, then overage settled. A pure function of (state, now)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from billing_common.money import exact
from ledger_service.domain.holds import release_hold
from ledger_service.domain.ledger import (
    Outcome,
    events_for,
    new_entry,
    then_settle,
    unit_word,
    with_grants,
)
from ledger_service.domain.model import ZERO, Allocation, Entry, EntryType, HoldState, WalletState


@exact
def expire_due(state: WalletState, now: datetime) -> Outcome:
    """Release holds past their timeout (RELEASE entries), then write off remainders of grants
    past expire_time plus the grace period (EXPIRY entries), then settle overage."""
    released: list[Entry] = []
    for hold in sorted(state.holds.values(), key=lambda h: (h.expire_time, h.id)):
        if hold.state is HoldState.ACTIVE and hold.expire_time <= now:
            outcome = release_hold(state, hold.id, now=now, timed_out=True)
            state, released = outcome.state, released + outcome.entries
    grace = state.wallet.late_event_grace
    due = sorted(
        (
            g
            for g in state.grants.values()
            if g.void_time is None
            and g.remaining > 0
            and g.expire_time is not None
            and now >= g.expire_time + grace
        ),
        key=lambda g: (g.expire_time, g.id),
    )
    entries: list[Entry] = []
    for g in due:
        state = with_grants(
            state,
            [replace(g, remaining=ZERO, expired_amount=g.expired_amount + g.remaining)],
            state.overage,
        )
        entries.append(
            new_entry(
                state,
                now,
                type=EntryType.EXPIRY,
                amount=-g.remaining,
                occurred_time=g.expire_time or now,
                allocations=(Allocation(g.id, -g.remaining),),
                description=f"-{g.remaining} {unit_word(state.wallet.unit)} expired "
                f"(grant expired {g.expire_time:%Y-%m-%d})",
                related_id=g.id,
            )
        )
    return then_settle(Outcome(state, released + entries, events_for(entries)), now)
