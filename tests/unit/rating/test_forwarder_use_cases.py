"""The forwarder's charge lifecycle against the fake ledger: a PENDING charge is acknowledged,
denied (a DENY wallet that cannot cover it) or failed (a permanent refusal, or the ledger failing
on it too often), is retried with backoff while the ledger is unreachable, and is never booked
twice: every attempt carries the same request id, and nothing decided is sent again. A negative
charge is refunded against the aggregate's earlier debit, once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from billing_common.periods import Cadence
from rating_service.app.delivery import ForwarderPolicy
from rating_service.app.ports import Refused
from rating_service.domain.aggregation import Aggregation
from rating_service.domain.events import EventIn
from rating_service.domain.meters import Meter
from rating_service.domain.model import Plan, PlanPrice, PriceVersion
from rating_service.domain.pricing import Pricing, PricingModel
from rating_service.domain.status import ChargeStatus, LedgerRefusal
from tests.unit.rating.fakes import PERIOD_START, T0, Wallet, call, world


async def test_a_pending_charge_is_sent_once_and_acknowledged() -> None:
    w = world()
    await w.send(call("e1"))
    assert await w.forwarder.run_once() == 1
    [charge] = w.uow.charges()
    assert charge.status == ChargeStatus.ACKNOWLEDGED
    assert charge.ledger_entry_id == w.ledger.booked[charge.new.ledger_request_id][1].entry_id
    assert charge.prepaid == charge.new.amount  # the fake's grants are PREPAID
    assert await w.forwarder.run_once() == 0
    assert w.ledger.debits_sent() == [charge.new.ledger_request_id]


async def test_a_deny_wallet_that_cannot_cover_the_charge_leaves_it_denied() -> None:
    w = world()
    w.ledger.wallets["w1"] = Wallet("c1", balance=Decimal("0.10"))
    await w.send(call("e1"))
    await w.forwarder.run_once()
    [charge] = w.uow.charges()
    assert charge.status == ChargeStatus.DENIED
    assert charge.last_error.startswith("INSUFFICIENT_CREDITS")
    w.clock.advance(timedelta(hours=1))
    assert await w.forwarder.run_once() == 0
    assert len(w.ledger.debits_sent()) == 1


async def test_a_permanent_refusal_fails_the_charge_for_good() -> None:
    w = world()
    refused = Refused(LedgerRefusal.PERMANENT, "WALLET_NOT_FOUND", "no such wallet")
    w.ledger.wallets["w1"] = Wallet("c1", refusal=refused)
    await w.send(call("e1"))
    await w.forwarder.run_once()
    [charge] = w.uow.charges()
    assert (charge.status, charge.last_error) == (ChargeStatus.FAILED, refused.error)
    w.clock.advance(timedelta(hours=1))
    assert await w.forwarder.run_once() == 0
    assert len(w.ledger.debits_sent()) == 1


async def test_a_charge_the_ledger_keeps_failing_on_is_failed_after_a_bounded_number_of_tries() -> (
    None
):
    w = world(forwarder=ForwarderPolicy(backoff_base_s=1, backoff_max_s=1, internal_answers_max=3))
    refused = Refused(LedgerRefusal.LEDGER_FAILED, "INTERNAL", "the ledger failed")
    w.ledger.wallets["w1"] = Wallet("c1", refusal=refused)
    await w.send(call("e1"))
    for _ in range(5):
        await w.forwarder.run_once()
        w.clock.advance(timedelta(seconds=2))
    [charge] = w.uow.charges()
    assert (charge.status, charge.internal_errors) == (ChargeStatus.FAILED, 3)
    assert len(w.ledger.debits_sent()) == 3


async def test_an_unreachable_ledger_leaves_the_charge_pending_until_a_retry_books_it() -> None:
    w = world()
    await w.send(call("e1"))
    w.ledger.unavailable = 1
    await w.forwarder.run_once()
    [charge] = w.uow.charges()
    assert (charge.status, charge.attempts) == (ChargeStatus.PENDING, 1)
    assert charge.forward_after > w.clock.now()
    assert await w.forwarder.run_once() == 0  # not due yet: backing off
    w.clock.set(charge.forward_after)
    await w.forwarder.run_once()
    [charge] = w.uow.charges()
    assert charge.status == ChargeStatus.ACKNOWLEDGED
    assert w.ledger.debits_sent() == [charge.new.ledger_request_id] * 2
    assert list(w.ledger.booked) == [charge.new.ledger_request_id]


async def test_a_debit_booked_before_its_answer_was_lost_is_not_booked_twice() -> None:
    w = world()
    await w.send(call("e1"))
    w.ledger.lose_answers = 1
    await w.forwarder.run_once()
    [charge] = w.uow.charges()
    assert charge.status == ChargeStatus.PENDING
    w.clock.set(charge.forward_after)
    await w.forwarder.run_once()
    [charge] = w.uow.charges()
    booked_entry = w.ledger.booked[charge.new.ledger_request_id][1].entry_id
    assert (charge.status, charge.ledger_entry_id) == (ChargeStatus.ACKNOWLEDGED, booked_entry)
    assert len(w.ledger.booked) == 1


async def test_a_batch_refused_whole_is_split_until_each_debit_is_answered() -> None:
    w = world(forwarder=ForwarderPolicy(concurrency=1))
    w.ledger.batch_refused_over = 1
    await w.send(*(call(f"e{i}") for i in range(4)))
    await w.forwarder.run_once()
    assert {c.status for c in w.uow.charges()} == {ChargeStatus.ACKNOWLEDGED}
    batches = [ids for method, ids in w.ledger.calls if method == "DebitBatch"]
    assert [len(b) for b in batches] == [4, 2, 1, 1, 2, 1, 1]  # 2n - 1 calls
    assert len(w.ledger.booked) == 4


async def test_the_charges_of_one_wallet_go_in_order() -> None:
    w = world()
    await w.send(*(call(f"e{i}") for i in range(5)))
    await w.forwarder.run_once()
    sent = w.ledger.debits_sent()
    assert sent == [c.new.ledger_request_id for c in w.uow.charges()]


async def test_a_negative_charge_is_refunded_against_the_earlier_debit_once() -> None:
    w = world()
    w.uow.add_meter(Meter("m2", "seats", "seats", Aggregation.LATEST, value_property="count"))
    pricing = Pricing(PricingModel.PER_UNIT, unit_price=Decimal(2))
    w.uow.add_price(PriceVersion("p2", 1, "m2", PERIOD_START, pricing), "USD", PERIOD_START)
    plan = Plan("plan1", "Seats", Cadence.MONTHLY, PERIOD_START, Decimal(0), (PlanPrice("p2"),))
    w.uow.add_plan(plan, "USD", PERIOD_START)
    seats = [
        EventIn("s1", "c1", "seats", T0 - timedelta(minutes=2), {"count": "5"}),
        EventIn("s2", "c1", "seats", T0 - timedelta(minutes=1), {"count": "2"}),
    ]
    await w.send(*seats)
    debit, refund = w.uow.charges()
    assert (debit.new.amount, refund.new.amount) == (Decimal(10), Decimal(-6))
    await w.forwarder.run_once()
    debit, refund = w.uow.charges()
    assert (debit.status, refund.status) == (ChargeStatus.ACKNOWLEDGED,) * 2
    assert debit.refunded == 6
    [part] = w.uow.tables.refund_parts
    assert (part.debit_entry_id, part.amount) == (debit.ledger_entry_id, 6)
    assert refund.ledger_entry_id == part.ledger_entry_id != ""
    w.clock.advance(timedelta(hours=1))
    await w.forwarder.run_once()
    assert [m for m, _ in w.ledger.calls].count("RefundDebit") == 1
