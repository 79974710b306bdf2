"""Pooled wallets: members spending one wallet, each within an optional budget per period.

A pool is an ordinary wallet; burn-down, overage and every invariant stay the wallet's. A member
only adds a check before a debit, hold or capture that names it, made under the wallet's lock
on the member's spend as loaded there (`MemberUsage`), so it is exact under concurrency. The
rules are in ledger_service/README.md, "Pooled wallets".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal, Inexact, localcontext
from enum import StrEnum

from billing_common.money import FRACTION_DIGITS_MAX, MONEY, exact, format_amount
from ledger_service.domain.errors import MemberBudgetExceeded, MemberNotFound
from ledger_service.domain.ledger import Outcome
from ledger_service.domain.model import ZERO, EntryType, WalletState

HUNDRED = Decimal(100)
AMOUNT_QUANTUM = Decimal(1).scaleb(-FRACTION_DIGITS_MAX)


class BudgetPeriod(StrEnum):
    NONE = ""  # the budget is for all time
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


class BudgetPolicy(StrEnum):
    DENY = "DENY"  # a use past the budget is refused
    ALLOW = "ALLOW"  # it goes on, into the pool; the entry records the part over budget


@dataclass(frozen=True, slots=True)
class PoolMember:
    """A member of a pooled wallet. At most one of `budget_amount` and `budget_share` (percent
    of the pool, 0 < share <= 100) is set; neither: no budget (spend is tracked only)."""

    wallet_id: str
    member_id: str
    policy: BudgetPolicy
    create_time: datetime
    update_time: datetime
    budget_amount: Decimal | None = None
    budget_share: Decimal | None = None
    budget_period: BudgetPeriod = BudgetPeriod.NONE
    # A share budget as resolved for the period starting at `share_period_start`.
    share_period_start: datetime | None = None
    share_budget: Decimal | None = None


@dataclass(frozen=True, slots=True)
class MemberUsage:
    """A member with what it spent in its current period (debits and captures naming it, less
    the refunds of those booked in the period), as loaded under the wallet's lock and kept
    current by the writes of the transaction."""

    member: PoolMember
    period_start: datetime | None  # None: the budget is for all time
    spent: Decimal


def period_start(period: BudgetPeriod, now: datetime) -> datetime | None:
    """The start of `now`'s budget period in UTC: its day, its ISO week (Monday) or its month;
    None for a budget with no period."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is BudgetPeriod.DAY:
        return day
    if period is BudgetPeriod.WEEK:
        return day - timedelta(days=day.weekday())
    if period is BudgetPeriod.MONTH:
        return day.replace(day=1)
    return None


@exact
def resolve_share(
    member: PoolMember, start: datetime | None, pool_available: Decimal
) -> PoolMember:
    """A share budget fixed for the period: the pool's available balance when the member's
    period is first used, times the share, rounded down to an amount (18 fractional digits:
    never more than the share). Resolved once per period (kept on the member)."""
    if member.budget_share is None:
        return member
    if member.share_budget is not None and member.share_period_start == start:
        return member
    exact_share = max(pool_available, ZERO) * member.budget_share / HUNDRED
    with localcontext(MONEY) as ctx:
        ctx.traps[Inexact] = False  # the one rounding: a limit, not an amount booked
        budget = exact_share.quantize(AMOUNT_QUANTUM, rounding=ROUND_DOWN)
    return replace(member, share_period_start=start, share_budget=budget)


def budget(member: PoolMember) -> Decimal | None:
    """The member's budget for its current period (None: no budget)."""
    if member.budget_amount is not None:
        return member.budget_amount
    if member.budget_share is not None:
        return member.share_budget
    return None


def held(state: WalletState, member_id: str, at: datetime, *, besides: str = "") -> Decimal:
    """What the member's active holds reserve (a hold counts against its budget until it is
    captured or released), the hold `besides` aside."""
    return sum(
        (
            h.amount
            for h in state.holds.values()
            if h.member_id == member_id and h.id != besides and h.active_at(at)
        ),
        ZERO,
    )


def usage_of(state: WalletState, member_id: str) -> MemberUsage:
    found = state.members.get(member_id)
    if found is None:
        raise MemberNotFound(
            f"wallet {state.wallet.id!r} has no member {member_id!r}",
        )
    return found


@exact
def remaining(
    state: WalletState, member_id: str, at: datetime, *, besides: str = ""
) -> Decimal | None:
    """What is left of the member's budget at `at` (None: no budget); negative when an ALLOW
    member went past it."""
    usage = usage_of(state, member_id)
    limit = budget(usage.member)
    if limit is None:
        return None
    return limit - usage.spent - held(state, member_id, at, besides=besides)


@exact
def check(
    state: WalletState, member_id: str, amount: Decimal, at: datetime, *, besides: str = ""
) -> Decimal:
    """The part of `amount` over the member's budget (0 when within it). DENY: a use past the
    budget is refused whole (MEMBER_BUDGET_EXCEEDED, with what remains) and writes nothing."""
    left = remaining(state, member_id, at, besides=besides)
    if left is None or amount <= left:
        return ZERO
    member = state.members[member_id].member
    if member.policy is BudgetPolicy.DENY:
        shown = max(left, ZERO)
        raise MemberBudgetExceeded(
            f"member {member_id!r} has {format_amount(shown)} of its budget left"
            f" this period, less than {format_amount(amount)}",
            remaining=shown,
        )
    return amount - max(left, ZERO)


@exact
def spend(state: WalletState, member_id: str, amount: Decimal) -> WalletState:
    """The member's spend after a debit or capture of `amount` naming it."""
    usage = usage_of(state, member_id)
    members = dict(state.members)
    members[member_id] = replace(usage, spent=usage.spent + amount)
    return replace(state, members=members)


def with_usage(
    state: WalletState, usage: MemberUsage, pool_available: Decimal | None
) -> WalletState:
    """The state with a member loaded under the lock, its share budget resolved for the period
    from `pool_available` (None: kept as loaded)."""
    member = (
        usage.member
        if pool_available is None
        else resolve_share(usage.member, usage.period_start, pool_available)
    )
    members = dict(state.members)
    members[member.member_id] = replace(usage, member=member)
    return replace(state, members=members)


def _tagged(outcome: Outcome, member_id: str, entry_type: EntryType, over: Decimal) -> Outcome:
    entries = [
        replace(e, member_id=member_id, over_budget=over) if e.type is entry_type else e
        for e in outcome.entries
    ]
    return Outcome(outcome.state, entries, outcome.events)


def debit(
    state: WalletState,
    member_id: str,
    amount: Decimal,
    now: datetime,
    write: Callable[[WalletState], Outcome],
) -> Outcome:
    """A debit naming a member ("" for none: `write` alone): checked against the member's budget
    first (DENY: refused whole), then booked on the pool as any debit is; the DEBIT entry records
    the member and the part over budget, and the member's spend grows by the amount."""
    if not member_id:
        return write(state)
    over = check(state, member_id, amount, now)
    done = _tagged(write(state), member_id, EntryType.DEBIT, over)
    return Outcome(spend(done.state, member_id, amount), done.entries, done.events)


def hold(
    state: WalletState,
    member_id: str,
    hold_id: str,
    amount: Decimal,
    now: datetime,
    write: Callable[[WalletState], Outcome],
) -> Outcome:
    """A hold naming a member: its amount must fit the member's budget like a debit's (DENY),
    and it counts against the budget while active (`held`)."""
    if not member_id:
        return write(state)
    over = check(state, member_id, amount, now)
    done = _tagged(write(state), member_id, EntryType.HOLD, over)
    placed = done.state.holds.get(hold_id)
    if placed is None:  # nothing placed (a denied Authorize)
        return done
    holds = {**done.state.holds, hold_id: replace(placed, member_id=member_id)}
    return Outcome(replace(done.state, holds=holds), done.entries, done.events)


@exact
def capture(
    state: WalletState,
    hold_id: str,
    amount: Decimal,
    now: datetime,
    write: Callable[[WalletState], Outcome],
) -> Outcome:
    """A capture of a member's hold: up to the held amount it is never refused (a hold is a
    guarantee); a DENY member's capture beyond it must fit what the budget has left besides the
    hold. The CAPTURE entry names the member and counts as its spend."""
    held_hold = state.holds.get(hold_id)
    member_id = "" if held_hold is None else held_hold.member_id
    if held_hold is None or not member_id:
        return write(state)
    if member_id not in state.members:  # removed since: no budget to check or spend
        return _tagged(write(state), member_id, EntryType.CAPTURE, ZERO)
    extra = amount - held_hold.amount
    if extra > 0:
        check(state, member_id, extra, now)
    left = remaining(state, member_id, now, besides=hold_id)
    over = ZERO if left is None else max(ZERO, amount - max(left, ZERO))
    done = _tagged(write(state), member_id, EntryType.CAPTURE, over)
    return Outcome(spend(done.state, member_id, amount), done.entries, done.events)


@exact
def refund(
    state: WalletState,
    member_id: str,
    debit_book_time: datetime,
    write: Callable[[WalletState], Outcome],
) -> Outcome:
    """A refund of a member's debit: the REFUND entry names the member; it gives budget back
    only when the debit was booked in the member's current period."""
    if not member_id:
        return write(state)
    done = _tagged(write(state), member_id, EntryType.REFUND, ZERO)
    usage = done.state.members.get(member_id)
    if usage is None or (usage.period_start is not None and debit_book_time < usage.period_start):
        return done
    returned = sum((e.amount for e in done.entries if e.type is EntryType.REFUND), ZERO)
    return Outcome(spend(done.state, member_id, -returned), done.entries, done.events)
