"""The pooled wallet RPCs of `billing.ledger.v1.LedgerService` (SetPoolMember, GetPoolMember,
ListPoolMembers, RemovePoolMember): validation, use case, conversion. A mixin of LedgerServicer
(kept apart so the servicer module stays readable)."""

from __future__ import annotations

from decimal import Decimal

from billing.ledger.v1 import ledger_pb2 as pb

from billing_common import principal
from billing_common.enums import EnumMap
from billing_common.errors import InvalidArgument
from billing_common.grpc_handlers import Ctx, rpc
from billing_common.money import format_amount, parse_amount
from billing_common.protoconv import timestamp
from ledger_service.adapters.grpc import convert
from ledger_service.adapters.grpc.errors import DOMAIN
from ledger_service.app import commands as cmd
from ledger_service.app.pool_members import Standing
from ledger_service.app.service import LedgerApp
from ledger_service.domain import pool
from ledger_service.domain.pool import BudgetPeriod, BudgetPolicy

handler = rpc(DOMAIN)

PERIOD = EnumMap(
    BudgetPeriod,
    pb.BudgetPeriod,
    "BUDGET_PERIOD_",
    [BudgetPeriod.DAY, BudgetPeriod.WEEK, BudgetPeriod.MONTH],
)
POLICY = EnumMap(BudgetPolicy, pb.BudgetPolicy, "BUDGET_POLICY_")
HUNDRED = Decimal(100)


# -- input ------------------------------------------------------------------------------------


def set_pool_member(r: pb.SetPoolMemberRequest) -> cmd.SetPoolMember:
    if r.budget_amount and r.budget_share:
        raise InvalidArgument.field(
            "budget_share", "give budget_amount or budget_share, not both", "INVALID_BUDGET"
        )
    amount = (
        parse_amount(r.budget_amount, "budget_amount", allow_zero=True) if r.budget_amount else None
    )
    share = parse_amount(r.budget_share, "budget_share") if r.budget_share else None
    if share is not None and share > HUNDRED:
        raise InvalidArgument.field("budget_share", "at most 100 (percent)", "INVALID_BUDGET")
    period = PERIOD.optional(r.budget_period, "budget_period") or BudgetPeriod.NONE
    policy = POLICY.optional(r.policy, "policy") or BudgetPolicy.DENY
    return cmd.SetPoolMember(
        idem=convert.idem(r, "SetPoolMember"),
        wallet_id=convert.identifier(r.wallet_id, "wallet_id"),
        member_id=convert.identifier(r.member_id, "member_id"),
        policy=policy,
        budget_amount=amount,
        budget_share=share,
        budget_period=period,
    )


# -- output -----------------------------------------------------------------------------------


def member_out(standing: Standing) -> pb.PoolMember:
    usage, state, at = standing
    m = usage.member
    message = pb.PoolMember(
        wallet_id=m.wallet_id,
        member_id=m.member_id,
        budget_amount="" if m.budget_amount is None else format_amount(m.budget_amount),
        budget_share="" if m.budget_share is None else format_amount(m.budget_share),
        budget_period=(
            pb.BUDGET_PERIOD_UNSPECIFIED
            if m.budget_period is BudgetPeriod.NONE
            else PERIOD.out(m.budget_period)
        ),
        policy=POLICY.out(m.policy),
        create_time=timestamp(m.create_time),
        update_time=timestamp(m.update_time),
        spent=format_amount(usage.spent),
        held=format_amount(pool.held(state, m.member_id, at)),
    )
    if usage.period_start is not None:
        message.period_start_time.CopyFrom(timestamp(usage.period_start))
    limit = pool.budget(m)
    left = pool.remaining(state, m.member_id, at)
    if limit is not None and left is not None:
        message.budget = format_amount(limit)
        message.remaining = format_amount(left)
    return message


def _caller() -> cmd.Caller:
    current = principal.current()
    return cmd.Caller(current.actor, current.customers)


class PoolRpcs:
    app: LedgerApp

    @handler
    async def SetPoolMember(self, request: pb.SetPoolMemberRequest, context: Ctx) -> bytes:
        payload = await self.app.set_pool_member(
            set_pool_member(request),
            lambda s: pb.SetPoolMemberResponse(member=member_out(s)).SerializeToString(),
            _caller(),
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def GetPoolMember(
        self, request: pb.GetPoolMemberRequest, context: Ctx
    ) -> pb.GetPoolMemberResponse:
        wallet_id = convert.identifier(request.wallet_id, "wallet_id")
        member_id = convert.identifier(request.member_id, "member_id")
        (found,) = await self.app.pool_members(
            wallet_id, [member_id], principal.current().customers
        )
        return pb.GetPoolMemberResponse(member=member_out(found))

    @handler
    async def ListPoolMembers(
        self, request: pb.ListPoolMembersRequest, context: Ctx
    ) -> pb.ListPoolMembersResponse:
        wallet_id = convert.identifier(request.wallet_id, "wallet_id")
        found = await self.app.pool_members(wallet_id, None, principal.current().customers)
        return pb.ListPoolMembersResponse(members=[member_out(s) for s in found])

    @handler
    async def RemovePoolMember(self, request: pb.RemovePoolMemberRequest, context: Ctx) -> bytes:
        payload = await self.app.remove_pool_member(
            convert.idem(request, "RemovePoolMember"),
            convert.identifier(request.wallet_id, "wallet_id"),
            convert.identifier(request.member_id, "member_id"),
            lambda s: pb.RemovePoolMemberResponse(member=member_out(s)).SerializeToString(),
            _caller(),
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)
