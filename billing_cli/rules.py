"""A wallet's automation: the top-up rule and its top-ups, alert rules, allotment schedules."""

from __future__ import annotations

from typing import Annotated

import typer
from billing.ledger.v1 import ledger_pb2 as pb

from billing_cli import parse
from billing_cli.choices import AlertKind, AllotmentCadence, AllotmentExpiry, Kind, Payment
from billing_cli.ledger import RequestId, list_pages
from billing_cli.render import enum, pairs, table, when
from billing_cli.state import State, state_of, to_dict

top_ups = typer.Typer(
    help="The automatic top-up rule of a wallet, and its top-ups.", no_args_is_help=True
)
alerts = typer.Typer(help="Low-balance alert rules of a wallet.", no_args_is_help=True)
allotments = typer.Typer(
    help="Recurring allotments: credits granted every period.", no_args_is_help=True
)


def _seconds(message: pb.TopUpRule | pb.AllotmentSchedule | pb.AlertRule, field: str) -> str:
    return f"{getattr(message, field).seconds}s" if message.HasField(field) else ""


# --- top-ups -------------------------------------------------------------------------------------


@top_ups.command("set")
def top_ups_set(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    threshold: Annotated[str, typer.Option(help="Top up when available falls below this.")],
    amount: Annotated[str | None, typer.Option(help="Grant this much (or --target).")] = None,
    target: Annotated[
        str | None, typer.Option(help="Or grant enough to bring available to this.")
    ] = None,
    unit_price: Annotated[str, typer.Option(help="Price of one credit.")] = "0",
    currency: Annotated[str, typer.Option(help="ISO currency of the price.")] = "USD",
    kind: Annotated[Kind, typer.Option(help="Kind of the credits granted.")] = Kind.prepaid,
    priority: Annotated[int, typer.Option(help="Burn-down priority; lower burns first.")] = 0,
    expire_after: Annotated[
        str | None, typer.Option(help="The credits last this long (30d); default forever.")
    ] = None,
    daily_cap: Annotated[str, typer.Option(help="At most this many credits a UTC day.")] = "",
    monthly_cap: Annotated[str, typer.Option(help="At most this many a UTC month.")] = "",
    payment: Annotated[
        Payment, typer.Option(help="immediate, or pending until `top-ups confirm`.")
    ] = Payment.immediate,
    paused: Annotated[bool, typer.Option(help="Keep the rule but make no top-ups.")] = False,
    request_id: RequestId = None,
) -> None:
    """Create or replace a wallet's automatic top-up rule (--paused to stop it)."""
    state = state_of(ctx)
    rule = pb.TopUpRule(
        wallet_id=wallet_id,
        threshold=parse.amount(threshold, name="--threshold", allow_zero=True),
        kind=kind.proto,
        priority=priority,
        unit_price=parse.amount(unit_price, name="--unit-price", allow_zero=True),
        currency=currency,
        daily_cap=daily_cap and parse.amount(daily_cap, name="--daily-cap"),
        monthly_cap=monthly_cap and parse.amount(monthly_cap, name="--monthly-cap"),
        payment=payment.proto,
        paused=paused,
    )
    if amount is not None:
        rule.amount = parse.amount(amount, name="--amount")
    if target is not None:
        rule.target_balance = parse.amount(target, name="--target")
    if expire_after is not None:
        rule.expire_after.CopyFrom(parse.duration(expire_after, name="--expire-after"))
    rid = state.request_id(request_id)
    response: pb.SetTopUpRuleResponse = state.call(
        state.ledger.SetTopUpRule,
        pb.SetTopUpRuleRequest(request_id=rid, rule=rule),
        name="SetTopUpRule",
        request_id=rid,
    )
    _show_rule(state, "Top-up rule", response.rule)


@top_ups.command("get")
def top_ups_get(ctx: typer.Context, wallet_id: Annotated[str, typer.Argument()]) -> None:
    """Show a wallet's automatic top-up rule (NOT_FOUND when it has none)."""
    state = state_of(ctx)
    request = pb.GetTopUpRuleRequest(wallet_id=wallet_id)
    rule = state.call(state.ledger.GetTopUpRule, request, name="GetTopUpRule").rule
    _show_rule(state, "Top-up rule", rule)


@top_ups.command("clear")
def top_ups_clear(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    request_id: RequestId = None,
) -> None:
    """Remove a wallet's automatic top-up rule (pending top-ups stay pending). Shows the rule
    removed; NOT_FOUND when the wallet has none."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    response: pb.ClearTopUpRuleResponse = state.call(
        state.ledger.ClearTopUpRule,
        pb.ClearTopUpRuleRequest(request_id=rid, wallet_id=wallet_id),
        name="ClearTopUpRule",
        request_id=rid,
    )
    _show_rule(state, "Top-up rule removed", response.rule)


def _show_rule(state: State, title: str, r: pb.TopUpRule) -> None:
    state.emit(
        to_dict(r),
        lambda: state.out.print(
            pairs(
                title,
                [
                    ("wallet", r.wallet_id),
                    ("below", r.threshold),
                    ("grant", r.amount or f"up to {r.target_balance}"),
                    ("price", f"{r.unit_price} {r.currency}"),
                    ("kind", enum(r, "kind")),
                    ("expire after", _seconds(r, "expire_after") or "never"),
                    ("caps", f"daily {r.daily_cap or '-'}, monthly {r.monthly_cap or '-'}"),
                    ("payment", enum(r, "payment")),
                    ("paused", "yes" if r.paused else "no"),
                ],
            )
        ),
    )


TOP_UP_COLUMNS = ["Top-up", "State", "Amount", "Price", "Created", "Ended", "Grant"]


def _top_up_rows(items: list[pb.TopUp]) -> list[list[object]]:
    return [
        [
            t.top_up_id,
            enum(t, "state"),
            t.amount,
            f"{t.unit_price} {t.currency}",
            when(t, "create_time"),
            when(t, "end_time"),
            t.grant_id or t.failure_reason,
        ]
        for t in items
    ]


@top_ups.command("list")
def top_ups_list(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    page_token: Annotated[str, typer.Option(help="Continue from a previous listing.")] = "",
) -> None:
    """The top-ups made for a wallet, newest first."""
    state = state_of(ctx)
    list_pages(
        state,
        state.ledger.ListTopUps,
        lambda size, tok: pb.ListTopUpsRequest(wallet_id=wallet_id, page_size=size, page_token=tok),
        "top_ups",
        limit,
        page_token,
        TOP_UP_COLUMNS,
        _top_up_rows,
    )


def _show_top_up(state: State, top_up: pb.TopUp) -> None:
    state.emit(
        to_dict(top_up),
        lambda: state.out.print(table("Top-up", TOP_UP_COLUMNS, _top_up_rows([top_up]))),
    )


@top_ups.command("confirm")
def top_ups_confirm(
    ctx: typer.Context, top_up_id: Annotated[str, typer.Argument()], request_id: RequestId = None
) -> None:
    """A pending top-up was paid: grant its credits."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.ConfirmTopUpRequest(request_id=rid, top_up_id=top_up_id)
    response = state.call(state.ledger.ConfirmTopUp, request, name="ConfirmTopUp", request_id=rid)
    _show_top_up(state, response.top_up)


@top_ups.command("fail")
def top_ups_fail(
    ctx: typer.Context,
    top_up_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why the payment failed.")] = "",
    request_id: RequestId = None,
) -> None:
    """A pending top-up's payment failed: grant nothing; the next attempt backs off."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.FailTopUpRequest(request_id=rid, top_up_id=top_up_id, reason=reason)
    response = state.call(state.ledger.FailTopUp, request, name="FailTopUp", request_id=rid)
    _show_top_up(state, response.top_up)


# --- alerts --------------------------------------------------------------------------------------

ALERT_COLUMNS = [
    "Rule",
    "Name",
    "Member",
    "Kind",
    "Threshold",
    "Min interval",
    "Armed",
    "Last fired",
]


def _show_alerts(state: State, rules: list[pb.AlertRule]) -> None:
    rows = [
        [
            r.rule_id,
            r.name,
            r.member_id or "(wallet)",
            enum(r, "kind"),
            r.threshold,
            _seconds(r, "min_interval"),
            "yes" if r.armed else "no",
            when(r, "last_fire_time"),
        ]
        for r in rules
    ]
    state.emit(
        {"rules": [to_dict(r) for r in rules]},
        lambda: state.out.print(table(None, ALERT_COLUMNS, rows)),
    )


def _alert(text: str) -> pb.AlertRule:
    """KIND[:THRESHOLD[:NAME]], for example percent:25:quarter-left, absolute:100, depleted."""
    kind, _, rest = text.partition(":")
    threshold, _, name = rest.partition(":")
    try:
        choice = AlertKind(kind)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: the kind is one of absolute, percent, depleted", param_hint="--rule"
        ) from None
    if threshold:
        parse.amount(threshold, name="--rule", allow_zero=True)
    return pb.AlertRule(kind=choice.proto, threshold=threshold, name=name or text)


@alerts.command("set")
def alerts_set(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    rules: Annotated[
        list[str] | None,
        typer.Option(
            "--rule",
            metavar="KIND[:THRESHOLD[:NAME]]",
            help="percent:25, absolute:100:low, depleted (repeatable; none: the defaults).",
        ),
    ] = None,
    min_interval: Annotated[
        str | None, typer.Option(help="At least this long between firings of a rule (1h).")
    ] = None,
    member_rules: Annotated[
        list[str] | None,
        typer.Option(
            "--member-rule",
            metavar="MEMBER=KIND[:THRESHOLD[:NAME]]",
            help="A rule on a pool member's budget (what is left of it), team-a=percent:25"
            " (repeatable).",
        ),
    ] = None,
    request_id: RequestId = None,
) -> None:
    """Replace a wallet's alert rules, its own (--rule) and its pool members' (--member-rule);
    neither restores the defaults."""
    state = state_of(ctx)
    wanted = [_alert(text) for text in rules or []]
    for text in member_rules or []:
        member, sep, spec = text.partition("=")
        if not sep or not member:
            raise typer.BadParameter(
                f"{text!r}: MEMBER=KIND[:THRESHOLD[:NAME]]", param_hint="--member-rule"
            )
        wanted.append(_alert(spec))
        wanted[-1].member_id = member
    if min_interval is not None:
        interval = parse.duration(min_interval, name="--min-interval")
        for rule in wanted:
            rule.min_interval.CopyFrom(interval)
    rid = state.request_id(request_id)
    request = pb.SetAlertRulesRequest(request_id=rid, wallet_id=wallet_id, rules=wanted)
    response = state.call(state.ledger.SetAlertRules, request, name="SetAlertRules", request_id=rid)
    _show_alerts(state, list(response.rules))


@alerts.command("list")
def alerts_list(ctx: typer.Context, wallet_id: Annotated[str, typer.Argument()]) -> None:
    """A wallet's alert rules, with whether each is armed."""
    state = state_of(ctx)
    request = pb.ListAlertRulesRequest(wallet_id=wallet_id)
    response = state.call(state.ledger.ListAlertRules, request, name="ListAlertRules")
    _show_alerts(state, list(response.rules))


# --- allotments ----------------------------------------------------------------------------------

ALLOTMENT_COLUMNS = ["Schedule", "Amount", "Cadence", "Anchor", "Expiry", "Ends", "Periods"]


def _show_schedules(state: State, items: list[pb.AllotmentSchedule], title: str | None) -> None:
    rows = [
        [
            s.schedule_id,
            s.amount,
            enum(s, "cadence"),
            when(s, "anchor_time"),
            enum(s, "expiry")
            + (f" {_seconds(s, 'expire_after')}" if s.expire_after.seconds else ""),
            when(s, "end_time") or "never",
            s.periods_granted,
        ]
        for s in items
    ]
    data = to_dict(items[0]) if title else {"schedules": [to_dict(s) for s in items]}
    state.emit(data, lambda: state.out.print(table(title, ALLOTMENT_COLUMNS, rows)))


@allotments.command("create")
def allotments_create(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    amount: Annotated[str, typer.Argument(help="Credits granted each period.")],
    anchor: Annotated[str, typer.Option(help="When the first period starts (ISO).")],
    cadence: Annotated[
        AllotmentCadence, typer.Option(help="How often.")
    ] = AllotmentCadence.monthly,
    expiry: Annotated[
        AllotmentExpiry, typer.Option(help="When each period's credits expire.")
    ] = AllotmentExpiry.end_of_period,
    expire_after: Annotated[
        str | None, typer.Option(help="With --expiry after-duration: how long (45d).")
    ] = None,
    rollover_cap: Annotated[str, typer.Option(help="At most this much rolls over.")] = "",
    end: Annotated[str | None, typer.Option(help="No periods from then on (ISO).")] = None,
    kind: Annotated[Kind, typer.Option(help="Kind of the credits.")] = Kind.promotional,
    priority: Annotated[int, typer.Option(help="Burn-down priority; lower burns first.")] = 0,
    unit_price: Annotated[str, typer.Option(help="Cost basis: price of one credit.")] = "",
    currency: Annotated[str, typer.Option(help="Cost basis currency.")] = "",
    description: Annotated[str, typer.Option(help="History line of each grant.")] = "",
    request_id: RequestId = None,
) -> None:
    """Grant AMOUNT credits at the start of every period (a subscription's allowance)."""
    state = state_of(ctx)
    schedule = pb.AllotmentSchedule(
        wallet_id=wallet_id,
        amount=parse.amount(amount),
        kind=kind.proto,
        priority=priority,
        cadence=cadence.proto,
        anchor_time=parse.timestamp(anchor, name="--anchor"),
        expiry=expiry.proto,
        rollover_cap=rollover_cap and parse.amount(rollover_cap, name="--rollover-cap"),
        unit_price=unit_price and parse.amount(unit_price, name="--unit-price", allow_zero=True),
        currency=currency,
        description=description,
    )
    if expire_after is not None:
        schedule.expire_after.CopyFrom(parse.duration(expire_after, name="--expire-after"))
    if end is not None:
        schedule.end_time.CopyFrom(parse.timestamp(end, name="--end"))
    rid = state.request_id(request_id)
    request = pb.CreateAllotmentScheduleRequest(request_id=rid, schedule=schedule)
    response = state.call(
        state.ledger.CreateAllotmentSchedule,
        request,
        name="CreateAllotmentSchedule",
        request_id=rid,
    )
    _show_schedules(state, [response.schedule], "Allotment schedule")


@allotments.command("list")
def allotments_list(ctx: typer.Context, wallet_id: Annotated[str, typer.Argument()]) -> None:
    """A wallet's allotment schedules."""
    state = state_of(ctx)
    request = pb.ListAllotmentSchedulesRequest(wallet_id=wallet_id)
    response = state.call(
        state.ledger.ListAllotmentSchedules, request, name="ListAllotmentSchedules"
    )
    _show_schedules(state, list(response.schedules), None)


@allotments.command("end")
def allotments_end(
    ctx: typer.Context,
    schedule_id: Annotated[str, typer.Argument()],
    at: Annotated[str | None, typer.Option("--at", help="When (ISO); default now.")] = None,
    request_id: RequestId = None,
) -> None:
    """End a schedule (the subscription ends): no period starts after it; its credits expire."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.EndAllotmentScheduleRequest(request_id=rid, schedule_id=schedule_id)
    if at is not None:
        request.end_time.CopyFrom(parse.timestamp(at, name="--at"))
    response = state.call(
        state.ledger.EndAllotmentSchedule, request, name="EndAllotmentSchedule", request_id=rid
    )
    _show_schedules(state, [response.schedule], "Allotment schedule")
