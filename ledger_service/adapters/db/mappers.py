"""The ledger's rows and domain values, each way: a row (a SQLAlchemy row by attribute, an asyncpg
record by key) to a domain value, and a domain value to the row that stores it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_

from billing_common.rowmap import Codec, RowMap
from ledger_service.adapters.db.tables import (
    grants,
)
from ledger_service.domain.model import (
    AlertRule,
    Allocation,
    AllotmentSchedule,
    Automation,
    Grant,
    GrantState,
    Hold,
    TopUp,
    TopUpRule,
    Wallet,
    WalletState,
)
from ledger_service.domain.pool import PoolMember

# Each entity's row, derived from its dataclass (billing_common/rowmap.py).
WALLET = RowMap(Wallet)
# A grant's features: a text[] column (a list), a tuple in the domain.
GRANT = RowMap(Grant, codecs={"features": Codec(list, tuple)})
HOLD = RowMap(Hold, not_stored=["allocations"])  # its allocations have a table of their own
ALERT_RULE = RowMap(AlertRule)
MEMBER = RowMap(PoolMember)
TOPUP_RULE = RowMap(TopUpRule, empty_is_null=["schedule_id"])
TOPUP = RowMap(TopUp, empty_is_null=["schedule_id"])
SCHEDULE = RowMap(
    AllotmentSchedule,
    columns={"anchor": "anchor_time"},
    computed={"next_time": lambda s: s.start(s.next_index)},  # what the sweeper looks up
)

to_wallet = WALLET.load
to_grant = GRANT.load
grant_row = GRANT.dump
to_alert_rule = ALERT_RULE.load
member_row = MEMBER.dump
topup_rule_row = TOPUP_RULE.dump
to_topup = TOPUP.load
topup_row = TOPUP.dump
to_schedule = SCHEDULE.load
schedule_row = SCHEDULE.dump


def to_hold(row: Any, allocs: Sequence[Allocation]) -> Hold:
    return HOLD.load(row, allocations=tuple(allocs))


def to_locked_state(record: Any) -> WalletState:
    """A wallet's row of `hot.LOCK_WALLETS` as the start of its state."""
    wallet = WALLET.load_record(record)
    return WalletState(wallet, {}, record["overage"], book_time=record["last_book_time"])


def to_hold_with_allocations(row: Any) -> Hold:
    """A hold from `hot.HOLD`: its allocations come as two arrays."""
    allocs = [
        Allocation(g, a) for g, a in zip(row["alloc_grants"], row["alloc_amounts"], strict=True)
    ]
    return HOLD.load_record(row, allocations=tuple(allocs))


def to_loaded_state(state: WalletState, row: Any) -> WalletState:
    """A locked wallet's state from its row of `hot.LOAD_STATES`."""
    allocs: dict[str, list[Allocation]] = {}
    for a in row["hold_allocations"]:
        allocs.setdefault(a["hold_id"], []).append(Allocation(a["grant_id"], a["amount"]))
    topup_rule = row["topup_rule"]
    return replace(
        state,
        grants={g["id"]: GRANT.load_record(g) for g in row["grants"]},
        holds={
            h["id"]: HOLD.load_record(h, allocations=tuple(allocs.get(h["id"], [])))
            for h in row["holds"]
        },
        automation=Automation(
            schedules=tuple(SCHEDULE.load_record(s) for s in row["schedules"]),
            alert_rules=tuple(ALERT_RULE.load_record(r) for r in row["alert_rules"]),
            topup_rule=None if topup_rule is None else TOPUP_RULE.load_record(topup_rule),
            topups={p["id"]: TOPUP.load_record(p) for p in row["pending"]},
            topped_up_day=row["in_day"],
            topped_up_month=row["in_month"],
        ),
    )


def in_force_at(state: WalletState, now: datetime) -> WalletState:
    """The state without the consumed grants not in force at `now` (`hot.CLAIM_LOCK_LOAD` reads
    those in force after an earlier time; `LOAD_STATES` reads exactly those at `now`)."""

    def kept(g: Grant) -> bool:
        return (
            g.remaining > 0
            or g.overage_paid > g.overage_returned
            or (
                g.void_time is None
                and g.effective_time <= now
                and (g.expire_time is None or g.expire_time > now)
            )
        )

    if all(kept(g) for g in state.grants.values()):
        return state
    return replace(state, grants={i: g for i, g in state.grants.items() if kept(g)})


def to_state_now(row: Any) -> WalletState:
    """A wallet now from its row of `hot.STATE_NOW` (its automation holds only its schedules)."""
    allocs: dict[str, list[Allocation]] = {}
    for a in row["active_hold_allocations"]:
        allocs.setdefault(a["hold_id"], []).append(Allocation(a["grant_id"], a["amount"]))
    return WalletState(
        WALLET.load_record(row),
        {g["id"]: GRANT.load_record(g) for g in row["live_grants"]},
        row["overage"],
        {
            h["id"]: HOLD.load_record(h, allocations=tuple(allocs.get(h["id"], [])))
            for h in row["active_holds"]
        },
        book_time=row["last_book_time"],
        automation=Automation(
            schedules=tuple(SCHEDULE.load_record(s) for s in row["wallet_schedules"])
        ),
    )


def to_authorize_state(row: Any) -> WalletState:
    """A wallet now from its row of `hot.AUTHORIZE_STATE_NOW`: `to_state_now`'s, with the
    top-up rule, pending top-ups and the credits topped up today and this month."""
    state = to_state_now(row)
    rule = row["topup_rule"]
    return replace(
        state,
        automation=replace(
            state.automation,
            topup_rule=None if rule is None else TOPUP_RULE.load_record(rule),
            topups={p["id"]: TOPUP.load_record(p) for p in row["pending"]},
            topped_up_day=row["in_day"],
            topped_up_month=row["in_month"],
        ),
    )


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
