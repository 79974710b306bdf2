"""Holds: reserving credits for a later capture, capturing at most what was reserved (the rest
released), releasing, and which holds a wallet's grants no longer cover. Pure functions of (state,
request, now), built on the burn-down of ledger.py."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from billing_common.money import exact, format_amount
from ledger_service.domain.burndown import allocate
from ledger_service.domain.errors import (
    CaptureExceedsHold,
    HoldNotActive,
    InsufficientCredits,
)
from ledger_service.domain.ledger import (
    Outcome,
    apply_allocations,
    eligible_for_usage,
    new_entry,
    reserved,
    then_settle,
    unit_word,
    with_grants,
)
from ledger_service.domain.model import (
    ZERO,
    Allocation,
    EntryType,
    Grant,
    Hold,
    HoldState,
    OveragePolicy,
    WalletState,
)


@exact
def _merged(allocations: Iterable[Allocation]) -> list[Allocation]:
    """One allocation per grant, in order of first appearance."""
    total: dict[str | None, Decimal] = {}
    for alloc in allocations:
        total[alloc.grant_id] = total.get(alloc.grant_id, ZERO) + alloc.amount
    return [Allocation(k, v) for k, v in total.items()]


def _with_hold(state: WalletState, hold: Hold) -> WalletState:
    return replace(state, holds={**state.holds, hold.id: hold})


def _lasting(state: WalletState, now: datetime, expire_time: datetime, feature: str) -> list[Grant]:
    """The free credits a hold for `feature` timing out at `expire_time` may reserve: usable by
    the feature now and not written off (expire_time plus grace) before the hold times out."""
    grace = state.wallet.late_event_grace
    return [
        g
        for g in eligible_for_usage(state, now, now, feature)
        if g.expire_time is None or expire_time <= g.expire_time + grace
    ]


@exact
def holdable(
    state: WalletState, now: datetime, expire_time: datetime, feature: str = ""
) -> Decimal:
    """The most a hold for `feature` created at `now`, timing out at `expire_time`, can
    reserve."""
    return sum((g.remaining for g in _lasting(state, now, expire_time, feature)), ZERO)


def create_hold(
    state: WalletState,
    *,
    hold_id: str,
    amount: Decimal,
    expire_time: datetime,
    now: datetime,
    feature: str = "",
    description: str = "",
) -> Outcome:
    """Reserve credits in burn-down order. A hold is a guarantee, so it must be covered by free
    credits whatever the overage policy, and only by credits a capture can still burn until the
    hold times out: a grant written off (expire_time plus grace) before then is passed over."""
    # 0 only from Authorize on an ALLOW_OVERAGE wallet with nothing to reserve (domain/authorize).
    assert amount >= 0 and expire_time > now
    allocations, uncovered = allocate(_lasting(state, now, expire_time, feature), amount)
    word = unit_word(state.wallet.unit)
    if uncovered > 0:
        raise InsufficientCredits(
            f"a hold of {format_amount(amount)} needs {format_amount(uncovered)} more {word}"
            " than the wallet has available"
        )
    hold = Hold(
        id=hold_id,
        wallet_id=state.wallet.id,
        amount=amount,
        create_time=now,
        expire_time=expire_time,
        allocations=tuple(allocations),
        feature=feature,
        description=description,
    )
    new_state = _with_hold(state, hold)
    entry = new_entry(
        new_state,
        now,
        type=EntryType.HOLD,
        amount=ZERO,
        occurred_time=now,
        allocations=(),
        description=description
        or f"Held {format_amount(amount)} {word} for {feature or 'work in flight'}"
        f" until {expire_time:%Y-%m-%d %H:%M} UTC",
        feature=feature,
        related_id=hold_id,
    )
    return Outcome(new_state, [entry])


def uncovered_holds(state: WalletState, at: datetime) -> list[tuple[str, Decimal, Decimal]]:
    """What the holds active at `at` reserve that their grants cannot honour, as (subject,
    reserved, covered): per grant, more reserved than it has left (or anything on a voided
    grant); per hold, credits of a grant that is written off before the hold times out. Empty
    when every active hold can be captured in full. `state` must hold every grant the active
    holds reserve."""
    found: list[tuple[str, Decimal, Decimal]] = []
    grace = state.wallet.late_event_grace
    for grant_id, taken in sorted(reserved(state, at).items()):
        g = state.grants[grant_id]
        covered = ZERO if g.void_time is not None else g.remaining
        if taken > covered:
            found.append((f"grant {grant_id} reserved by active holds", taken, covered))
    for hold in sorted(state.holds.values(), key=lambda h: h.id):
        if not hold.active_at(at):
            continue
        for alloc in hold.allocations:
            g = state.grants[alloc.grant_id or ""]
            write_off = g.write_off_time(grace)
            if write_off is not None and write_off < hold.expire_time:
                found.append(
                    (
                        f"hold {hold.id} on grant {g.id} written off before the hold times out",
                        -alloc.amount,
                        ZERO,
                    )
                )
    return found


def _active_hold(state: WalletState, hold_id: str, now: datetime) -> Hold:
    hold = state.holds[hold_id]
    if hold.state is not HoldState.ACTIVE or not hold.active_at(now):
        status = "timed out" if hold.state is HoldState.ACTIVE else hold.state.value.lower()
        raise HoldNotActive(f"hold {hold_id} is {status}")
    return hold


@exact
def capture_hold(
    state: WalletState, hold_id: str, *, amount: Decimal, now: datetime, description: str = ""
) -> Outcome:
    """Turn a hold into usage that occurred when the hold was created: the reserved grants are
    burned first (in the hold's order), then any further credits in burn-down order, then, only
    under ALLOW_OVERAGE, overage."""
    hold = _active_hold(state, hold_id, now)
    if amount > hold.amount and state.wallet.overage_policy is OveragePolicy.DENY:
        raise CaptureExceedsHold(
            f"capture of {format_amount(amount)} exceeds the {format_amount(hold.amount)} held"
            " and the wallet does not allow overage"
        )
    ended = replace(hold, state=HoldState.CAPTURED, end_time=now, captured_amount=amount)
    freed = _with_hold(state, ended)
    allocations: list[Allocation] = []
    left = amount
    grace = state.wallet.late_event_grace
    for alloc in hold.allocations:
        g = freed.grants[alloc.grant_id or ""]
        usable = g.available_at(hold.create_time) and (
            g.expire_time is None or now < g.expire_time + grace
        )
        take = min(left, -alloc.amount, g.remaining) if usable else ZERO
        if take > 0:
            allocations.append(Allocation(g.id, -take))
            left -= take
    if left > 0:
        taken = apply_allocations(freed, allocations)
        rest = eligible_for_usage(
            with_grants(freed, taken.values(), freed.overage), hold.create_time, now, hold.feature
        )
        more, left = allocate(rest, left)
        allocations = _merged([*allocations, *more])
    if left > 0:
        if state.wallet.overage_policy is OveragePolicy.DENY:
            raise InsufficientCredits(
                f"capture of {format_amount(amount)} needs {format_amount(left)} more"
                f" {unit_word(state.wallet.unit)} than the wallet has available"
            )
        allocations.append(Allocation(None, -left))
    changed = apply_allocations(freed, allocations)
    new_state = with_grants(freed, changed.values(), freed.overage + left)
    entry = new_entry(
        new_state,
        now,
        type=EntryType.CAPTURE,
        amount=-amount,
        occurred_time=hold.create_time,
        allocations=tuple(allocations),
        description=description
        or f"-{format_amount(amount)} {unit_word(state.wallet.unit)} for"
        f" {hold.feature or 'usage'} on {hold.create_time:%b} {hold.create_time.day}",
        feature=hold.feature,
        related_id=hold.id,
    )
    return then_settle(Outcome(new_state, [entry]), now)


def release_hold(
    state: WalletState, hold_id: str, *, now: datetime, reason: str = "", timed_out: bool = False
) -> Outcome:
    """Free a hold's credits. A timed-out hold is released by the sweeper as EXPIRED."""
    hold = state.holds[hold_id]
    if timed_out:
        end = HoldState.EXPIRED
        # Its credits were free from expire_time on; the release only records it.
        ended = replace(hold, state=end, end_time=hold.expire_time)
    else:
        _active_hold(state, hold_id, now)
        end = HoldState.RELEASED
        ended = replace(hold, state=end, end_time=now)
    new_state = _with_hold(state, ended)
    word = unit_word(state.wallet.unit)
    entry = new_entry(
        new_state,
        now,
        type=EntryType.RELEASE,
        amount=ZERO,
        occurred_time=ended.end_time or now,
        allocations=(),
        description=reason
        or (
            f"Hold of {format_amount(hold.amount)} {word} timed out"
            if timed_out
            else f"Released hold of {format_amount(hold.amount)} {word}"
        ),
        feature=hold.feature,
        related_id=hold.id,
    )
    return then_settle(Outcome(new_state, [entry]), now)
