"""Authorize: "may this wallet be used for this amount now?", answered from the wallet's state at
`now`; optionally with a hold for the amount, decided and placed in one step. Pure functions of
(state, request, now).

The rules (README "Authorize"):
- without a hold, the amount is compared with the credits available now, as a debit now would
  burn them;
- with a hold, only with the credits a hold may reserve: free credits a capture can still burn
  when the hold times out (`holds.holdable`);
- a DENY wallet whose credits fall short is allowed when its top-up rule would cover the
  shortfall now, exactly as a debit now would buy it (`automation.cover_shortfall`): a pure
  check buys nothing and says how much the top-up would be; with a hold, the top-up is bought
  in the same step and the hold placed on the credits it brings (allowed only if they last
  until the hold times out);
- otherwise a DENY wallet is allowed only when those credits cover the amount; an
  ALLOW_OVERAGE wallet always is (wallets have no overage limit), the uncovered part reported as
  overage. Its hold reserves the covered part, possibly 0: capturing more than held is allowed under
  ALLOW_OVERAGE, so the action can be captured in full.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from billing_common.money import exact
from ledger_service.domain import automation, pool
from ledger_service.domain import holds as hold_rules
from ledger_service.domain.ledger import Outcome, available_to
from ledger_service.domain.model import ZERO, OveragePolicy, WalletState


class AuthorizeReason(StrEnum):
    ALLOWED = "ALLOWED"
    ALLOWED_WITH_OVERAGE = "ALLOWED_WITH_OVERAGE"
    ALLOWED_WITH_TOP_UP = "ALLOWED_WITH_TOP_UP"
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
    CREDITS_END_BEFORE_HOLD = "CREDITS_END_BEFORE_HOLD"
    MEMBER_BUDGET_EXCEEDED = "MEMBER_BUDGET_EXCEEDED"


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer. `covered`: the part of the amount credits cover (what a hold reserves);
    `overage`: the part beyond them, allowed only under ALLOW_OVERAGE; `shortfall`: what a denied
    amount lacks; `top_up`: the credits the wallet's top-up rule buys first
    (ALLOWED_WITH_TOP_UP)."""

    allowed: bool
    reason: AuthorizeReason
    available_before: Decimal
    covered: Decimal
    overage: Decimal
    shortfall: Decimal
    top_up: Decimal = ZERO
    # For a member with a budget: what its budget had left before this amount (negative when an
    # ALLOW member is past it); None otherwise.
    member_remaining: Decimal | None = None

    @property
    @exact
    def available_after(self) -> Decimal:
        if not self.allowed:
            return self.available_before
        return self.available_before + self.top_up - self.covered


def _simulated_id() -> str:
    return "authorize-check"  # the ids of a top-up that is only looked at, never booked


@exact
def decide(
    state: WalletState,
    amount: Decimal,
    now: datetime,
    *,
    hold_until: datetime | None = None,
    feature: str = "",
    member_id: str = "",
) -> Decision:
    """The decision for `amount` of `feature` at `now`; with `hold_until`, for a hold that times
    out then. Only the credits that apply to the feature count (`ledger.available_to`). With
    `member_id` (loaded in `state.members`), a DENY member's budget is checked first."""
    assert amount > 0
    before = available_to(state, now, feature)
    left = pool.remaining(state, member_id, now) if member_id else None
    if (
        left is not None
        and amount > left
        and state.members[member_id].member.policy is pool.BudgetPolicy.DENY
    ):
        return Decision(
            False,
            AuthorizeReason.MEMBER_BUDGET_EXCEEDED,
            before,
            ZERO,
            ZERO,
            amount - max(left, ZERO),
            member_remaining=left,
        )
    return replace(_decide(state, amount, now, before, hold_until, feature), member_remaining=left)


def _decide(
    state: WalletState,
    amount: Decimal,
    now: datetime,
    before: Decimal,
    hold_until: datetime | None,
    feature: str,
) -> Decision:
    usable = before if hold_until is None else hold_rules.holdable(state, now, hold_until, feature)
    covered = min(amount, usable)
    uncovered = amount - covered
    if uncovered == 0:
        return Decision(True, AuthorizeReason.ALLOWED, before, covered, ZERO, ZERO)
    if state.wallet.overage_policy is OveragePolicy.ALLOW_OVERAGE:
        return Decision(
            True, AuthorizeReason.ALLOWED_WITH_OVERAGE, before, covered, uncovered, ZERO
        )
    bought = _with_top_up(state, amount, uncovered, now, hold_until, feature, _simulated_id)
    if bought is not None:
        top_up = available_to(bought.state, now, feature) - before
        return Decision(
            True, AuthorizeReason.ALLOWED_WITH_TOP_UP, before, amount, ZERO, ZERO, top_up
        )
    reason = (
        AuthorizeReason.INSUFFICIENT_CREDITS
        if amount > before
        else AuthorizeReason.CREDITS_END_BEFORE_HOLD
    )
    return Decision(False, reason, before, ZERO, ZERO, uncovered)


def _with_top_up(
    state: WalletState,
    amount: Decimal,
    shortfall: Decimal,
    now: datetime,
    hold_until: datetime | None,
    feature: str,
    new_id: automation.NewId,
) -> Outcome | None:
    """The top-up a DENY debit of `amount` now would buy to cover `shortfall` (the same rule:
    `automation.cover_shortfall`), when after it the amount is covered (for a hold: by credits
    that last until `hold_until`); None when there is no such top-up."""
    bought = automation.cover_shortfall(state, shortfall, now, new_id)
    if bought is None:
        return None
    after = (
        available_to(bought.state, now, feature)
        if hold_until is None
        else hold_rules.holdable(bought.state, now, hold_until, feature)
    )
    return bought if after >= amount else None


def authorize_hold(
    state: WalletState,
    *,
    hold_id: str,
    amount: Decimal,
    expire_time: datetime,
    now: datetime,
    feature: str = "",
    description: str = "",
    new_id: automation.NewId,
    member_id: str = "",
) -> tuple[Decision, Outcome]:
    """Decide, and when allowed place the hold (of the covered part) in the same step, after the
    top-up it needs if any (its ids from `new_id`). A denial changes nothing: its outcome has no
    entries. A member's hold counts against its budget (`pool.hold`)."""
    decision = decide(
        state, amount, now, hold_until=expire_time, feature=feature, member_id=member_id
    )
    if not decision.allowed:
        return decision, Outcome(state, [])
    bought = Outcome(state, [])
    if decision.reason is AuthorizeReason.ALLOWED_WITH_TOP_UP:
        usable = hold_rules.holdable(state, now, expire_time, feature)
        found = _with_top_up(state, amount, amount - usable, now, expire_time, feature, new_id)
        assert found is not None, "decided on the same state"
        bought = found
    placed = pool.hold(
        bought.state,
        member_id,
        hold_id,
        decision.covered,
        now,
        lambda s: hold_rules.create_hold(
            s,
            hold_id=hold_id,
            amount=decision.covered,
            expire_time=expire_time,
            now=now,
            feature=feature,
            description=description,
        ),
    )
    return decision, bought.then(placed)
