"""Authorize: "may this wallet be used for this amount now?", answered from the wallet's state at
`now`; optionally with a hold for the amount, decided and placed in one step. Pure functions of
(state, request, now).

The rules (README "Authorize"):
- without a hold, the amount is compared with the credits available now, as a debit now would
  burn them;
- with a hold, only with the credits a hold may reserve: free credits a capture can still burn
  when the hold times out (`holds.holdable`);
- a DENY wallet is allowed when those credits cover the amount, or when its top-up rule would
  buy what they lack now, exactly as a debit would (`automation.cover_plan`, the rule
  `debit_with_cover` follows): ALLOWED_WITH_TOP_UP, with the amount it implies. A check buys
  nothing; a hold buys it first, in the same write, then holds the whole amount (only if the
  bought credits last until the hold times out);
- an ALLOW_OVERAGE wallet always is (wallets have no overage limit), the uncovered part reported
  as overage. Its hold reserves the covered part, possibly 0: capturing more than held is
  allowed under ALLOW_OVERAGE, so the action can be captured in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from billing_common.money import exact
from ledger_service.domain import automation
from ledger_service.domain import holds as hold_rules
from ledger_service.domain.ledger import Outcome, available
from ledger_service.domain.model import ZERO, OveragePolicy, WalletState


class AuthorizeReason(StrEnum):
    ALLOWED = "ALLOWED"
    ALLOWED_WITH_OVERAGE = "ALLOWED_WITH_OVERAGE"
    ALLOWED_WITH_TOP_UP = "ALLOWED_WITH_TOP_UP"
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
    CREDITS_END_BEFORE_HOLD = "CREDITS_END_BEFORE_HOLD"


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer. `covered`: the part of the amount credits cover (what a hold reserves);
    `overage`: the part beyond them, allowed only under ALLOW_OVERAGE; `shortfall`: what a denied
    amount lacks; `top_up`: the automatic top-up the amount buys first (ALLOWED_WITH_TOP_UP)."""

    allowed: bool
    reason: AuthorizeReason
    available_before: Decimal
    covered: Decimal
    overage: Decimal
    shortfall: Decimal
    top_up: Decimal = ZERO

    @property
    @exact
    def available_after(self) -> Decimal:
        if not self.allowed:
            return self.available_before
        return self.available_before + self.top_up - self.covered


def _no_id() -> str:
    return ""


def _usable(state: WalletState, now: datetime, hold_until: datetime | None) -> Decimal:
    return (
        available(state, now) if hold_until is None else hold_rules.holdable(state, now, hold_until)
    )


@exact
def _top_up(
    state: WalletState,
    amount: Decimal,
    uncovered: Decimal,
    now: datetime,
    hold_until: datetime | None,
) -> Decimal | None:
    """The top-up a debit (or hold) of `amount` would buy for `uncovered`, or None. For a hold,
    only if the credits bought last until it times out (tried on a copy, ids unused)."""
    plan = automation.cover_plan(state, uncovered, now)
    if plan is None:
        return None
    if hold_until is not None:
        bought = automation.cover_shortfall(state, uncovered, now, _no_id)
        assert bought is not None
        if _usable(bought.state, now, hold_until) < amount:
            return None
    return plan[1]


@exact
def decide(
    state: WalletState, amount: Decimal, now: datetime, *, hold_until: datetime | None = None
) -> Decision:
    """The decision for `amount` at `now`; with `hold_until`, for a hold that times out then."""
    assert amount > 0
    before = available(state, now)
    covered = min(amount, _usable(state, now, hold_until))
    uncovered = amount - covered
    if uncovered == 0:
        return Decision(True, AuthorizeReason.ALLOWED, before, covered, ZERO, ZERO)
    if state.wallet.overage_policy is OveragePolicy.ALLOW_OVERAGE:
        return Decision(
            True, AuthorizeReason.ALLOWED_WITH_OVERAGE, before, covered, uncovered, ZERO
        )
    top_up = _top_up(state, amount, uncovered, now, hold_until)
    if top_up is not None:
        return Decision(
            True, AuthorizeReason.ALLOWED_WITH_TOP_UP, before, amount, ZERO, ZERO, top_up
        )
    reason = (
        AuthorizeReason.INSUFFICIENT_CREDITS
        if amount > before
        else AuthorizeReason.CREDITS_END_BEFORE_HOLD
    )
    return Decision(False, reason, before, ZERO, ZERO, uncovered)


def authorize_hold(
    state: WalletState,
    *,
    hold_id: str,
    amount: Decimal,
    expire_time: datetime,
    now: datetime,
    new_id: automation.NewId,
    feature: str = "",
    description: str = "",
) -> tuple[Decision, Outcome]:
    """Decide, and when allowed place the hold (of the covered part) in the same step, after
    buying the top-up the decision implies (the entries and events of a debit's cover). A
    denial changes nothing: its outcome has no entries."""
    decision = decide(state, amount, now, hold_until=expire_time)
    if not decision.allowed:
        return decision, Outcome(state, [])
    cover = Outcome(state, [])
    if decision.top_up > 0:
        uncovered = amount - _usable(state, now, expire_time)
        bought = automation.cover_shortfall(state, uncovered, now, new_id)
        assert bought is not None
        cover = bought
    placed = hold_rules.create_hold(
        cover.state,
        hold_id=hold_id,
        amount=decision.covered,
        expire_time=expire_time,
        now=now,
        feature=feature,
        description=description,
    )
    return decision, Outcome(
        placed.state, cover.entries + placed.entries, cover.events + placed.events
    )
