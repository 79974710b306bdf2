"""Automation and events, requests to commands and domain values to messages: top-up rules and
top-ups, alert rules, allotment schedules, wallet events (the shared rules: convert.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal

from billing.ledger.v1 import ledger_pb2 as pb

from billing_common.errors import InvalidArgument, require
from billing_common.money import format_amount, parse_amount
from billing_common.protoconv import duration, timestamp, to_datetime, to_timedelta
from ledger_service.adapters.grpc.convert import (
    ALERT,
    CADENCE,
    CURRENCY,
    EVENT_TYPE,
    EXPIRE_AFTER_MAX,
    EXPIRY,
    KIND,
    PAYMENT,
    TOPUP_STATE,
    idem,
    identifier,
    member,
)
from ledger_service.app import commands as cmd
from ledger_service.app.ports import StoredEvent
from ledger_service.domain.model import (
    ZERO,
    AlertKind,
    AlertRule,
    AllotmentExpiry,
    AllotmentSchedule,
    TopUp,
    TopUpRule,
)

ALERT_RULES_MAX = 20


def _optional_amount(text: str, field: str) -> Decimal | None:
    return parse_amount(text, field) if text else None


def topup_rule(r: pb.SetTopUpRuleRequest) -> tuple[cmd.Idem, TopUpRule]:
    rule = r.rule
    if (rule.amount != "") == (rule.target_balance != ""):
        raise InvalidArgument.field(
            "rule.amount", "set exactly one of amount and target_balance", "INVALID_TOP_UP_RULE"
        )
    threshold = parse_amount(
        require(rule.threshold, "rule.threshold"), "rule.threshold", allow_zero=True
    )
    target = _optional_amount(rule.target_balance, "rule.target_balance")
    if target is not None and target <= threshold:
        raise InvalidArgument.field(
            "rule.target_balance", "must be above the threshold", "INVALID_TOP_UP_RULE"
        )
    expire_after = to_timedelta(rule, "expire_after", "rule.expire_after")
    if expire_after is not None and not timedelta(0) < expire_after <= EXPIRE_AFTER_MAX:
        raise InvalidArgument.field(
            "rule.expire_after", "must be positive, at most 100 years", "INVALID_DURATION"
        )
    price = parse_amount(rule.unit_price or "0", "rule.unit_price", allow_zero=True)
    if rule.currency and not CURRENCY.fullmatch(rule.currency):
        raise InvalidArgument.field(
            "rule.currency", "an ISO 4217 code such as USD", "INVALID_CURRENCY"
        )
    if price > 0 and not rule.currency:
        raise InvalidArgument.field(
            "rule.currency", "is required with a unit price", "MISSING_FIELD"
        )
    return idem(r, "SetTopUpRule"), TopUpRule(
        wallet_id=identifier(rule.wallet_id, "rule.wallet_id"),
        threshold=threshold,
        amount=_optional_amount(rule.amount, "rule.amount"),
        target=target,
        kind=KIND.required(rule.kind, "rule.kind"),
        priority=rule.priority,
        expire_after=expire_after,
        unit_price=price,
        currency=rule.currency,
        daily_cap=_optional_amount(rule.daily_cap, "rule.daily_cap"),
        monthly_cap=_optional_amount(rule.monthly_cap, "rule.monthly_cap"),
        payment=PAYMENT.required(rule.payment, "rule.payment"),
        enabled=not rule.paused,
        expire_time=to_datetime(rule, "expire_time", "rule.expire_time"),
        schedule_id=identifier(rule.schedule_id, "rule.schedule_id") if rule.schedule_id else "",
    )


def schedule(r: pb.CreateAllotmentScheduleRequest) -> tuple[cmd.Idem, AllotmentSchedule]:
    s = r.schedule
    expiry = EXPIRY.required(s.expiry, "schedule.expiry")
    expire_after = to_timedelta(s, "expire_after", "schedule.expire_after")
    needs_duration = expiry is AllotmentExpiry.AFTER_DURATION
    if needs_duration and (expire_after is None or expire_after <= timedelta(0)):
        raise InvalidArgument.field(
            "schedule.expire_after",
            "a positive duration is required with AFTER_DURATION",
            "INVALID_DURATION",
        )
    if expire_after is not None and expire_after > EXPIRE_AFTER_MAX:
        raise InvalidArgument.field(
            "schedule.expire_after", "at most 100 years", "INVALID_DURATION"
        )
    anchor = to_datetime(s, "anchor_time", "schedule.anchor_time")
    if anchor is None:
        raise InvalidArgument.field("schedule.anchor_time", "is required", "MISSING_FIELD")
    end = to_datetime(s, "end_time", "schedule.end_time")
    if end is not None and end <= anchor:
        raise InvalidArgument.field(
            "schedule.end_time", "must be after anchor_time", "INVALID_TIME_RANGE"
        )
    price = parse_amount(s.unit_price or "0", "schedule.unit_price", allow_zero=True)
    if s.currency and not CURRENCY.fullmatch(s.currency):
        raise InvalidArgument.field(
            "schedule.currency", "an ISO 4217 code such as USD", "INVALID_CURRENCY"
        )
    cap = s.rollover_cap
    return idem(r, "CreateAllotmentSchedule"), AllotmentSchedule(
        id="",
        wallet_id=identifier(s.wallet_id, "schedule.wallet_id"),
        amount=parse_amount(s.amount, "schedule.amount"),
        kind=KIND.required(s.kind, "schedule.kind"),
        priority=s.priority,
        cadence=CADENCE.required(s.cadence, "schedule.cadence"),
        anchor=anchor,
        expiry=expiry,
        expire_after=expire_after if needs_duration else None,
        rollover_cap=parse_amount(cap, "schedule.rollover_cap", allow_zero=True) if cap else None,
        end_time=end,
        unit_price=price,
        currency=s.currency,
        description=s.description,
    )


def schedule_out(s: AllotmentSchedule) -> pb.AllotmentSchedule:
    message = pb.AllotmentSchedule(
        schedule_id=s.id,
        wallet_id=s.wallet_id,
        amount=format_amount(s.amount),
        kind=KIND.out(s.kind),
        priority=s.priority,
        cadence=CADENCE.out(s.cadence),
        anchor_time=timestamp(s.anchor),
        expiry=EXPIRY.out(s.expiry),
        rollover_cap=format_amount(s.rollover_cap) if s.rollover_cap is not None else "",
        periods_granted=s.next_index,
        unit_price=format_amount(s.unit_price),
        currency=s.currency,
        description=s.description,
    )
    if s.expire_after is not None:
        message.expire_after.CopyFrom(duration(s.expire_after))
    if s.end_time is not None:
        message.end_time.CopyFrom(timestamp(s.end_time))
    return message


def alert_rules(r: pb.SetAlertRulesRequest) -> list[AlertRule]:
    if len(r.rules) > ALERT_RULES_MAX:
        raise InvalidArgument.field(
            "rules", f"at most {ALERT_RULES_MAX} rules", "INVALID_ALERT_RULE"
        )
    found = []
    for i, rule in enumerate(r.rules):
        path = f"rules[{i}]."
        kind = ALERT.required(rule.kind, path + "kind")
        threshold = ZERO
        if kind is not AlertKind.DEPLETED:
            threshold = parse_amount(
                require(rule.threshold, path + "threshold"), path + "threshold", allow_zero=True
            )
        if kind is AlertKind.PERCENT and not 0 < threshold <= 100:
            raise InvalidArgument.field(
                path + "threshold", "a percentage above 0, at most 100", "INVALID_ALERT_RULE"
            )
        interval = to_timedelta(rule, "min_interval", path + "min_interval")
        if interval is not None and interval < timedelta(0):
            raise InvalidArgument.field(
                path + "min_interval", "must not be negative", "INVALID_DURATION"
            )
        name = rule.name or (
            f"{format_amount(threshold)}% left" if kind is AlertKind.PERCENT else kind.value.lower()
        )
        member_id = member(rule.member_id, path + "member_id")
        found.append(AlertRule("", "", name, kind, threshold, interval, member_id=member_id))
    return found


def event_types(values: Iterable[int]) -> tuple[str, ...]:
    return tuple(t.value for t in EVENT_TYPE.each(values, "types"))


def topup_rule_out(rule: TopUpRule) -> pb.TopUpRule:
    message = pb.TopUpRule(
        wallet_id=rule.wallet_id,
        threshold=format_amount(rule.threshold),
        amount=format_amount(rule.amount) if rule.amount is not None else "",
        target_balance=format_amount(rule.target) if rule.target is not None else "",
        kind=KIND.out(rule.kind),
        priority=rule.priority,
        unit_price=format_amount(rule.unit_price),
        currency=rule.currency,
        daily_cap=format_amount(rule.daily_cap) if rule.daily_cap is not None else "",
        monthly_cap=format_amount(rule.monthly_cap) if rule.monthly_cap is not None else "",
        payment=PAYMENT.out(rule.payment),
        paused=not rule.enabled,
        schedule_id=rule.schedule_id,
    )
    if rule.expire_after is not None:
        message.expire_after.CopyFrom(duration(rule.expire_after))
    if rule.expire_time is not None:
        message.expire_time.CopyFrom(timestamp(rule.expire_time))
    return message


def topup(t: TopUp) -> pb.TopUp:
    message = pb.TopUp(
        top_up_id=t.id,
        wallet_id=t.wallet_id,
        amount=format_amount(t.amount),
        unit_price=format_amount(t.unit_price),
        currency=t.currency,
        state=TOPUP_STATE.out(t.state),
        create_time=timestamp(t.create_time),
        grant_id=t.grant_id,
        failure_reason=t.failure_reason,
    )
    if t.end_time is not None:
        message.end_time.CopyFrom(timestamp(t.end_time))
    return message


def alert_rule_out(rule: AlertRule) -> pb.AlertRule:
    message = pb.AlertRule(
        rule_id=rule.id,
        wallet_id=rule.wallet_id,
        name=rule.name,
        kind=ALERT.out(rule.kind),
        threshold=format_amount(rule.threshold),
        armed=rule.armed,
        member_id=rule.member_id,
    )
    if rule.min_interval is not None:
        message.min_interval.CopyFrom(duration(rule.min_interval))
    if rule.last_fire_time is not None:
        message.last_fire_time.CopyFrom(timestamp(rule.last_fire_time))
    return message


def wallet_event(e: StoredEvent) -> pb.WalletEvent:
    return pb.WalletEvent(
        cursor=e.seq,
        event_id=e.id,
        wallet_id=e.wallet_id,
        type=EVENT_TYPE.out(e.event.type),
        occurred_time=timestamp(e.event.occurred_time),
        data_json=json.dumps(e.event.data, sort_keys=True),
    )
