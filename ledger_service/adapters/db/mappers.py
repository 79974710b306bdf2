"""The ledger's rows and domain values, each way: a row (SQLAlchemy or asyncpg, through
`hot.Row`) to a domain value, and a domain value to the row that stores it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_

from billing_common.periods import Cadence
from ledger_service.adapters.db import hot
from ledger_service.adapters.db.tables import (
    grants,
)
from ledger_service.domain.model import (
    AlertKind,
    AlertRule,
    Allocation,
    AllotmentExpiry,
    AllotmentSchedule,
    Automation,
    Grant,
    GrantKind,
    GrantState,
    Hold,
    HoldState,
    OveragePolicy,
    TopUp,
    TopUpPayment,
    TopUpRule,
    TopUpState,
    Wallet,
    WalletState,
)


def to_wallet(row: Any) -> Wallet:
    return Wallet(
        id=row.id,
        customer_id=row.customer_id,
        unit=row.unit,
        overage_policy=OveragePolicy(row.overage_policy),
        late_event_grace=row.late_event_grace,
        create_time=row.create_time,
        metadata=dict(row.metadata),
    )


def to_state(row: Any) -> WalletState:
    """A wallet row as the start of its state (grants, holds and automation loaded after)."""
    return WalletState(to_wallet(row), {}, row.overage, book_time=row.last_book_time)


def to_grant(row: Any) -> Grant:
    return Grant(
        id=row.id,
        wallet_id=row.wallet_id,
        kind=GrantKind(row.kind),
        amount=row.amount,
        remaining=row.remaining,
        priority=row.priority,
        effective_time=row.effective_time,
        expire_time=row.expire_time,
        create_time=row.create_time,
        void_time=row.void_time,
        expired_amount=row.expired_amount,
        voided_amount=row.voided_amount,
        overage_paid=row.overage_paid,
        overage_returned=row.overage_returned,
        cost_unit_price=row.cost_unit_price,
        cost_currency=row.cost_currency,
        external_reference=row.external_reference,
        metadata=dict(row.metadata),
    )


def grant_row(g: Grant) -> dict[str, Any]:
    return {
        "id": g.id,
        "wallet_id": g.wallet_id,
        "kind": g.kind.value,
        "amount": g.amount,
        "remaining": g.remaining,
        "priority": g.priority,
        "effective_time": g.effective_time,
        "expire_time": g.expire_time,
        "create_time": g.create_time,
        "void_time": g.void_time,
        "expired_amount": g.expired_amount,
        "voided_amount": g.voided_amount,
        "overage_paid": g.overage_paid,
        "overage_returned": g.overage_returned,
        "cost_unit_price": g.cost_unit_price,
        "cost_currency": g.cost_currency,
        "external_reference": g.external_reference,
        "metadata": g.metadata,
    }


def to_hold(row: Any, allocs: Sequence[Allocation]) -> Hold:
    return Hold(
        id=row.id,
        wallet_id=row.wallet_id,
        amount=row.amount,
        create_time=row.create_time,
        expire_time=row.expire_time,
        allocations=tuple(allocs),
        state=HoldState(row.state),
        end_time=row.end_time,
        captured_amount=row.captured_amount,
        feature=row.feature,
        description=row.description,
    )


def to_hold_with_allocations(row: Any) -> Hold:
    """A hold from `hot.HOLD`: its allocations come as two arrays."""
    allocs = [
        Allocation(g, a) for g, a in zip(row["alloc_grants"], row["alloc_amounts"], strict=True)
    ]
    return to_hold(hot.Row(row), allocs)


def to_loaded_state(state: WalletState, row: Any) -> WalletState:
    """A locked wallet's state from its row of `hot.LOAD_STATES`."""
    allocs: dict[str, list[Allocation]] = {}
    for a in row["hold_allocations"]:
        allocs.setdefault(a["hold_id"], []).append(Allocation(a["grant_id"], a["amount"]))
    topup_rule = row["topup_rule"]
    return replace(
        state,
        grants={g["id"]: to_grant(hot.Row(g)) for g in row["grants"]},
        holds={h["id"]: to_hold(hot.Row(h), allocs.get(h["id"], [])) for h in row["holds"]},
        automation=Automation(
            schedules=tuple(to_schedule(hot.Row(s)) for s in row["schedules"]),
            alert_rules=tuple(to_alert_rule(hot.Row(r)) for r in row["alert_rules"]),
            topup_rule=None if topup_rule is None else to_topup_rule(hot.Row(topup_rule)),
            topups={p["id"]: to_topup(hot.Row(p)) for p in row["pending"]},
            topped_up_day=row["in_day"],
            topped_up_month=row["in_month"],
        ),
    )


def to_state_now(row: Any) -> WalletState:
    """A wallet now from its row of `hot.STATE_NOW` (its automation holds only its schedules)."""
    allocs: dict[str, list[Allocation]] = {}
    for a in row["active_hold_allocations"]:
        allocs.setdefault(a["hold_id"], []).append(Allocation(a["grant_id"], a["amount"]))
    wallet = hot.Row(row)
    return WalletState(
        to_wallet(wallet),
        {g["id"]: to_grant(hot.Row(g)) for g in row["live_grants"]},
        wallet.overage,
        {h["id"]: to_hold(hot.Row(h), allocs.get(h["id"], [])) for h in row["active_holds"]},
        book_time=wallet.last_book_time,
        automation=Automation(
            schedules=tuple(to_schedule(hot.Row(s)) for s in row["wallet_schedules"])
        ),
    )


def to_alert_rule(row: Any) -> AlertRule:
    return AlertRule(
        id=row.id,
        wallet_id=row.wallet_id,
        name=row.name,
        kind=AlertKind(row.kind),
        threshold=row.threshold,
        min_interval=row.min_interval,
        armed=row.armed,
        last_fire_time=row.last_fire_time,
    )


def to_topup_rule(row: Any) -> TopUpRule:
    return TopUpRule(
        wallet_id=row.wallet_id,
        threshold=row.threshold,
        amount=row.amount,
        target=row.target,
        kind=GrantKind(row.kind),
        priority=row.priority,
        expire_after=row.expire_after,
        unit_price=row.unit_price,
        currency=row.currency,
        daily_cap=row.daily_cap,
        monthly_cap=row.monthly_cap,
        payment=TopUpPayment(row.payment),
        enabled=row.enabled,
        armed=row.armed,
        failures=row.failures,
        retry_after=row.retry_after,
        expire_time=row.expire_time,
        schedule_id=row.schedule_id or "",
    )


def topup_rule_row(r: TopUpRule) -> dict[str, Any]:
    return {
        "wallet_id": r.wallet_id,
        "threshold": r.threshold,
        "amount": r.amount,
        "target": r.target,
        "kind": r.kind.value,
        "priority": r.priority,
        "expire_after": r.expire_after,
        "unit_price": r.unit_price,
        "currency": r.currency,
        "daily_cap": r.daily_cap,
        "monthly_cap": r.monthly_cap,
        "payment": r.payment.value,
        "enabled": r.enabled,
        "armed": r.armed,
        "failures": r.failures,
        "retry_after": r.retry_after,
        "expire_time": r.expire_time,
        "schedule_id": r.schedule_id or None,
    }


def to_topup(row: Any) -> TopUp:
    return TopUp(
        id=row.id,
        wallet_id=row.wallet_id,
        amount=row.amount,
        unit_price=row.unit_price,
        currency=row.currency,
        state=TopUpState(row.state),
        create_time=row.create_time,
        kind=GrantKind(row.kind),
        priority=row.priority,
        expire_time=row.expire_time,
        end_time=row.end_time,
        grant_id=row.grant_id,
        failure_reason=row.failure_reason,
        schedule_id=row.schedule_id or "",
    )


def topup_row(t: TopUp) -> dict[str, Any]:
    return {
        "id": t.id,
        "wallet_id": t.wallet_id,
        "amount": t.amount,
        "unit_price": t.unit_price,
        "currency": t.currency,
        "state": t.state.value,
        "create_time": t.create_time,
        "end_time": t.end_time,
        "grant_id": t.grant_id,
        "failure_reason": t.failure_reason,
        "kind": t.kind.value,
        "priority": t.priority,
        "expire_time": t.expire_time,
        "schedule_id": t.schedule_id or None,
    }


def to_schedule(row: Any) -> AllotmentSchedule:
    return AllotmentSchedule(
        id=row.id,
        wallet_id=row.wallet_id,
        amount=row.amount,
        kind=GrantKind(row.kind),
        priority=row.priority,
        cadence=Cadence(row.cadence),
        anchor=row.anchor_time,
        expiry=AllotmentExpiry(row.expiry),
        expire_after=row.expire_after,
        rollover_cap=row.rollover_cap,
        end_time=row.end_time,
        next_index=row.next_index,
        unit_price=row.unit_price,
        currency=row.currency,
        description=row.description,
        closed=row.closed,
    )


def schedule_row(s: AllotmentSchedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "wallet_id": s.wallet_id,
        "amount": s.amount,
        "kind": s.kind.value,
        "priority": s.priority,
        "cadence": s.cadence.value,
        "anchor_time": s.anchor,
        "expiry": s.expiry.value,
        "expire_after": s.expire_after,
        "rollover_cap": s.rollover_cap,
        "end_time": s.end_time,
        "next_index": s.next_index,
        "next_time": s.start(s.next_index),
        "unit_price": s.unit_price,
        "currency": s.currency,
        "description": s.description,
        "closed": s.closed,
    }


# SQL for "grant is in this state at :at", used by ListGrants.
def state_filter(state: GrantState, at: datetime) -> Any:
    not_void = grants.c.void_time.is_(None)
    expired = and_(grants.c.expire_time.is_not(None), grants.c.expire_time <= at)
    had_remainder = or_(grants.c.remaining > 0, grants.c.expired_amount > 0)
    return {
        GrantState.VOIDED: grants.c.void_time.is_not(None),
        GrantState.EXPIRED: and_(not_void, expired, had_remainder),
        GrantState.CONSUMED: and_(not_void, grants.c.remaining == 0, ~and_(expired, had_remainder)),
        GrantState.PENDING: and_(not_void, grants.c.effective_time > at, grants.c.remaining > 0),
        GrantState.ACTIVE: and_(
            not_void,
            grants.c.effective_time <= at,
            grants.c.remaining > 0,
            or_(grants.c.expire_time.is_(None), grants.c.expire_time > at),
        ),
    }[state]


@dataclass(slots=True)
class AutomationRows:
    """The automation rows a write changed, by table: what `_save_automation` writes."""

    schedules: list[dict[str, Any]] = field(default_factory=list)
    changed_alerts: list[dict[str, Any]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    new_topups: list[dict[str, Any]] = field(default_factory=list)
    changed_topups: list[dict[str, Any]] = field(default_factory=list)


def automation_rows(
    before: dict[str, WalletState], after: dict[str, WalletState]
) -> AutomationRows:
    rows = AutomationRows()
    for wallet_id, new_state in after.items():
        old, new = before[wallet_id].automation, new_state.automation
        old_schedules = {s.id: s for s in old.schedules}
        rows.schedules += [schedule_row(s) for s in new.schedules if old_schedules.get(s.id) != s]
        if old is new:
            continue
        prior_alerts = {r.id: r for r in old.alert_rules}
        rows.changed_alerts += [
            {"b_id": r.id, "b_armed": r.armed, "b_fired": r.last_fire_time}
            for r in new.alert_rules
            if prior_alerts.get(r.id) not in (None, r)
        ]
        if new.topup_rule is not None and new.topup_rule != old.topup_rule:
            rows.rules.append(topup_rule_row(new.topup_rule))
        for topup_id, topup in new.topups.items():
            prior = old.topups.get(topup_id)
            if prior is None:
                rows.new_topups.append(topup_row(topup))
            elif prior != topup:
                rows.changed_topups.append({"b_" + k: v for k, v in topup_row(topup).items()})
    return rows
