"""The insight RPCs of `billing.ledger.v1.LedgerService` (GetDepletionForecast,
SetSignalPolicy, GetSignalPolicy): validation, use case, conversion. A mixin of LedgerServicer
(kept apart so the servicer module stays readable)."""

from __future__ import annotations

from billing.ledger.v1 import ledger_pb2 as pb

from billing_common import principal
from billing_common.errors import InvalidArgument, require
from billing_common.grpc_handlers import Ctx, rpc
from billing_common.money import format_amount, parse_amount
from billing_common.protoconv import timestamp, to_timedelta
from ledger_service import limits
from ledger_service.adapters.grpc import convert
from ledger_service.adapters.grpc.errors import DOMAIN
from ledger_service.app import commands as cmd
from ledger_service.app.service import LedgerApp
from ledger_service.domain import burn
from ledger_service.domain.burn import Signal, SignalPolicy

handler = rpc(DOMAIN)

DEFAULTS = SignalPolicy("")


# -- input ------------------------------------------------------------------------------------


def horizon_days(r: pb.GetDepletionForecastRequest) -> int:
    """Whole days, 1 to FORECAST_HORIZON_DAYS_MAX; unset: FORECAST_HORIZON_DAYS_DEFAULT."""
    horizon = to_timedelta(r, "horizon")
    if horizon is None:
        return limits.FORECAST_HORIZON_DAYS_DEFAULT
    if horizon % burn.DAY or not burn.DAY <= horizon <= limits.FORECAST_HORIZON_DAYS_MAX * burn.DAY:
        raise InvalidArgument.field(
            "horizon", f"whole days, 1 to {limits.FORECAST_HORIZON_DAYS_MAX}", "INVALID_DURATION"
        )
    return horizon.days


def _policy_bad(field: str, why: str) -> InvalidArgument:
    return InvalidArgument.field(field, why, "INVALID_SIGNAL_POLICY")


def signal_policy(r: pb.SetSignalPolicyRequest) -> tuple[cmd.Idem, SignalPolicy]:
    p = r.policy
    wallet_id = convert.identifier(require(p.wallet_id, "policy.wallet_id"), "policy.wallet_id")
    spike = DEFAULTS.spike_multiple
    if p.spike_multiple:
        spike = parse_amount(p.spike_multiple, "policy.spike_multiple")
        if spike <= 1:
            raise _policy_bad("policy.spike_multiple", "must be above 1")
    fraction = DEFAULTS.slowdown_fraction
    if p.slowdown_fraction:
        fraction = parse_amount(p.slowdown_fraction, "policy.slowdown_fraction")
        if fraction >= 1:
            raise _policy_bad("policy.slowdown_fraction", "must be below 1")
    days = p.depletion_days or DEFAULTS.depletion_days
    if not 1 <= days <= limits.FORECAST_HORIZON_DAYS_MAX:
        raise _policy_bad("policy.depletion_days", f"1 to {limits.FORECAST_HORIZON_DAYS_MAX}")
    warm_up = p.warm_up_days if p.HasField("warm_up_days") else DEFAULTS.warm_up_days
    if not 0 <= warm_up <= limits.FORECAST_HORIZON_DAYS_MAX:
        raise _policy_bad("policy.warm_up_days", f"0 to {limits.FORECAST_HORIZON_DAYS_MAX}")
    return convert.idem(r, "SetSignalPolicy"), SignalPolicy(
        wallet_id, spike, fraction, days, p.disabled, warm_up
    )


# -- output -----------------------------------------------------------------------------------


def policy_out(p: SignalPolicy) -> pb.SignalPolicy:
    return pb.SignalPolicy(
        wallet_id=p.wallet_id,
        spike_multiple=format_amount(p.spike_multiple),
        slowdown_fraction=format_amount(p.slowdown_fraction),
        depletion_days=p.depletion_days,
        disabled=p.disabled,
        warm_up_days=p.warm_up_days,
    )


def forecast_out(wallet_id: str, f: burn.Forecast) -> pb.GetDepletionForecastResponse:
    out = pb.GetDepletionForecastResponse(
        wallet_id=wallet_id,
        as_of_time=timestamp(f.as_of),
        available=format_amount(f.available),
        daily_burn=format_amount(f.burn.daily),
        daily_burn_low=format_amount(f.burn.low),
        daily_burn_high=format_amount(f.burn.high),
        expiries=[
            pb.ForecastExpiry(
                grant_id=e.grant_id,
                expire_time=timestamp(e.expire_time),
                amount=format_amount(e.amount),
            )
            for e in f.central.expiries
        ],
        top_ups=[
            pb.ForecastTopUp(time=timestamp(t.time), amount=format_amount(t.amount))
            for t in f.central.top_ups
        ],
        overage=format_amount(f.central.overage),
        horizon_end_time=timestamp(f.horizon_end),
    )
    for field, value in (
        ("depletion_time", f.central.depletion),
        ("depletion_earliest_time", f.earliest),
        ("depletion_latest_time", f.latest),
    ):
        if value is not None:
            getattr(out, field).CopyFrom(timestamp(value))
    return out


class SignalRpcs:
    app: LedgerApp

    @handler
    async def GetDepletionForecast(
        self, request: pb.GetDepletionForecastRequest, context: Ctx
    ) -> pb.GetDepletionForecastResponse:
        wallet_id = convert.identifier(request.wallet_id, "wallet_id")
        days = horizon_days(request)
        found = await self.app.depletion_forecast(wallet_id, days, principal.current().customers)
        return forecast_out(wallet_id, found)

    @handler
    async def SetSignalPolicy(self, request: pb.SetSignalPolicyRequest, context: Ctx) -> bytes:
        idem, policy = signal_policy(request)
        current = principal.current()
        payload = await self.app.set_signal_policy(
            idem,
            policy,
            lambda p: pb.SetSignalPolicyResponse(policy=policy_out(p)).SerializeToString(),
            cmd.Caller(current.actor, current.customers),
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def GetSignalPolicy(
        self, request: pb.GetSignalPolicyRequest, context: Ctx
    ) -> pb.GetSignalPolicyResponse:
        wallet_id = convert.identifier(request.wallet_id, "wallet_id")
        policy, open_now = await self.app.signal_policy(wallet_id, principal.current().customers)
        return pb.GetSignalPolicyResponse(
            policy=policy_out(policy),
            open_signals=[
                convert.EVENT_TYPE.out(s.event_type)
                for s in sorted(open_now, key=list(Signal).index)
            ],
        )
