"""Ingest (asynchronous mode) against the in-memory fakes: an event id is charged once however
often it is sent, a request_id answers the same request the same way and refuses another, a batch
is rated in order with each event answered on its own, and a preview writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing_common.errors import InvalidArgument, RequestIdConflict
from rating_service.domain.events import EventStatus
from rating_service.domain.status import ChargeStatus, EventState
from tests.unit.rating.fakes import PERIOD_START, T0, UNIT_PRICE, call, world


async def test_an_accepted_event_writes_one_pending_charge_at_its_price() -> None:
    w = world()
    [answer] = await w.send(call("e1"))
    assert answer.status == EventStatus.ACCEPTED
    [charge] = w.uow.charges()
    assert (charge.status, charge.new.amount) == (ChargeStatus.PENDING, UNIT_PRICE)
    assert (charge.new.quantity_before, charge.new.quantity_after) == (0, 1)
    assert w.uow.tables.events["e1"].status == EventState.ACCEPTED


async def test_an_event_id_sent_again_is_a_duplicate_and_never_charged_twice() -> None:
    w = world()
    await w.send(call("e1"))
    [again] = await w.send(call("e1"))
    assert again.status == EventStatus.DUPLICATE
    assert len(w.uow.charges()) == 1
    [(state, _)] = w.uow.tables.aggregates.values()
    assert state.quantity == 1


async def test_an_event_id_sent_again_with_other_content_changes_nothing() -> None:
    w = world()
    await w.send(call("e1", at=T0))
    before = (w.uow.tables.events["e1"], dict(w.uow.tables.aggregates))
    [again] = await w.send(call("e1", at=T0 + timedelta(minutes=1), region="eu"))
    assert again.status == EventStatus.DUPLICATE
    assert (w.uow.tables.events["e1"], dict(w.uow.tables.aggregates)) == before
    assert len(w.uow.charges()) == 1


async def test_a_request_id_used_again_for_other_events_is_refused_and_writes_nothing() -> None:
    w = world()
    await w.send(call("e1"), request_id="r1")
    with pytest.raises(RequestIdConflict):
        await w.send(call("e2"), request_id="r1")
    assert "e2" not in w.uow.tables.events
    assert len(w.uow.charges()) == 1


async def test_a_request_sent_again_gets_the_stored_answer_and_writes_nothing() -> None:
    w = world()
    first = await w.send(call("e1"), call("e2"), request_id="r1")
    again = await w.send(call("e1"), call("e2"), request_id="r1")
    assert [a.status for a in again] == [a.status for a in first] == [EventStatus.ACCEPTED] * 2
    assert len(w.uow.charges()) == 2


async def test_a_batch_is_rated_in_order_and_a_repeat_inside_it_counts_once() -> None:
    w = world()
    answers = await w.send(call("e1"), call("e2"), call("e1"), call("e3"))
    assert [a.status for a in answers] == [
        EventStatus.ACCEPTED,
        EventStatus.ACCEPTED,
        EventStatus.DUPLICATE,
        EventStatus.ACCEPTED,
    ]
    charges = w.uow.charges()
    assert [c.new.event_id for c in charges] == ["e1", "e2", "e3"]
    assert [(c.new.quantity_before, c.new.quantity_after) for c in charges] == [
        (0, 1),
        (1, 2),
        (2, 3),
    ]
    assert sum(c.new.amount for c in charges) == 3 * UNIT_PRICE


async def test_each_event_of_a_batch_is_answered_on_its_own() -> None:
    w = world()
    too_old = call("old", at=T0 - timedelta(days=4))
    stranger = call("who", customer_id="nobody")
    answers = await w.send(call("e1"), too_old, stranger, call("e2"))
    assert [a.status for a in answers] == [
        EventStatus.ACCEPTED,
        EventStatus.REJECTED,
        EventStatus.REJECTED,
        EventStatus.ACCEPTED,
    ]
    assert answers[1].error is not None and answers[1].error.reason == "EVENT_TOO_OLD"
    assert answers[2].error is not None and answers[2].error.reason == "CUSTOMER_NOT_FOUND"
    assert sorted(w.uow.tables.events) == ["e1", "e2"]
    assert [c.new.event_id for c in w.uow.charges()] == ["e1", "e2"]


async def test_an_empty_or_too_large_batch_is_refused_and_writes_nothing() -> None:
    w = world()
    with pytest.raises(InvalidArgument) as empty:
        await w.send()
    assert empty.value.reason == "MISSING_FIELD"
    with pytest.raises(InvalidArgument) as large:
        await w.send(*(call(f"e{i}") for i in range(1001)))
    assert large.value.reason == "BATCH_TOO_LARGE"
    assert w.uow.tables.events == {} and w.uow.tables.keys == {}


async def test_a_preview_rates_the_event_and_writes_nothing() -> None:
    w = world()
    await w.send(call("e1"))
    answer = await w.ingest.preview(call("e2"), None)
    assert answer.status == EventStatus.ACCEPTED
    assert [(c.quantity_before, c.amount) for c in answer.charges] == [(1, UNIT_PRICE)]
    assert sorted(w.uow.tables.events) == ["e1"]
    assert len(w.uow.charges()) == 1


async def test_events_of_a_period_land_on_its_invoice_row() -> None:
    w = world()
    await w.send(call("e1"))
    [row] = w.uow.tables.invoices.values()
    assert (row.assignment_id, row.period_start, row.status) == ("a1", PERIOD_START, "DRAFT")
    assert [(c.new.assignment_id, c.new.period_start) for c in w.uow.charges()] == [
        ("a1", PERIOD_START)
    ]
