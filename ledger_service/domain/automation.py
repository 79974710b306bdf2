"""Automation after every write: automatic top-ups and low-balance alerts, as pure functions
(together, as they run together after each write and share the breach rules).

Both run on the wallet's state inside the write's transaction, after each operation, while the
wallet is locked. Writes to one wallet are serialised, so "exactly one top-up per breach" holds
however many debits cross the threshold at once.

- Top-up: when the available balance falls (strictly) below the rule's threshold, the rule is
  armed, no top-up is pending and any failure back-off has passed, buy `amount` (or enough to
  reach `target`), within the daily and monthly caps. The rule disarms until the balance is at or
  above the threshold again. IMMEDIATE grants at once; ON_CONFIRMATION waits for
  ConfirmTopUp/FailTopUp.
  A DENY debit refused for lack of credits first tries an IMMEDIATE top-up big enough to cover it
  (whole blocks of `amount`, an exact ceiling), so service is not interrupted (see
  `cover_shortfall`). That top-up's credits take effect at the debit's occurred_time, so they
  cover the usage they were bought for even though it occurred a moment before it was booked.
- Alerts: a rule fires once when available reaches its threshold or drops below it (at or below;
  DEPLETED: at or below 0), and re-arms, with an ALERT_RECOVERED event, only once available is
  above it again. A `min_interval` holds back a firing that comes too soon after the last one.
  PERCENT thresholds are a percentage of what was granted in the grants in force (effective, not
  expired, not voided), so monthly credits measure "25% of this month's credits left"; with
  nothing granted in force a PERCENT rule neither fires nor re-arms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from billing_common.money import exact, format_amount
from ledger_service.domain import ledger, pool
from ledger_service.domain.errors import InsufficientCredits, ScheduleNotFound
from ledger_service.domain.model import (
    ZERO,
    AlertKind,
    AlertRule,
    AllotmentSchedule,
    Automation,
    Entry,
    EventType,
    Grant,
    TopUp,
    TopUpPayment,
    TopUpRule,
    TopUpState,
    WalletEvent,
    WalletState,
    top_up_reference,
)

FAILURE_BACKOFF_BASE = timedelta(minutes=1)
FAILURE_BACKOFF_MAX = timedelta(days=1)

NewId = Callable[[], str]

DEFAULT_ALERTS: tuple[tuple[str, AlertKind, Decimal], ...] = (
    ("50% left", AlertKind.PERCENT, Decimal(50)),
    ("25% left", AlertKind.PERCENT, Decimal(25)),
    ("10% left", AlertKind.PERCENT, Decimal(10)),
    ("depleted", AlertKind.DEPLETED, ZERO),
)


def default_alert_rules(wallet_id: str, new_id: NewId) -> tuple[AlertRule, ...]:
    return tuple(AlertRule(new_id(), wallet_id, n, k, t) for n, k, t in DEFAULT_ALERTS)


def backoff(failures: int) -> timedelta:
    return min(FAILURE_BACKOFF_BASE * (1 << max(failures - 1, 0)), FAILURE_BACKOFF_MAX)


@exact
def granted_in_force(state: WalletState, at: datetime) -> Decimal:
    return sum(
        (
            g.amount
            for g in state.grants.values()
            if g.void_time is None
            and g.effective_time <= at
            and (g.expire_time is None or at < g.expire_time)
        ),
        ZERO,
    )


def _with_automation(state: WalletState, **changes: object) -> WalletState:
    # `changes` are Automation fields by keyword, checked by `replace` when it runs.
    return replace(state, automation=replace(state.automation, **changes))  # type: ignore[arg-type]


def _subscription(state: WalletState, rule: TopUpRule) -> AllotmentSchedule | None:
    """The schedule the rule's credits are bought under, if it names one."""
    if not rule.schedule_id:
        return None
    for schedule in state.automation.schedules:
        if schedule.id == rule.schedule_id:
            return schedule
    raise ScheduleNotFound(
        f"allotment schedule {rule.schedule_id!r} does not exist for wallet {state.wallet.id!r}"
    )


def set_topup_rule(state: WalletState, rule: TopUpRule) -> WalletState:
    """The wallet with `rule` as its top-up rule. A rule bought under a subscription must name a
    schedule of the same wallet (ScheduleNotFound otherwise)."""
    _subscription(state, rule)
    return _with_automation(state, topup_rule=rule)


def clear_topup_rule(state: WalletState) -> WalletState:
    """The wallet without a top-up rule: nothing starts a top-up any more. Pending top-ups stay
    (they are payments in flight, settled by ConfirmTopUp or FailTopUp)."""
    return _with_automation(state, topup_rule=None)


def _topup_expire_time(state: WalletState, rule: TopUpRule, now: datetime) -> datetime | None:
    """When credits bought now expire: the rule's expire_time, else now + expire_after, capped by
    the end of the subscription they are bought under (if known now)."""
    expire = rule.expire_time or (None if rule.expire_after is None else now + rule.expire_after)
    schedule = _subscription(state, rule)
    end = None if schedule is None else schedule.end_time
    if end is not None:
        expire = end if expire is None else min(expire, end)
    return expire


@exact
def _cap_room(auto: Automation, rule: TopUpRule) -> Decimal | None:
    """Credits the caps still allow today (None: no cap)."""
    rooms = []
    if rule.daily_cap is not None:
        rooms.append(rule.daily_cap - auto.topped_up_day)
    if rule.monthly_cap is not None:
        rooms.append(rule.monthly_cap - auto.topped_up_month)
    return min(rooms) if rooms else None


@exact
def _start_topup(
    state: WalletState,
    rule: TopUpRule,
    amount: Decimal,
    now: datetime,
    new_id: NewId,
    why: str,
    effective_time: datetime | None = None,
) -> ledger.Outcome:
    """Record a top-up of `amount` and, for IMMEDIATE payment, grant it (effective from
    `effective_time`, default now)."""
    auto = state.automation
    topup = TopUp(
        id=new_id(),
        wallet_id=state.wallet.id,
        amount=amount,
        unit_price=rule.unit_price,
        currency=rule.currency,
        state=TopUpState.PENDING,
        create_time=now,
        kind=rule.kind,
        priority=rule.priority,
        expire_time=_topup_expire_time(state, rule, now),
        schedule_id=rule.schedule_id,
    )
    state = _with_automation(
        state,
        topup_rule=replace(rule, armed=False),
        topups={**auto.topups, topup.id: topup},
        topped_up_day=auto.topped_up_day + amount,
        topped_up_month=auto.topped_up_month + amount,
    )
    created = WalletEvent(
        EventType.TOP_UP_CREATED,
        now,
        {
            "top_up_id": topup.id,
            "amount": format_amount(amount),
            "unit_price": format_amount(rule.unit_price),
            "currency": rule.currency,
            "payment": rule.payment.value,
            "reason": why,
        },
    )
    if rule.payment is TopUpPayment.ON_CONFIRMATION:
        return ledger.Outcome(state, [], [created])
    done = complete_topup(state, topup.id, now=now, new_id=new_id, effective_time=effective_time)
    return ledger.Outcome(done.state, done.entries, [created, *done.events])


def complete_topup(
    state: WalletState,
    topup_id: str,
    *,
    now: datetime,
    new_id: NewId,
    effective_time: datetime | None = None,
) -> ledger.Outcome:
    """Grant a top-up's credits (payment confirmed, or IMMEDIATE). They take effect now, or at
    `effective_time` (not after now) for a block bought to cover a debit: the debit may only burn
    grants effective at its occurred_time, which is usually a moment before it is booked. The grant
    is still booked now (create_time, the GRANT entry's book time), so balances as of an earlier
    instant do not see it and nothing booked before is rewritten."""
    topup = state.automation.topups[topup_id]
    new_grant = Grant(
        id=new_id(),
        wallet_id=state.wallet.id,
        kind=topup.kind,
        amount=topup.amount,
        remaining=topup.amount,
        priority=topup.priority,
        effective_time=now if effective_time is None else min(effective_time, now),
        expire_time=topup.expire_time
        if topup.expire_time is None or topup.expire_time > now
        else None,
        create_time=now,
        cost_unit_price=topup.unit_price,
        cost_currency=topup.currency,
        external_reference=top_up_reference(topup.id, topup.schedule_id),
    )
    granted = ledger.grant(
        state,
        new_grant,
        now=now,
        description=f"+{format_amount(topup.amount)} {ledger.unit_word(state.wallet.unit)}"
        " automatic top-up",
    )
    done = replace(topup, state=TopUpState.COMPLETED, end_time=now, grant_id=new_grant.id)
    state = _with_automation(
        granted.state, topups={**granted.state.automation.topups, topup_id: done}
    )
    event = WalletEvent(
        EventType.TOP_UP_COMPLETED,
        now,
        {"top_up_id": topup_id, "grant_id": new_grant.id, "amount": format_amount(topup.amount)},
    )
    return ledger.Outcome(state, granted.entries, [*granted.events, event])


def fail_topup(state: WalletState, topup_id: str, *, now: datetime, reason: str) -> ledger.Outcome:
    """A pending top-up's payment failed: nothing is granted, its amount no longer counts
    against the caps, and the rule backs off before trying again."""
    auto = state.automation
    topup = auto.topups[topup_id]
    failed = replace(topup, state=TopUpState.FAILED, end_time=now, failure_reason=reason)
    rule = auto.topup_rule
    changes: dict[str, object] = {
        "topups": {**auto.topups, topup_id: failed},
        "topped_up_day": auto.topped_up_day - topup.amount,
        "topped_up_month": auto.topped_up_month - topup.amount,
    }
    retry_after = None
    if rule is not None:
        failures = rule.failures + 1
        retry_after = now + backoff(failures)
        changes["topup_rule"] = replace(
            rule, armed=True, failures=failures, retry_after=retry_after
        )
    event = WalletEvent(
        EventType.TOP_UP_FAILED,
        now,
        {
            "top_up_id": topup_id,
            "reason": reason,
            "retry_after": retry_after.isoformat() if retry_after else "",
        },
    )
    return ledger.Outcome(_with_automation(state, **changes), [], [event])


def _topup_allowed(state: WalletState, now: datetime) -> TopUpRule | None:
    rule = state.automation.topup_rule
    if rule is None or not rule.enabled:
        return None
    if rule.expire_time is not None and now >= rule.expire_time:
        return None  # the subscription the credits belong to has ended
    schedule = _subscription(state, rule)
    if schedule is not None and schedule.end_time is not None and now >= schedule.end_time:
        return None  # so has the subscription the rule buys under
    if rule.retry_after is not None and now < rule.retry_after:
        return None
    if any(t.state is TopUpState.PENDING for t in state.automation.topups.values()):
        return None
    return rule


def _scaled(value: Decimal, exponent: int) -> int:
    """`value * 10**-exponent` as an exact integer (`exponent` at most value's own exponent)."""
    sign, digits, own = value.as_tuple()
    assert isinstance(own, int) and own >= exponent, "finite, with no more digits than asked"
    magnitude: int = int("".join(map(str, digits)) or "0") * 10 ** (own - exponent)
    return -magnitude if sign else magnitude


def whole_blocks(shortfall: Decimal, block: Decimal) -> int:
    """The fewest whole blocks that cover `shortfall`: ceil(shortfall / block), computed on exact
    integers (both scaled to their finer exponent), so no decimal context can round or trap."""
    assert shortfall > 0 and block > 0
    exponent = min(shortfall.as_tuple().exponent, block.as_tuple().exponent, 0)
    assert isinstance(exponent, int)
    return -(-_scaled(shortfall, exponent) // _scaled(block, exponent))


def times(block: Decimal, count: int) -> Decimal:
    """`count` blocks, exact whatever the context (the string constructor never rounds)."""
    exponent = block.as_tuple().exponent
    assert isinstance(exponent, int)
    return Decimal(f"{count * _scaled(block, exponent)}E{exponent}")


@exact
def cover_shortfall(
    state: WalletState,
    shortfall: Decimal,
    now: datetime,
    new_id: NewId,
    occurred_time: datetime | None = None,
) -> ledger.Outcome | None:
    """For a DENY debit refused for lack of credits: an IMMEDIATE top-up that covers it (whole
    blocks of the rule's amount, or up to the target and at least the shortfall), within caps.
    Its credits take effect at the debit's `occurred_time` (if earlier than now), so they cover
    the usage they were bought for."""
    rule = _topup_allowed(state, now)
    if rule is None or rule.payment is not TopUpPayment.IMMEDIATE:
        return None
    if rule.amount is not None:
        amount = times(rule.amount, whole_blocks(shortfall, rule.amount))
    else:
        assert rule.target is not None
        amount = max(rule.target - ledger.available(state, now), shortfall)
    room = _cap_room(state.automation, rule)
    if room is not None and amount > room:
        return None
    return _start_topup(state, rule, amount, now, new_id, "insufficient credits", occurred_time)


def debit_with_cover(
    state: WalletState, now: datetime, new_id: NewId, **debit: object
) -> ledger.Outcome:
    """A debit; when a DENY wallet cannot cover it, first an IMMEDIATE top-up that can, if the
    rule allows one (the refusal stands otherwise)."""
    # `debit` is ledger.debit's keywords, passed through (their types are its own).
    try:
        return ledger.debit(state, now=now, **debit)  # type: ignore[arg-type]
    except InsufficientCredits as refused:
        occurred = debit.get("occurred_time")
        assert occurred is None or isinstance(occurred, datetime)
        cover = cover_shortfall(state, refused.shortfall, now, new_id, occurred)
        if cover is None:
            raise
        done = ledger.debit(cover.state, now=now, **debit)  # type: ignore[arg-type]  # (as above)
        return ledger.Outcome(done.state, cover.entries + done.entries, cover.events + done.events)


def then_automate(
    outcome: ledger.Outcome, now: datetime, new_id: NewId, *, alerts: bool = True
) -> ledger.Outcome:
    """An operation's outcome followed by automation (top-ups, then alerts unless the caller
    evaluates them later itself) and its events."""
    auto = automate(outcome.state, now, new_id, alerts=alerts)
    return ledger.Outcome(auto.state, outcome.entries + auto.entries, outcome.events + auto.events)


@exact
def automate(
    state: WalletState, now: datetime, new_id: NewId, *, alerts: bool = True
) -> ledger.Outcome:
    """Run the top-up rule, then (with `alerts`) the alert rules, against the balance after a
    write. Top-ups run after every write (a debit may need the credits the one before it bought);
    alerts only observe the balance, so a transaction of many writes may evaluate them once, on
    the balance it leaves (`evaluate_alerts`)."""
    entries: list[Entry] = []
    events: list[WalletEvent] = []
    rule = state.automation.topup_rule
    if rule is not None and not rule.armed and ledger.available(state, now) >= rule.threshold:
        state = _with_automation(state, topup_rule=replace(rule, armed=True))
    rule = _topup_allowed(state, now)
    # Computed only for a rule that may buy (a wallet without one spends nothing here).
    available = ledger.available(state, now) if rule is not None and rule.armed else ZERO
    if rule is not None and rule.armed and available < rule.threshold:
        amount = rule.amount if rule.amount is not None else (rule.target or ZERO) - available
        room = _cap_room(state.automation, rule)
        if room is not None:
            amount = min(amount, room)
        if amount > 0:
            started = _start_topup(state, rule, amount, now, new_id, "balance below threshold")
            state, entries, events = started.state, started.entries, started.events
        else:  # capped: stay quiet until the balance recovers
            state = _with_automation(state, topup_rule=replace(rule, armed=False))
    if not alerts:
        return ledger.Outcome(state, entries, events)
    alerted = evaluate_alerts(state, now)
    return ledger.Outcome(alerted.state, entries, events + alerted.events)


@exact
def _member_alert(
    state: WalletState, rule: AlertRule, now: datetime, events: list[WalletEvent]
) -> AlertRule:
    """A rule on a pool member's budget: what remains of it (`pool.remaining`) measured as the
    pool's available balance is (ABSOLUTE: an amount left; PERCENT: a percentage of the budget
    left; DEPLETED: nothing left). Evaluated when a write of the transaction named the member
    (its spend is loaded then); a member with no budget, or not named, leaves the rule as is."""
    usage = state.members.get(rule.member_id)
    limit = None if usage is None else pool.budget(usage.member)
    if usage is None or limit is None:
        return rule
    left = limit - usage.spent - pool.held(state, rule.member_id, now)
    if rule.kind is AlertKind.DEPLETED:
        threshold = ZERO
    elif rule.kind is AlertKind.ABSOLUTE:
        threshold = rule.threshold
    else:
        threshold = limit * rule.threshold / 100
    breached = left <= threshold
    data = {
        "rule_id": rule.id,
        "name": rule.name,
        "member_id": rule.member_id,
        "threshold": format_amount(threshold),
        "remaining": format_amount(left),
        "budget": format_amount(limit),
    }
    too_soon = (
        rule.min_interval is not None
        and rule.last_fire_time is not None
        and now - rule.last_fire_time < rule.min_interval
    )
    if breached and rule.armed and not too_soon:
        events.append(WalletEvent(EventType.ALERT_FIRED, now, data))
        return replace(rule, armed=False, last_fire_time=now)
    if not breached and not rule.armed:
        events.append(WalletEvent(EventType.ALERT_RECOVERED, now, data))
        return replace(rule, armed=True)
    return rule


@exact
def evaluate_alerts(state: WalletState, now: datetime) -> ledger.Outcome:
    available = ledger.available(state, now)
    base = granted_in_force(state, now)
    rules: list[AlertRule] = []
    events: list[WalletEvent] = []
    for rule in state.automation.alert_rules:
        if rule.member_id:
            rules.append(_member_alert(state, rule, now, events))
            continue
        if rule.kind is AlertKind.DEPLETED:
            threshold = ZERO
        elif rule.kind is AlertKind.ABSOLUTE:
            threshold = rule.threshold
        elif base > 0:
            threshold = base * rule.threshold / 100
        else:  # a share of nothing granted: the rule neither fires nor re-arms
            rules.append(rule)
            continue
        # Reached or dropped below (seed 003): at the threshold is a breach; only above re-arms.
        breached = available <= threshold
        data = {
            "rule_id": rule.id,
            "name": rule.name,
            "threshold": format_amount(threshold),
            "available": format_amount(available),
        }
        too_soon = (
            rule.min_interval is not None
            and rule.last_fire_time is not None
            and now - rule.last_fire_time < rule.min_interval
        )
        if breached and rule.armed and not too_soon:
            rule = replace(rule, armed=False, last_fire_time=now)
            events.append(WalletEvent(EventType.ALERT_FIRED, now, data))
        elif not breached and not rule.armed:
            rule = replace(rule, armed=True)
            events.append(WalletEvent(EventType.ALERT_RECOVERED, now, data))
        rules.append(rule)
    return ledger.Outcome(_with_automation(state, alert_rules=tuple(rules)), [], events)
