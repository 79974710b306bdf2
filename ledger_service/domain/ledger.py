"""The ledger's write rules as pure functions: (state, request, now) -> (new state, entries).

It holds the burn-down helpers and every operation that books on grants (debit, grant, void,
refund, overage settlement), which share them; holds and expiry have modules of their own.

No I/O and no clock: the caller loads a `WalletState`, applies one or more operations in memory and
persists the entries and changed grants in one transaction. Every operation ends by settling
outstanding overage from credits available now, so after any write either the overage is zero or
no grant is available (the balance read projects the same settlement for grants that became
available later by the passage of time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from billing_common.money import exact, format_amount
from ledger_service.domain.burndown import allocate, burn_key
from ledger_service.domain.errors import (
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
    InsufficientCredits,
    RefundExceedsDebit,
)
from ledger_service.domain.model import (
    ZERO,
    Allocation,
    Entry,
    EntryType,
    EventType,
    Grant,
    OveragePolicy,
    WalletEvent,
    WalletState,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    state: WalletState
    entries: list[Entry]
    events: list[WalletEvent] = field(default_factory=list)

    def then(self, later: Outcome) -> Outcome:
        """This outcome followed by one computed from its state."""
        return Outcome(later.state, self.entries + later.entries, self.events + later.events)


@dataclass(frozen=True, slots=True)
class DebitRecord:
    """What is still refundable of a debit: its allocations net of earlier refunds (negative)."""

    entry_id: str
    allocations: tuple[Allocation, ...]

    @property
    @exact
    def refundable(self) -> Decimal:
        return -sum((a.amount for a in self.allocations), ZERO)


@exact
def refundable(
    debit_allocations: Iterable[Allocation], refunds: Iterable[Iterable[Allocation]]
) -> tuple[Allocation, ...]:
    """A debit's allocations net of the refunds booked against it, in the debit's order.

    A refund allocation to a grant the debit never touched is a return of settled overage, so it
    counts against the debit's overage part.
    """
    net: dict[str | None, Decimal] = {}
    for alloc in debit_allocations:
        net[alloc.grant_id] = net.get(alloc.grant_id, ZERO) + alloc.amount
    for refund_allocations in refunds:
        for alloc in refund_allocations:
            key = alloc.grant_id if alloc.grant_id in net else None
            net[key] = net.get(key, ZERO) + alloc.amount
    return tuple(Allocation(k, v) for k, v in net.items() if v != 0)


def unit_word(unit: str) -> str:
    return "credits" if unit == "CREDITS" else unit


def write_time(clock_now: datetime, booked: Iterable[datetime | None]) -> datetime:
    """The book time of a write on a wallet: the clock (read once its locks are held), but never
    before the last write booked on the wallet, so book_time never decreases along a wallet's
    journal (which balances at a past instant rely on), whatever the clocks of the processes
    involved say.

    Only the journal's order uses it. The rules (effective and expiry windows, hold timeouts,
    default effective times) run at the clock's time: one process whose clock ran ahead must
    not move every later write on the wallet into its future. Holds do not need it either:
    a committed hold reserves for every later write whatever its create_time
    (`Hold.active_at`)."""
    return max([clock_now, *(t for t in booked if t is not None)])


@exact
def reserved(state: WalletState, at: datetime) -> dict[str, Decimal]:
    """Credits reserved per grant by the holds active at `at`."""
    per_grant: dict[str, Decimal] = {}
    for hold in state.holds.values():
        if hold.active_at(at):
            for alloc in hold.allocations:
                assert alloc.grant_id is not None
                per_grant[alloc.grant_id] = per_grant.get(alloc.grant_id, ZERO) - alloc.amount
    return per_grant


@exact
def _free(state: WalletState, grants: Iterable[Grant], at: datetime) -> list[Grant]:
    """The grants as far as holds active at `at` leave them free (remaining minus reservations)."""
    taken = reserved(state, at)
    free = [replace(g, remaining=g.remaining - taken.get(g.id, ZERO)) for g in grants]
    return [g for g in free if g.remaining > 0]


@exact
def held(state: WalletState, at: datetime) -> Decimal:
    return sum((h.amount for h in state.holds.values() if h.active_at(at)), ZERO)


def free_grants(state: WalletState, at: datetime) -> list[Grant]:
    """Grants available at `at`, with remaining reduced by what active holds reserve."""
    return _free(state, (g for g in state.grants.values() if g.available_at(at)), at)


@exact
def available(state: WalletState, at: datetime) -> Decimal:
    """Credits usable at `at`: remainders of available grants not reserved by active holds
    (scoped or not: the wallet's whole available balance)."""
    return sum((g.remaining for g in free_grants(state, at)), ZERO)


@exact
def available_to(state: WalletState, at: datetime, feature: str) -> Decimal:
    """What usage of `feature` ("": none) may use at `at`: the free credits of the grants that
    apply to it (`Grant.applies_to`)."""
    return sum((g.remaining for g in free_grants(state, at) if g.applies_to(feature)), ZERO)


def new_entry(state: WalletState, now: datetime, **fields: object) -> Entry:
    return Entry(
        available_after=available(state, now),
        overage_after=state.overage,
        **fields,  # type: ignore[arg-type]  # the other Entry fields by keyword
    )


def with_grants(state: WalletState, changed: Iterable[Grant], overage: Decimal) -> WalletState:
    grants = dict(state.grants)
    for grant in changed:
        grants[grant.id] = grant
    return replace(state, grants=grants, overage=overage)


@exact
def apply_allocations(state: WalletState, allocations: Iterable[Allocation]) -> dict[str, Grant]:
    """Grants changed by allocations (overage parts are left to the caller)."""
    changed: dict[str, Grant] = {}
    for alloc in allocations:
        if alloc.grant_id is None:
            continue
        grant = changed.get(alloc.grant_id) or state.grants[alloc.grant_id]
        changed[grant.id] = replace(grant, remaining=grant.remaining + alloc.amount)
    return changed


@exact
def settle_overage(state: WalletState, now: datetime) -> Outcome:
    """Pay outstanding overage from unscoped grants available now, in burn-down order. A scoped
    grant settles none: overage is owed by the wallet, not by one feature."""
    if state.overage <= 0:
        return Outcome(state, [])
    unscoped = [g for g in free_grants(state, now) if not g.features]
    allocations, left = allocate(unscoped, state.overage)
    if not allocations:
        return Outcome(state, [])
    settled = state.overage - left
    changed = apply_allocations(state, allocations)
    for alloc in allocations:
        assert alloc.grant_id is not None
        g = changed[alloc.grant_id]
        changed[g.id] = replace(g, overage_paid=g.overage_paid - alloc.amount)
    new_state = with_grants(state, changed.values(), left)
    word = unit_word(state.wallet.unit)
    entry = new_entry(
        new_state,
        now,
        type=EntryType.OVERAGE_SETTLEMENT,
        amount=ZERO,
        occurred_time=now,
        allocations=(*allocations, Allocation(None, settled)),
        description=f"Settled {settled} {word} of overage",
    )
    return Outcome(new_state, [entry])


def then_settle(outcome: Outcome, now: datetime) -> Outcome:
    settled = settle_overage(outcome.state, now)
    return Outcome(settled.state, outcome.entries + settled.entries, outcome.events)


def eligible_for_usage(
    state: WalletState, occurred_time: datetime, now: datetime, feature: str
) -> list[Grant]:
    """Grants usage of `feature` ("": none) at `occurred_time`, booked at `now`, may burn.

    Applying to the feature (`Grant.applies_to`), available at the usage's time, and not past
    the write-off point (expire_time plus the wallet's late-event grace): late usage within the
    grace burns the grant it belongs to; after it, the remainder is breakage whether or not the
    sweeper has booked it yet. Credits reserved by holds active now are not eligible.
    """
    grace = state.wallet.late_event_grace
    candidates = (
        g
        for g in state.grants.values()
        if g.applies_to(feature)
        and g.available_at(occurred_time)
        and (g.expire_time is None or now < g.expire_time + grace)
    )
    return _free(state, candidates, now)


@exact
def debit(
    state: WalletState,
    *,
    amount: Decimal,
    occurred_time: datetime,
    now: datetime,
    feature: str = "",
    description: str = "",
    source_event_id: str = "",
    metadata: dict[str, str] | None = None,
) -> Outcome:
    """Take usage from the wallet. DENY: refused whole when not covered. ALLOW_OVERAGE: the
    uncovered part becomes overage."""
    assert amount > 0
    allocations, uncovered = allocate(
        eligible_for_usage(state, occurred_time, now, feature), amount
    )
    if uncovered > 0:
        if state.wallet.overage_policy is OveragePolicy.DENY:
            raise InsufficientCredits(
                f"debit of {format_amount(amount)} needs {format_amount(uncovered)} more "
                f"{unit_word(state.wallet.unit)} than the wallet has available",
                shortfall=uncovered,
            )
        allocations.append(Allocation(None, -uncovered))
    changed = apply_allocations(state, allocations)
    new_state = with_grants(state, changed.values(), state.overage + uncovered)
    word = unit_word(state.wallet.unit)
    entry = new_entry(
        new_state,
        now,
        type=EntryType.DEBIT,
        amount=-amount,
        occurred_time=occurred_time,
        allocations=tuple(allocations),
        description=description
        or f"-{amount} {word} for {feature or 'usage'} on {occurred_time:%b} {occurred_time.day}",
        feature=feature,
        source_event_id=source_event_id,
        metadata=metadata or {},
    )
    return then_settle(Outcome(new_state, [entry]), now)


def events_for(entries: Iterable[Entry]) -> list[WalletEvent]:
    """The durable events of journal entries that stand for one: grants and expiries."""
    events = []
    for e in entries:
        if e.type is EntryType.GRANT:
            data = {"grant_id": e.related_id, "amount": format_amount(e.amount)}
            events.append(WalletEvent(EventType.GRANT_CREATED, e.occurred_time, data))
        elif e.type is EntryType.EXPIRY:
            data = {"grant_id": e.related_id, "amount": format_amount(-e.amount)}
            events.append(WalletEvent(EventType.CREDITS_EXPIRED, e.occurred_time, data))
    return events


def grant(state: WalletState, new_grant: Grant, *, now: datetime, description: str = "") -> Outcome:
    """Add a grant (its GRANT entry), then let it settle outstanding overage if available now."""
    word = unit_word(state.wallet.unit)
    new_state = with_grants(state, [new_grant], state.overage)
    expires = (
        f", expires {new_grant.expire_time:%Y-%m-%d}" if new_grant.expire_time else ", no expiry"
    )
    if new_grant.features:
        expires += f", for {', '.join(new_grant.features)} only"
    entry = new_entry(
        new_state,
        now,
        type=EntryType.GRANT,
        amount=new_grant.amount,
        occurred_time=new_grant.effective_time,
        allocations=(Allocation(new_grant.id, new_grant.amount),),
        description=description
        or f"+{new_grant.amount} {word} granted ({new_grant.kind.value.lower()}{expires})",
        related_id=new_grant.id,
        metadata=new_grant.metadata,
    )
    return then_settle(Outcome(new_state, [entry], events_for([entry])), now)


@exact
def void(state: WalletState, grant_id: str, *, now: datetime, reason: str = "") -> Outcome:
    """Remove a grant's remainder with a VOID entry; the grant can never be used again."""
    target = state.grants[grant_id]
    if target.void_time is not None:
        raise GrantAlreadyVoided(f"grant {grant_id} was voided already")
    if target.remaining == 0:
        raise GrantAlreadyEnded(f"grant {grant_id} has nothing left to void")
    if reserved(state, now).get(grant_id, ZERO) > 0:
        raise GrantHeld(f"grant {grant_id} backs active holds: capture or release them first")
    removed = target.remaining
    changed = replace(
        target, remaining=ZERO, void_time=now, voided_amount=target.voided_amount + removed
    )
    new_state = with_grants(state, [changed], state.overage)
    entry = new_entry(
        new_state,
        now,
        type=EntryType.VOID,
        amount=-removed,
        occurred_time=now,
        allocations=(Allocation(grant_id, -removed),),
        description=reason or f"Voided {removed} {unit_word(state.wallet.unit)} of grant",
        related_id=grant_id,
    )
    return Outcome(new_state, [entry])


@exact
def _ended_parts(state: WalletState, grant_ids: Iterable[str], now: datetime) -> Outcome:
    """Refunded parts whose grant has ended end again at once: VOID for voided grants, EXPIRY for
    grants past their write-off point. Within the grace they stay for late usage and the sweeper."""
    entries: list[Entry] = []
    for grant_id in grant_ids:
        g = state.grants[grant_id]
        if g.remaining <= 0:
            continue
        write_off = g.write_off_time(state.wallet.late_event_grace)
        if g.void_time is not None:
            kind, changed = (
                EntryType.VOID,
                replace(g, remaining=ZERO, voided_amount=g.voided_amount + g.remaining),
            )
        elif write_off is not None and now >= write_off:
            kind, changed = (
                EntryType.EXPIRY,
                replace(g, remaining=ZERO, expired_amount=g.expired_amount + g.remaining),
            )
        else:
            continue
        state = with_grants(state, [changed], state.overage)
        entries.append(
            new_entry(
                state,
                now,
                type=kind,
                amount=-g.remaining,
                occurred_time=now,
                allocations=(Allocation(g.id, -g.remaining),),
                description=(
                    f"-{g.remaining} {unit_word(state.wallet.unit)} voided"
                    " (refund to a voided grant)"
                    if kind is EntryType.VOID
                    else f"-{g.remaining} {unit_word(state.wallet.unit)} expired "
                    f"(grant expired {g.expire_time:%Y-%m-%d})"
                ),
                related_id=g.id,
            )
        )
    return Outcome(state, entries, events_for(entries))


@exact
def refund(
    state: WalletState,
    record: DebitRecord,
    *,
    amount: Decimal | None,
    now: datetime,
    description: str = "",
) -> Outcome:
    """Give part or all of a debit back, unwinding it in reverse: first its overage part, then its
    grants in reverse burn-down order (the grant burned last gets credits back first).

    An overage part that was settled meanwhile is given back to the grants that paid settlements
    (reverse burn-down order, capped by what each paid). `state` must hold every grant the debit
    touched and every grant with settlement payments not yet returned.
    """
    refundable = record.refundable
    amount = refundable if amount is None else amount
    if amount > refundable or amount <= 0:
        raise RefundExceedsDebit(
            f"refund of {format_amount(amount)} exceeds the {format_amount(refundable)}"
            f" still refundable on debit {record.entry_id}"
        )
    left = amount
    allocations: list[Allocation] = []
    overage = state.overage
    returned: dict[str, Decimal] = {}
    overage_part = -sum((a.amount for a in record.allocations if a.grant_id is None), ZERO)
    if overage_part > 0:
        part = min(overage_part, left)
        owed = min(part, overage)
        if owed > 0:
            allocations.append(Allocation(None, owed))
            overage -= owed
        settled = part - owed
        payers = sorted(
            (g for g in state.grants.values() if g.overage_paid > g.overage_returned),
            key=burn_key,
            reverse=True,
        )
        for payer in payers:
            if settled <= 0:
                break
            give = min(settled, payer.overage_paid - payer.overage_returned)
            allocations.append(Allocation(payer.id, give))
            returned[payer.id] = give
            settled -= give
        assert settled == 0, "settled overage must have been paid by some grant"
        left -= part
    grant_parts = [a for a in record.allocations if a.grant_id is not None]
    for alloc in sorted(
        grant_parts, key=lambda a: burn_key(state.grants[a.grant_id or ""]), reverse=True
    ):
        if left <= 0:
            break
        give = min(-alloc.amount, left)
        allocations.append(Allocation(alloc.grant_id, give))
        left -= give
    changed = apply_allocations(state, allocations)
    for grant_id, give in returned.items():
        g = changed[grant_id]
        changed[grant_id] = replace(g, overage_returned=g.overage_returned + give)
    new_state = with_grants(state, changed.values(), overage)
    entry = new_entry(
        new_state,
        now,
        type=EntryType.REFUND,
        amount=amount,
        occurred_time=now,
        allocations=tuple(allocations),
        description=description or f"+{amount} {unit_word(state.wallet.unit)} refunded",
        related_id=record.entry_id,
    )
    ended = _ended_parts(new_state, changed.keys(), now)
    return then_settle(Outcome(ended.state, [entry, *ended.entries], ended.events), now)
