"""The pooled-wallet part of the demo: one company wallet spent by three teams, each with its own
budget and policy; a team refused at its budget, a team allowed past it (flagged), an alert on a
team's budget, Authorize for a team, then who used what and one team's history."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import grpc
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc

from billing_common.protoconv import timestamp
from demo.ledger_scenario import last_cursor, rid, watch
from demo.show import heading, table

POLICY = {pb.BUDGET_POLICY_DENY: "deny past it", pb.BUDGET_POLICY_ALLOW: "allow past it"}
# (member, budget amount, budget share in percent, policy)
MEMBERS = [
    ("team-search", "2000", "", pb.BUDGET_POLICY_DENY),
    ("team-support", "", "10", pb.BUDGET_POLICY_ALLOW),
    ("project-x", "", "", pb.BUDGET_POLICY_DENY),
]


def _budget(m: pb.PoolMember) -> str:
    if m.budget_share:
        return f"{m.budget_share}% of the pool" + (f" = {m.budget}" if m.budget else "")
    return m.budget or "none"


async def run(channel: grpc.aio.Channel) -> None:
    stub = ledger_pb2_grpc.LedgerServiceStub(channel)
    now = datetime.now(UTC)
    company = f"globex-{uuid.uuid4().hex[:6]}"
    print(heading(f"Pooled wallet: customer {company}, one wallet spent by three teams"))
    pool = (
        await stub.CreateWallet(
            pb.CreateWalletRequest(
                request_id=rid(),
                customer_id=company,
                unit="CREDITS",
                overage_policy=pb.OVERAGE_POLICY_DENY,
            )
        )
    ).wallet.wallet_id
    await stub.CreateGrant(
        pb.CreateGrantRequest(
            request_id=rid(),
            wallet_id=pool,
            kind=pb.GRANT_KIND_PREPAID,
            amount="20000",
            expire_time=timestamp(now + timedelta(days=365)),
            description="+20000 credits: annual enterprise pool",
        )
    )
    for member_id, amount, share, policy in MEMBERS:
        await stub.SetPoolMember(
            pb.SetPoolMemberRequest(
                request_id=rid(),
                wallet_id=pool,
                member_id=member_id,
                budget_amount=amount,
                budget_share=share,
                budget_period=pb.BUDGET_PERIOD_MONTH,
                policy=policy,
            )
        )
    print(
        f"Pool {pool}: 20000 prepaid credits. Members, with a budget per calendar month:\n"
        "  team-search  2000, deny past it\n"
        "  team-support 10% of the pool (fixed when its month first spends), allow past it\n"
        "  project-x    no budget: its spend is only tracked"
    )
    await stub.SetAlertRules(
        pb.SetAlertRulesRequest(
            request_id=rid(),
            wallet_id=pool,
            rules=[
                pb.AlertRule(name="pool 25% left", kind=pb.ALERT_KIND_PERCENT, threshold="25"),
                pb.AlertRule(
                    name="team-search budget 25% left",
                    kind=pb.ALERT_KIND_PERCENT,
                    threshold="25",
                    member_id="team-search",
                ),
            ],
        )
    )
    start = await last_cursor(stub, pool)

    async def debit(member_id: str, amount: str, feature: str) -> pb.Entry:
        response: pb.DebitResponse = await stub.Debit(
            pb.DebitRequest(
                request_id=rid(),
                wallet_id=pool,
                amount=amount,
                feature=feature,
                member_id=member_id,
            )
        )
        return response.entry

    await debit("team-search", "1600", "Embeddings")
    print("\nteam-search debited 1600 for Embeddings (400 of its 2000 left).")
    try:
        await debit("team-search", "700", "Embeddings")
    except grpc.aio.AioRpcError as exc:
        print(f"team-search's next 700 was refused: {exc.code().name}: {exc.details()}")
    check = await stub.Authorize(
        pb.AuthorizeRequest(
            wallet_id=pool, amount="300", feature="Embeddings", member_id="team-search"
        )
    )
    print(
        f"Authorize 300 more for team-search? allowed={check.allowed}, "
        f"{check.member_remaining} of its budget left (the pool has {check.available_before})."
    )
    over = await debit("team-support", "2500", "Chat completions")
    print(
        "team-support debited 2500 for Chat completions, past its 10% share of the pool"
        f" (fixed at its first spend this month): allowed, over_budget={over.over_budget}"
        " on the entry."
    )
    await debit("project-x", "900", "Fine-tuning")
    print("project-x debited 900 for Fine-tuning: no budget, so only tracked.")

    members = (await stub.ListPoolMembers(pb.ListPoolMembersRequest(wallet_id=pool))).members
    print(heading("Who used what this month (ListPoolMembers)"))
    print(
        table(
            ["member", "budget", "policy", "spent", "held", "remaining"],
            [
                [
                    m.member_id,
                    _budget(m),
                    POLICY[m.policy] if m.budget else "-",
                    m.spent,
                    m.held,
                    m.remaining or "-",
                ]
                for m in members
            ],
            right=[3, 4, 5],
        )
    )
    balance = (await stub.GetBalance(pb.GetBalanceRequest(wallet_id=pool))).balance
    print(f"The pool: {balance.available} of 20000 available to all its members.")

    support = (
        await stub.ListEntries(pb.ListEntriesRequest(wallet_id=pool, member_id="team-support"))
    ).entries
    print(heading("team-support's history (ListEntries by member)"))
    print(
        table(
            ["type", "amount", "over budget", "feature", "pool after"],
            [
                [
                    pb.EntryType.Name(e.type).removeprefix("ENTRY_TYPE_"),
                    e.amount,
                    e.over_budget,
                    e.feature,
                    e.available_after,
                ]
                for e in support
            ],
            right=[1, 2, 4],
        )
    )
    fired = [
        json.loads(e.data_json)
        for e in await watch(stub, pool, start)
        if e.type == pb.WALLET_EVENT_TYPE_ALERT_FIRED
    ]
    for data in fired:
        print(
            f"Alert fired: {data.get('name')} "
            + (
                f"({data['remaining']} of its {data['budget']} left)"
                if data.get("member_id")
                else f"(pool at {data.get('available')})"
            )
        )
