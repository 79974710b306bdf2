"""Plan commands: create, list and show plans; assign a plan to a customer (with their wallet),
read a customer's assignment and end it."""

from __future__ import annotations

from typing import Annotated

import typer
from billing.rating.v1 import rating_pb2 as pb

from billing_cli import parse
from billing_cli.choices import Cadence, CommitmentPeriod, FixedChargeCollection
from billing_cli.ledger import RequestId, list_pages
from billing_cli.render import enum, pairs, table, when
from billing_cli.state import State, state_of, to_dict

plans = typer.Typer(
    help="Plans (prices, cadence, fixed charge) and assigning them to customers.",
    no_args_is_help=True,
)
assignment = typer.Typer(
    help="A customer's plan assignment: read it (now or at a time), end it.",
    no_args_is_help=True,
)
plans.add_typer(assignment, name="assignment")


def plan_price(text: str) -> pb.PlanPrice:
    """PRICE_ID[:INCLUDED], for example 3f2a...:1000 (1,000 units a period free)."""
    price_id, _, included = text.partition(":")
    if not price_id:
        raise typer.BadParameter(f"{text!r} is not PRICE_ID[:INCLUDED]", param_hint="--price")
    if included:
        parse.amount(included, name="--price", allow_zero=True)
    return pb.PlanPrice(price_id=price_id, included_quantity=included)


def show_plan(state: State, plan: pb.Plan) -> None:
    def render() -> None:
        state.out.print(
            pairs(
                f"Plan {plan.plan_id}",
                [
                    ("name", plan.name),
                    ("cadence", enum(plan, "cadence")),
                    ("anchor", when(plan, "billing_anchor_time") or "each assignment's start"),
                    ("fixed charge", f"{plan.fixed_charge} {plan.unit}"),
                    ("fixed charge collected by", enum(plan, "fixed_charge_collection")),
                    (
                        "first period cut by the start",
                        "its share of the fixed charge"
                        if plan.prorate_fixed_charge
                        else "the whole fixed charge",
                    ),
                    ("minimum commitment", f"{plan.minimum_commitment or '0'} {plan.unit}"),
                    ("commitment measured", enum(plan, "commitment_period")),
                    ("created", when(plan, "create_time")),
                ],
            )
        )
        state.out.print(
            table(
                "Prices",
                ["Price", "Included"],
                [[p.price_id, p.included_quantity or "0"] for p in plan.prices],
            )
        )

    state.emit(to_dict(plan), render)


@plans.command("create")
def plans_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for people.")],
    prices: Annotated[
        list[str] | None,
        typer.Option(
            "--price", metavar="PRICE_ID[:INCLUDED]", help="A price in the plan (repeatable)."
        ),
    ] = None,
    cadence: Annotated[Cadence, typer.Option(help="Billing period.")] = Cadence.monthly,
    anchor: Annotated[
        str | None, typer.Option(help="Periods laid out from (ISO); default each start.")
    ] = None,
    fixed_charge: Annotated[str, typer.Option(help="Fixed amount each period.")] = "",
    collect: Annotated[
        FixedChargeCollection,
        typer.Option(
            help="The fixed charge is only invoiced, or also debited from the wallet at the "
            "start of each period (once per period; unpaid on the invoice if refused)."
        ),
    ] = FixedChargeCollection.invoice,
    minimum_commitment: Annotated[
        str,
        typer.Option(help="Usage each period must reach; a shortfall is invoiced as a true-up."),
    ] = "",
    commitment_period: Annotated[
        CommitmentPeriod,
        typer.Option(
            help="The minimum commitment per billing period, or per year (settled once, on the "
            "invoice of the period that closes each year from the assignment's start)."
        ),
    ] = CommitmentPeriod.per_period,
    prorate: Annotated[
        bool,
        typer.Option(
            help="A first period cut short by the assignment's start pays its share of the "
            "fixed charge (by time), not all of it."
        ),
    ] = False,
    unit: Annotated[str, typer.Option(help="Unit of the plan and its prices.")] = "CREDITS",
    request_id: RequestId = None,
) -> None:
    """Create a plan from prices."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.CreatePlanRequest(
        request_id=rid,
        name=name,
        cadence=cadence.proto,
        fixed_charge=fixed_charge
        and parse.amount(fixed_charge, name="--fixed-charge", allow_zero=True),
        fixed_charge_collection=collect.proto,
        minimum_commitment=minimum_commitment
        and parse.amount(minimum_commitment, name="--minimum-commitment", allow_zero=True),
        commitment_period=commitment_period.proto,
        prorate_fixed_charge=prorate,
        unit=unit,
        prices=[plan_price(p) for p in prices or []],
    )
    if anchor is not None:
        request.billing_anchor_time.CopyFrom(parse.timestamp(anchor, name="--anchor"))
    plan = state.call(state.rating.CreatePlan, request, name="CreatePlan", request_id=rid).plan
    show_plan(state, plan)


PLAN_COLUMNS = ["Plan", "Name", "Cadence", "Fixed", "Prices", "Created"]


def _plan_rows(items: list[pb.Plan]) -> list[list[object]]:
    return [
        [
            p.plan_id,
            p.name,
            enum(p, "cadence"),
            f"{p.fixed_charge} {p.unit}",
            str(len(p.prices)),
            when(p, "create_time"),
        ]
        for p in items
    ]


@plans.command("list")
def plans_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    page_token: Annotated[str, typer.Option(help="Continue from a previous listing.")] = "",
) -> None:
    """Plans, oldest first."""
    state = state_of(ctx)
    list_pages(
        state,
        state.rating.ListPlans,
        lambda size, tok: pb.ListPlansRequest(page_size=size, page_token=tok),
        "plans",
        limit,
        page_token,
        PLAN_COLUMNS,
        _plan_rows,
    )


@plans.command("get")
def plans_get(ctx: typer.Context, plan_id: Annotated[str, typer.Argument()]) -> None:
    """Show one plan with its prices."""
    state = state_of(ctx)
    request = pb.GetPlanRequest(plan_id=plan_id)
    show_plan(state, state.call(state.rating.GetPlan, request, name="GetPlan").plan)


@plans.command("assign")
def plans_assign(
    ctx: typer.Context,
    plan_id: Annotated[str, typer.Argument()],
    customer: Annotated[str, typer.Option("--customer", "-c", help="The customer.")],
    wallet_id: Annotated[
        str, typer.Option("--wallet", "-w", help="The ledger wallet charges are debited from.")
    ],
    start: Annotated[
        str | None,
        typer.Option(help="In force from (ISO); default now. Until the next assignment."),
    ] = None,
    request_id: RequestId = None,
    backfill: Annotated[
        bool,
        typer.Option("--backfill", help="Allow a past --start (history import; admin key)."),
    ] = False,
) -> None:
    """Put a customer on a plan from --start on (a later assignment replaces it then)."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.AssignPlanRequest(
        request_id=rid,
        customer_id=customer,
        plan_id=plan_id,
        wallet_id=wallet_id,
        backfill=backfill,
    )
    if start is not None:
        request.start_time.CopyFrom(parse.timestamp(start, name="--start"))
    a = state.call(state.rating.AssignPlan, request, name="AssignPlan", request_id=rid).assignment
    show_assignment(state, a)


def show_assignment(state: State, a: pb.PlanAssignment) -> None:
    state.emit(
        to_dict(a),
        lambda: state.out.print(
            table(
                "Assignment",
                ["Assignment", "Customer", "Plan", "Wallet", "Starts", "Ends"],
                [
                    [
                        a.assignment_id,
                        a.customer_id,
                        a.plan_id,
                        a.wallet_id,
                        when(a, "start_time"),
                        when(a, "end_time") or "-",
                    ]
                ],
            )
        ),
    )


Customer = Annotated[str, typer.Option("--customer", "-c", help="The customer.")]


@assignment.command("get")
def assignment_get(
    ctx: typer.Context,
    customer: Customer,
    at: Annotated[str | None, typer.Option(help="In force at (ISO); default now.")] = None,
) -> None:
    """Show the plan assignment in force for a customer (NOT_FOUND when there is no plan then)."""
    state = state_of(ctx)
    request = pb.GetPlanAssignmentRequest(customer_id=customer)
    if at is not None:
        request.at_time.CopyFrom(parse.timestamp(at, name="--at"))
    found = state.call(state.rating.GetPlanAssignment, request, name="GetPlanAssignment")
    show_assignment(state, found.assignment)


@assignment.command("end")
def assignment_end(
    ctx: typer.Context,
    customer: Customer,
    end: Annotated[
        str | None, typer.Option(help="The plan ends at (ISO); default now. Not in the past.")
    ] = None,
    request_id: RequestId = None,
) -> None:
    """End a customer's latest plan: usage from --end on is rejected (no plan), and the last
    billing period (its invoice) ends there."""
    state = state_of(ctx)
    rid = state.request_id(request_id)
    request = pb.EndPlanAssignmentRequest(request_id=rid, customer_id=customer)
    if end is not None:
        request.end_time.CopyFrom(parse.timestamp(end, name="--end"))
    ended = state.call(
        state.rating.EndPlanAssignment, request, name="EndPlanAssignment", request_id=rid
    )
    show_assignment(state, ended.assignment)
