"""Pooled wallets: a wallet's members, each with a budget per period and a policy when it is
reached (`billing pool member set|get|list|remove`); `--member` on `debit` and `authorize`
names the member a use is for."""

from __future__ import annotations

from typing import Annotated

import typer
from billing.ledger.v1 import ledger_pb2 as pb

from billing_cli import parse
from billing_cli.choices import BudgetPeriod, BudgetPolicy
from billing_cli.ledger import MEMBER_COLUMNS, RequestId, member_rows
from billing_cli.render import table
from billing_cli.state import State, state_of, to_dict

pool = typer.Typer(help="Pooled wallets: members spending one wallet.", no_args_is_help=True)
member = typer.Typer(help="A pooled wallet's members and their budgets.", no_args_is_help=True)
pool.add_typer(member, name="member")


def _show(state: State, members: list[pb.PoolMember], title: str) -> None:
    state.out.print(table(title, MEMBER_COLUMNS, member_rows(members)))


@member.command("set")
def member_set(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    member_id: Annotated[str, typer.Argument()],
    budget: Annotated[str, typer.Option(help="A budget per period, an amount.")] = "",
    share: Annotated[
        str, typer.Option(help="Or a share of the pool, in percent (fixed for each period).")
    ] = "",
    period: Annotated[
        BudgetPeriod, typer.Option(help="How long a budget lasts (UTC); none: for all time.")
    ] = BudgetPeriod.month,
    policy: Annotated[
        BudgetPolicy, typer.Option(help="deny: refuse past the budget; allow: go on, flagged.")
    ] = BudgetPolicy.deny,
    request_id: RequestId = None,
) -> None:
    """Create or change a member of a pooled wallet."""
    state = state_of(ctx)
    request = pb.SetPoolMemberRequest(
        wallet_id=wallet_id,
        member_id=member_id,
        budget_amount=parse.amount(budget, name="--budget", allow_zero=True) if budget else "",
        budget_share=parse.amount(share, name="--share") if share else "",
        budget_period=period.proto,
        policy=policy.proto,
    )
    request.request_id = state.request_id(request_id)
    found = state.call(
        state.ledger.SetPoolMember, request, name="SetPoolMember", request_id=request.request_id
    ).member
    state.emit(to_dict(found), lambda: _show(state, [found], f"Member of {wallet_id}"))


@member.command("get")
def member_get(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    member_id: Annotated[str, typer.Argument()],
) -> None:
    """A member with what it spent, holds and has left this period."""
    state = state_of(ctx)
    found = state.call(
        state.ledger.GetPoolMember,
        pb.GetPoolMemberRequest(wallet_id=wallet_id, member_id=member_id),
        name="GetPoolMember",
    ).member
    state.emit(to_dict(found), lambda: _show(state, [found], f"Member of {wallet_id}"))


@member.command("list")
def member_list(ctx: typer.Context, wallet_id: Annotated[str, typer.Argument()]) -> None:
    """Every member of a pooled wallet, with its standing this period."""
    state = state_of(ctx)
    found = state.call(
        state.ledger.ListPoolMembers,
        pb.ListPoolMembersRequest(wallet_id=wallet_id),
        name="ListPoolMembers",
    )
    members = list(found.members)
    state.emit(to_dict(found), lambda: _show(state, members, f"Members of {wallet_id}"))


@member.command("remove")
def member_remove(
    ctx: typer.Context,
    wallet_id: Annotated[str, typer.Argument()],
    member_id: Annotated[str, typer.Argument()],
    request_id: RequestId = None,
) -> None:
    """Remove a member: uses naming it are refused from now on; its history stays."""
    state = state_of(ctx)
    request = pb.RemovePoolMemberRequest(wallet_id=wallet_id, member_id=member_id)
    request.request_id = state.request_id(request_id)
    found = state.call(
        state.ledger.RemovePoolMember,
        request,
        name="RemovePoolMember",
        request_id=request.request_id,
    ).member
    state.emit(to_dict(found), lambda: _show(state, [found], f"Removed from {wallet_id}"))
