"""Fixed charges debited per period and the minimum commitment's true-up, over the fakes
(app/fixed_charges.py, run in the forwarder's rounds)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing_common.periods import Cadence
from rating_service.domain.errors import ChargesPending
from rating_service.domain.model import Assignment, FixedChargeCollection, Plan, PlanPrice
from rating_service.domain.status import ChargeStatus
from tests.unit.rating.fakes import PERIOD_END, PERIOD_START, T0, UNIT_PRICE, Wallet, World, call
from tests.unit.rating.fakes import world as make_world

FIXED = Decimal("20")
APRIL = datetime(2026, 4, 1, tzinfo=UTC)
MAY = datetime(2026, 5, 1, tzinfo=UTC)


def world(
    collection: FixedChargeCollection = FixedChargeCollection.DEBIT,
    commitment: Decimal = Decimal(0),
) -> World:
    plan = Plan(
        "plan1",
        "Team",
        Cadence.MONTHLY,
        PERIOD_START,
        FIXED,
        (PlanPrice("p1"),),
        collection,
        commitment,
    )
    return make_world(plan=plan)


def fixed_debits(w: World) -> list[str]:
    return sorted(r for r in w.ledger.booked if r.startswith("rating:fixed:"))


async def test_each_started_period_is_debited_once_also_after_downtime() -> None:
    w = world()
    await w.forwarder.run_once()
    await w.forwarder.run_once()
    assert fixed_debits(w) == ["rating:fixed:2:a1:2026-03-01T00:00:00+00:00"]
    [(item, _)] = [w.ledger.booked[r] for r in fixed_debits(w)]
    assert (item.wallet_id, item.amount, item.customer_id) == ("w1", FIXED, "c1")
    w.clock.set(MAY + timedelta(days=3))  # down through April: April and May are both due
    await w.forwarder.run_once()
    await w.forwarder.run_once()
    assert [r.split(":", 4)[4][:10] for r in fixed_debits(w)] == [
        "2026-03-01",
        "2026-04-01",
        "2026-05-01",
    ]
    assert len(w.ledger.debits_sent()) == 3  # each sent once
    march = await w.invoices.get("", "c1", T0, None)
    assert (march.fixed_charge, march.fixed_charge_paid) == (FIXED, FIXED)


async def test_an_invoice_only_plan_debits_nothing() -> None:
    w = world(FixedChargeCollection.INVOICE)
    w.clock.set(MAY)
    await w.forwarder.run_once()
    assert fixed_debits(w) == []
    view = await w.invoices.get("", "c1", T0, None)
    assert (view.fixed_charge, view.fixed_charge_paid, view.total) == (FIXED, Decimal(0), FIXED)


async def test_a_wallet_that_cannot_pay_leaves_the_fixed_charge_unpaid_on_the_invoice() -> None:
    w = world()
    w.ledger.wallets["w1"] = Wallet("c1", balance=Decimal(5))  # DENY, short of the fixed charge
    await w.forwarder.run_once()
    [row] = w.uow.tables.fixed_charges.values()
    assert row.status == ChargeStatus.DENIED and "INSUFFICIENT_CREDITS" in row.last_error
    w.ledger.wallets["w1"].balance = Decimal(100)
    await w.forwarder.run_once()  # a denied period is final: not sent again
    assert fixed_debits(w) == []
    w.clock.set(PERIOD_END + timedelta(hours=1))
    view = await w.close("close-1", T0)
    assert (view.fixed_charge, view.fixed_charge_paid, view.total) == (FIXED, Decimal(0), FIXED)


async def test_a_lost_answer_books_the_fixed_charge_once_and_a_pending_one_holds_the_close() -> (
    None
):
    w = world()
    w.ledger.lose_answers = 1
    await w.forwarder.run_once()
    assert len(fixed_debits(w)) == 1  # booked, but the answer was lost: still PENDING here
    [row] = w.uow.tables.fixed_charges.values()
    assert row.status == ChargeStatus.PENDING
    w.clock.set(PERIOD_END + timedelta(minutes=1))
    with pytest.raises(ChargesPending):
        await w.close("close-1", T0)
    w.ledger.unavailable = 0
    await w.forwarder.run_once()
    march = w.uow.tables.fixed_charges[("a1", PERIOD_START)]
    assert march.status == ChargeStatus.ACKNOWLEDGED
    assert len(fixed_debits(w)) == 2  # March once (replayed by the ledger) and April
    view = await w.close("close-2", T0)
    assert view.fixed_charge_paid == FIXED


async def test_an_ended_assignment_charges_no_period_that_starts_after_its_end() -> None:
    w = world()
    ended = Assignment("a1", "c1", "plan1", "w1", PERIOD_START, end_time=APRIL + timedelta(days=9))
    w.uow.tables.assignments["a1"] = ended
    w.clock.set(datetime(2026, 8, 1, tzinfo=UTC))
    await w.forwarder.run_once()
    assert [r.split(":", 4)[4][:10] for r in fixed_debits(w)] == ["2026-03-01", "2026-04-01"]


async def test_usage_under_the_minimum_commitment_is_invoiced_as_a_true_up() -> None:
    w = world(FixedChargeCollection.INVOICE, commitment=Decimal(10))
    await w.send(call("e1"), call("e2"))
    await w.forwarder.run_once()
    view = await w.invoices.get("", "c1", T0, None)
    assert view.usage_total == 2 * UNIT_PRICE
    assert view.true_up == Decimal(10) - 2 * UNIT_PRICE
    assert view.total == FIXED + Decimal(10)
    w.clock.set(PERIOD_END + timedelta(hours=1))
    closed = await w.close("close-1", T0)
    assert (closed.true_up, closed.total) == (view.true_up, view.total)


async def test_usage_over_the_commitment_has_no_true_up() -> None:
    w = world(FixedChargeCollection.INVOICE, commitment=Decimal("0.25"))
    await w.send(call("e1"), call("e2"))
    await w.forwarder.run_once()
    view = await w.invoices.get("", "c1", T0, None)
    assert (view.true_up, view.total) == (Decimal(0), FIXED + 2 * UNIT_PRICE)
