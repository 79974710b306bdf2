"""Synchronous ingest against the in-memory fakes (its sessions: `FakeSyncSessions`): an event is
debited in the call; a ledger refusal undoes it, and a partial one owes undo refunds the
forwarder delivers; an unreachable ledger leaves the event to the forwarder; a retry while the
holder lives is told to retry later, and one after its session is gone takes the event over;
never is a debit booked twice."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from rating_service.domain.aggregation import Aggregation
from rating_service.domain.errors import EventInProgress, InsufficientCredits, RequestInProgress
from rating_service.domain.events import EventStatus
from rating_service.domain.meters import Meter
from rating_service.domain.model import Plan, PlanPrice, PriceVersion
from rating_service.domain.pricing import Pricing, PricingModel
from rating_service.domain.status import ChargeStatus, EventState, UndoStatus
from tests.unit.rating.fakes import (
    PERIOD_START,
    T0,
    UNIT_PRICE,
    SessionLost,
    Wallet,
    World,
    call,
    world,
)


def _booked_once(w: World) -> None:
    """Every debit the ledger booked, booked once: one entry per request id, and as many
    entries as acknowledged debits."""
    acknowledged = [c for c in w.uow.charges() if c.status == ChargeStatus.ACKNOWLEDGED]
    assert sorted(c.ledger_entry_id for c in acknowledged) == sorted(
        b.entry_id for _, b in w.ledger.booked.values()
    )


def _second_meter(w: World) -> None:
    """The plan prices a second meter of the same events at the same price."""
    w.uow.add_meter(Meter("m2", "calls-2", "call", Aggregation.COUNT, description="Calls again"))
    pricing = Pricing(PricingModel.PER_UNIT, unit_price=UNIT_PRICE)
    w.uow.add_price(PriceVersion("p2", 1, "m2", PERIOD_START, pricing), "USD", PERIOD_START)
    prices = (PlanPrice("p1"), PlanPrice("p2"))
    plan = w.uow.tables.plans["plan1"].plan
    w.uow.add_plan(
        Plan(plan.id, plan.name, plan.cadence, PERIOD_START, plan.fixed_charge, prices),
        "USD",
        PERIOD_START,
    )


async def test_an_accepted_event_is_debited_in_the_call_and_answered_charged() -> None:
    w = world()
    [answer] = await w.send_sync(call("e1"))
    assert answer.status == EventStatus.CHARGED
    [charge] = w.uow.charges()
    assert (charge.status, charge.new.amount) == (ChargeStatus.ACKNOWLEDGED, UNIT_PRICE)
    assert w.uow.tables.events["e1"].status == EventState.ACCEPTED
    assert await w.forwarder.run_once() == 0  # nothing left for the forwarder
    assert w.ledger.debits_sent() == [charge.new.ledger_request_id]
    _booked_once(w)
    assert w.sessions.locks == {}  # every session lock given back


async def test_a_request_sent_again_gets_the_stored_answer_and_is_not_debited_again() -> None:
    w = world()
    first = await w.send_sync(call("e1"), request_id="r1")
    again = await w.send_sync(call("e1"), request_id="r1")
    assert [a.status for a in again] == [a.status for a in first] == [EventStatus.CHARGED]
    assert len(w.ledger.debits_sent()) == 1


async def test_an_event_the_ledger_denies_is_undone_and_counted_nowhere() -> None:
    w = world()
    w.ledger.wallets["w1"] = Wallet("c1", balance=Decimal("0.10"))
    [answer] = await w.send_sync(call("e1"))
    assert answer.status == EventStatus.DENIED
    assert isinstance(answer.error, InsufficientCredits)
    assert w.uow.charges() == []
    assert w.uow.tables.events["e1"].status == EventState.DENIED
    assert {s.quantity for s, _ in w.uow.tables.aggregates.values()} <= {Decimal(0)}
    assert w.ledger.booked == {}
    # The next event is priced as the first: the denied one was taken back.
    w.ledger.wallets["w1"] = Wallet("c1")
    [answer] = await w.send_sync(call("e2"))
    [charge] = w.uow.charges()
    assert (answer.status, charge.new.quantity_before) == (EventStatus.CHARGED, 0)
    # Sent again, the denied event is DENIED again, never a duplicate.
    [again] = await w.send_sync(call("e1"))
    assert again.status == EventStatus.DENIED


async def test_a_partial_deny_owes_an_undo_refund_the_forwarder_delivers_once() -> None:
    w = world()
    _second_meter(w)
    w.ledger.wallets["w1"] = Wallet("c1", balance=Decimal("0.30"))  # covers one meter of two
    w.ledger.refunds_unavailable = 3  # every attempt made in the call
    [answer] = await w.send_sync(call("e1"))
    assert answer.status == EventStatus.DENIED
    assert w.uow.charges() == []
    assert w.uow.tables.events["e1"].status == EventState.DENIED
    [(item, booked)] = w.ledger.booked.values()
    [undo] = w.uow.tables.undos.values()
    assert undo.status == UndoStatus.PENDING
    assert (undo.new.debit_entry_id, undo.new.amount) == (booked.entry_id, item.amount)
    assert w.ledger.refunds == {}
    assert await w.forwarder.run_once() == 1
    assert undo.status == UndoStatus.DONE
    assert list(w.ledger.refunds) == [undo.new.ledger_request_id]
    assert await w.forwarder.run_once() == 0  # delivered once


async def test_an_undo_refund_the_ledger_takes_in_the_call_is_done_at_once() -> None:
    w = world()
    _second_meter(w)
    w.ledger.wallets["w1"] = Wallet("c1", balance=Decimal("0.30"))
    [answer] = await w.send_sync(call("e1"))
    assert answer.status == EventStatus.DENIED
    [undo] = w.uow.tables.undos.values()
    assert (undo.status, undo.ledger_entry_id) == (
        UndoStatus.DONE,
        w.ledger.refunds[undo.new.ledger_request_id].entry_id,
    )
    assert await w.forwarder.run_once() == 0


async def test_an_unreachable_ledger_leaves_the_event_accepted_for_the_forwarder() -> None:
    w = world()
    w.ledger.unavailable = 1
    [answer] = await w.send_sync(call("e1"))
    assert answer.status == EventStatus.ACCEPTED
    [charge] = w.uow.charges()
    assert charge.status == ChargeStatus.PENDING
    assert charge.forward_after == T0  # released to the forwarder at once
    assert w.uow.tables.events["e1"].status == EventState.ACCEPTED
    assert await w.forwarder.run_once() == 1
    assert charge.status == ChargeStatus.ACKNOWLEDGED
    _booked_once(w)


async def test_a_debit_booked_but_its_answer_lost_is_never_booked_twice() -> None:
    w = world()
    w.ledger.lose_answers = 1
    [answer] = await w.send_sync(call("e1"))
    assert answer.status == EventStatus.ACCEPTED
    await w.forwarder.run_once()
    [charge] = w.uow.charges()
    assert charge.status == ChargeStatus.ACKNOWLEDGED
    assert w.ledger.debits_sent() == [charge.new.ledger_request_id] * 2
    assert len(w.ledger.booked) == 1
    _booked_once(w)


async def test_a_retry_while_the_holder_waits_for_the_ledger_is_told_to_retry_later() -> None:
    w = world()
    w.ledger.pause = asyncio.Event()
    gate = w.ledger.pause
    holder = asyncio.create_task(w.send_sync(call("e1"), request_id="r1"))
    await w.ledger.paused_at.wait()
    with pytest.raises(RequestInProgress):
        await w.send_sync(call("e1"), request_id="r1")
    [other] = await w.send_sync(call("e1"), request_id="r2")  # another request, same event
    assert isinstance(other.error, EventInProgress)
    assert w.uow.tables.events["e1"].status == EventState.HELD
    gate.set()
    [answer] = await holder
    assert answer.status == EventStatus.CHARGED
    assert len(w.ledger.debits_sent()) == 1


async def test_a_retry_after_the_holders_session_is_gone_takes_over_and_charges_once() -> None:
    w = world()
    w.ledger.pause = asyncio.Event()
    gate = w.ledger.pause
    holder = asyncio.create_task(w.send_sync(call("e1"), request_id="r1"))
    await w.ledger.paused_at.wait()  # booked by the ledger; the answer not back yet
    [session] = w.sessions.open_sessions
    session.kill()  # the holder's connection is lost (a restart, a killed backend)
    [answer] = await w.send_sync(call("e1"), request_id="r1")
    assert answer.status == EventStatus.CHARGED
    [charge] = w.uow.charges()
    assert charge.status == ChargeStatus.ACKNOWLEDGED
    assert w.ledger.debits_sent() == [charge.new.ledger_request_id] * 2  # same id: one booking
    gate.set()
    with pytest.raises(SessionLost):
        await holder
    assert charge.status == ChargeStatus.ACKNOWLEDGED
    assert await w.forwarder.run_once() == 0
    _booked_once(w)
    assert len(w.ledger.booked) == 1
    # The request is answered from what the retry stored.
    [again] = await w.send_sync(call("e1"), request_id="r1")
    assert again.status == EventStatus.CHARGED
