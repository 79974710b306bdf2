"""Balance projection: a wallet's balance at an instant, from its grants' remainders at that
instant and its outstanding overage. Pure; exact whether or not the sweeper has run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing_common.money import exact
from ledger_service.domain.burndown import burn_order
from ledger_service.domain.ledger import available, free_grants, held, settle_overage
from ledger_service.domain.model import ZERO, Grant, GrantKind, GrantState, WalletState


@dataclass(frozen=True, slots=True)
class GrantView:
    grant: Grant
    remaining: Decimal
    state: GrantState


@dataclass(frozen=True, slots=True)
class FeatureView:
    """What usage of one feature may use: `available` (its scoped grants plus the unscoped
    ones, free of holds), of it `scoped` from grants naming the feature."""

    feature: str
    available: Decimal
    scoped: Decimal


@dataclass(frozen=True, slots=True)
class BalanceView:
    as_of: datetime
    available: Decimal
    held: Decimal
    overage: Decimal
    pending_expiry: Decimal
    pending_grants: Decimal
    prepaid_available: Decimal
    promotional_available: Decimal
    grants: list[GrantView]
    # Per feature named by an available scoped grant, by name; and the unscoped credits.
    features: list[FeatureView]
    unscoped_available: Decimal

    @property
    @exact
    def net(self) -> Decimal:
        return self.available - self.overage


@exact
def project(state: WalletState, as_of: datetime) -> BalanceView:
    """`state` holds the grant remainders and overage as the journal stood at `as_of`.

    Overage that a grant available at `as_of` would settle is shown settled: the sweeper books the
    same settlement, so the answer does not depend on whether it has run yet.
    """
    state = settle_overage(state, as_of).state
    views: list[GrantView] = []
    by_kind = {GrantKind.PREPAID: ZERO, GrantKind.PROMOTIONAL: ZERO}
    pending_expiry = ZERO
    pending_grants = ZERO
    for g in burn_order(state.grants.values()):
        if g.remaining <= 0:
            continue
        grant_state = g.state(as_of)
        views.append(GrantView(g, g.remaining, grant_state))
        if grant_state is GrantState.EXPIRED:
            pending_expiry += g.remaining
        elif grant_state is GrantState.PENDING:
            pending_grants += g.remaining
    free = free_grants(state, as_of)
    for g in free:
        by_kind[g.kind] += g.remaining
    unscoped = sum((g.remaining for g in free if not g.features), ZERO)
    scoped: dict[str, Decimal] = {}
    for g in free:
        for name in g.features:
            scoped[name] = scoped.get(name, ZERO) + g.remaining
    return BalanceView(
        as_of=as_of,
        available=available(state, as_of),
        held=held(state, as_of),
        overage=state.overage,
        pending_expiry=pending_expiry,
        pending_grants=pending_grants,
        prepaid_available=by_kind[GrantKind.PREPAID],
        promotional_available=by_kind[GrantKind.PROMOTIONAL],
        grants=views,
        features=[FeatureView(n, scoped[n] + unscoped, scoped[n]) for n in sorted(scoped)],
        unscoped_available=unscoped,
    )
