"""Rated usage of a pooled wallet's member, against the real ledger: an event naming a member
(`Event.member_id`) is debited naming it, so it counts against the member's budget; a DENY
member past its budget denies the event (synchronously) or its charge (asynchronously) as a
wallet without credits would; a member the wallet does not have fails the charge; and the
customer's meters aggregate every member's usage together."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as pb

from tests.support.rating import event, ingest, rid, rows
from tests.support.servers import START

T = START + timedelta(hours=1)


def member_event(customer_id: str, member_id: str, units: str) -> pb.Event:
    e = event(customer_id, T, units=units)
    e.member_id = member_id
    return e


async def pool_customer(rating, budget: str):  # type: ignore[no-untyped-def]
    """A customer on the default plan (0.5 credits a unit) whose wallet (100 credits, ALLOW
    overage) has a DENY member team-a with an all-time `budget`."""
    wallet = await rating.ledger.wallet(credits="100")
    s = await rating.setup_customer(start=START, wallet_id=wallet)
    await rating.ledger.stub.SetPoolMember(
        lpb.SetPoolMemberRequest(
            request_id=rid(),
            wallet_id=wallet,
            member_id="team-a",
            budget_amount=budget,
            policy=lpb.BUDGET_POLICY_DENY,
        )
    )
    rating.clock.set(T)
    return s


async def spent(rating, wallet_id: str, member_id: str) -> Decimal:  # type: ignore[no-untyped-def]
    found = await rating.ledger.stub.GetPoolMember(
        lpb.GetPoolMemberRequest(wallet_id=wallet_id, member_id=member_id)
    )
    return Decimal(found.member.spent)


async def test_a_synchronous_event_of_a_member_past_its_budget_is_denied_and_counts_nowhere(
    rating,  # type: ignore[no-untyped-def]
) -> None:
    s = await pool_customer(rating, budget="3")
    response = await ingest(
        rating.stub,
        [
            member_event(s.customer_id, "team-a", "4"),  # 2 credits of team-a's 3
            member_event(s.customer_id, "team-a", "4"),  # 2 more: past its budget
            event(s.customer_id, T, units="4"),  # the pool's own use: no budget
        ],
        sync=True,
    )
    statuses = [r.status for r in response.results]
    assert statuses == [pb.EVENT_STATUS_CHARGED, pb.EVENT_STATUS_DENIED, pb.EVENT_STATUS_CHARGED]
    assert response.results[1].error.reason == "MEMBER_BUDGET_EXCEEDED"
    assert await spent(rating, s.wallet_id, "team-a") == Decimal(2)
    # The denied event counts in no aggregate: 4 + 4 units rated, the third from 4.
    assert response.results[2].charges[0].quantity_before == "4"
    debits = await rating.ledger.entries([s.wallet_id], types=[lpb.ENTRY_TYPE_DEBIT])
    assert sorted((e.member_id, e.amount) for e in debits) == [("", "-2"), ("team-a", "-2")]


async def test_an_asynchronous_charge_of_a_member_is_debited_naming_it_or_denied_past_its_budget(
    rating,  # type: ignore[no-untyped-def]
) -> None:
    s = await pool_customer(rating, budget="3")
    events = [
        member_event(s.customer_id, "team-a", "4"),  # 2 of 3: booked
        member_event(s.customer_id, "team-a", "4"),  # past the budget: DENIED
        member_event(s.customer_id, "team-z", "2"),  # not a member of the wallet: FAILED
    ]
    response = await ingest(rating.stub, events)
    assert [r.status for r in response.results] == [pb.EVENT_STATUS_ACCEPTED] * 3
    await rating.drain()
    stored = await rows(
        rating,
        "SELECT event_id, member_id, status FROM charges WHERE event_id IN"
        f" ('{events[0].event_id}', '{events[1].event_id}', '{events[2].event_id}')",
    )
    assert sorted(stored) == sorted(
        [
            (events[0].event_id, "team-a", "ACKNOWLEDGED"),
            (events[1].event_id, "team-a", "DENIED"),
            (events[2].event_id, "team-z", "FAILED"),
        ]
    )
    team = await rating.ledger.stub.ListEntries(
        lpb.ListEntriesRequest(wallet_id=s.wallet_id, member_id="team-a")
    )
    assert [(e.type, e.amount, e.source_event_id) for e in team.entries] == [
        (lpb.ENTRY_TYPE_DEBIT, "-2", events[0].event_id)
    ]
    assert await spent(rating, s.wallet_id, "team-a") == Decimal(2)


async def test_a_member_id_longer_than_128_characters_is_rejected_and_nothing_is_recorded(
    rating,  # type: ignore[no-untyped-def]
) -> None:
    s = await pool_customer(rating, budget="3")
    bad = member_event(s.customer_id, "m" * 129, "4")
    response = await ingest(rating.stub, [bad], sync=True)
    (result,) = response.results
    assert (result.status, result.error.reason) == (pb.EVENT_STATUS_REJECTED, "INVALID_ID")
    assert result.error.field_violations[0].field == "member_id"
    assert await rows(rating, f"SELECT id FROM events WHERE id = '{bad.event_id}'") == []
