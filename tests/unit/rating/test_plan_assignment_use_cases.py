"""Reading and ending a customer's plan assignment against the fakes: usage at or after the end
is rejected as for a customer with no plan, the plan's last invoice ends at the end, an end is
never in the past nor before usage already rated, ending is idempotent by request_id and happens
once, and a customer with no plan (or outside the caller's binding) has no assignment."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta

import pytest

from billing_common.errors import RequestIdConflict
from rating_service.app.catalogue import Catalogue
from rating_service.app.commands import Idem, NewAssignment
from rating_service.domain.errors import (
    AssignmentAlreadyEnded,
    AssignmentOverlap,
    CustomerNotFound,
    EffectiveTimeInPast,
)
from rating_service.domain.events import EventStatus
from rating_service.domain.model import Assignment
from tests.unit.rating.fakes import PERIOD_START, T0, World, call, world


def encode(a: Assignment, created: datetime) -> bytes:
    return pickle.dumps((a, created))


async def end(
    w: World, at: datetime | None, request_id: str = "end-1", customer_id: str = "c1"
) -> Assignment:
    idem = Idem(request_id, "EndPlanAssignment", pickle.dumps((customer_id, at)))
    raw = await Catalogue(w.context).end_assignment(idem, customer_id, at, encode, None, "key:k1")
    ended, _ = pickle.loads(raw)
    return ended  # type: ignore[no-any-return]


async def test_usage_at_or_after_the_end_is_rejected_as_for_a_customer_with_no_plan() -> None:
    w = world()
    stop = T0 + timedelta(hours=1)
    ended = await end(w, stop)
    assert ended.end_time == stop
    w.clock.set(stop + timedelta(minutes=1))
    before, at_end, after = await w.send(
        call("before", at=stop - timedelta(minutes=30)),
        call("at-end", at=stop),
        call("after", at=stop + timedelta(seconds=30)),
    )
    assert before.status == EventStatus.ACCEPTED
    for rejected in (at_end, after):
        assert rejected.error is not None and rejected.error.reason == "CUSTOMER_NOT_FOUND"


async def test_the_last_invoice_of_an_ended_plan_ends_at_the_end_and_closes_after_it() -> None:
    w = world()
    await w.send(call("e1", at=T0))  # its DRAFT invoice runs to the end of March
    stop = T0 + timedelta(days=2)
    await end(w, stop)
    (row,) = w.uow.tables.invoices.values()
    assert (row.period_start, row.period_end) == (PERIOD_START, stop)
    await w.forwarder.run_once()
    w.clock.set(stop + timedelta(hours=1))
    closed = await w.close("close-1", T0)
    assert (closed.period_end, closed.usage_total) == (stop, closed.lines[0].amount)


async def test_an_end_is_never_in_the_past_nor_before_usage_already_rated() -> None:
    w = world()
    with pytest.raises(EffectiveTimeInPast):
        await end(w, T0 - timedelta(seconds=1), "past")
    await w.send(call("soon", at=T0 + timedelta(minutes=2)))  # within the future skew
    with pytest.raises(EffectiveTimeInPast):
        await end(w, T0 + timedelta(minutes=1), "before-rated")
    assert w.uow.tables.assignments["a1"].end_time is None  # nothing written
    assert {"past", "before-rated"}.isdisjoint(w.uow.tables.keys)  # refusals are not remembered


async def test_ending_is_idempotent_by_request_id_and_happens_once() -> None:
    w = world()
    first = await end(w, T0 + timedelta(days=1), "end-1")
    assert await end(w, T0 + timedelta(days=1), "end-1") == first  # a replay
    with pytest.raises(RequestIdConflict):
        await end(w, T0 + timedelta(days=3), "end-1")
    with pytest.raises(AssignmentAlreadyEnded):
        await end(w, T0 + timedelta(days=3), "end-2")
    assert w.uow.tables.assignments["a1"].end_time == T0 + timedelta(days=1)
    assert w.uow.tables.assignment_rows["a1"][1] == "key:k1"  # who ended it


async def test_an_end_at_or_before_the_latest_start_is_refused() -> None:
    w = world()
    later = Assignment("a2", "c1", "plan1", "w1", T0 + timedelta(days=5))
    w.uow.add_assignment(later)
    with pytest.raises(AssignmentOverlap):
        await end(w, T0 + timedelta(days=5))
    assert w.uow.tables.assignments["a2"].end_time is None


async def test_a_customer_with_no_plan_or_outside_the_binding_has_none_to_read_or_end() -> None:
    w = world()
    catalogue = Catalogue(w.context)
    with pytest.raises(CustomerNotFound):
        await end(w, None, customer_id="nobody")
    with pytest.raises(CustomerNotFound):
        await catalogue.plan_assignment("nobody", None, None)
    foreign = frozenset({"someone-else"})
    with pytest.raises(CustomerNotFound):
        await catalogue.plan_assignment("c1", None, foreign)
    idem = Idem("foreign", "EndPlanAssignment", b"c1")
    with pytest.raises(CustomerNotFound):
        await catalogue.end_assignment(idem, "c1", None, encode, foreign, "key:k2")
    assert "foreign" not in w.uow.tables.keys
    assert w.uow.tables.assignments["a1"].end_time is None


async def test_the_assignment_in_force_is_read_now_or_at_a_time() -> None:
    w = world()
    catalogue = Catalogue(w.context)
    found, created = await catalogue.plan_assignment("c1", None, None)
    assert (found.id, found.end_time, created) == ("a1", None, PERIOD_START)
    stop = T0 + timedelta(days=1)
    await end(w, stop)
    found, _ = await catalogue.plan_assignment("c1", stop - timedelta(seconds=1), None)
    assert (found.id, found.end_time) == ("a1", stop)
    with pytest.raises(CustomerNotFound):
        await catalogue.plan_assignment("c1", stop, None)
    with pytest.raises(CustomerNotFound):
        await catalogue.plan_assignment("c1", PERIOD_START - timedelta(seconds=1), None)


async def test_a_new_plan_starts_at_or_after_the_end_of_an_ended_one() -> None:
    w = world()
    stop = T0 + timedelta(days=1)
    await end(w, stop)
    catalogue = Catalogue(w.context)

    async def assign(start: datetime, request_id: str) -> bytes:
        idem = Idem(request_id, "AssignPlan", pickle.dumps(start))
        new = NewAssignment("c1", "plan1", "w1", start)
        return await catalogue.assign_plan(idem, new, encode, None, "key:k1")

    with pytest.raises(AssignmentOverlap):
        await assign(stop - timedelta(minutes=1), "inside")
    await assign(stop, "at-the-end")
    found, _ = await catalogue.plan_assignment("c1", stop, None)
    assert (found.start_time, found.end_time) == (stop, None)
