"""The invoice use cases against the fakes: an invoice equals its fixed charge plus the sum of its
lines, each line the sum of its charges; a period closes only once it has ended and nothing of it
is on its way to the ledger; a closed period is final (its invoice never changes, late usage for
it is rejected, closing it again answers the same invoice)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from rating_service.domain.errors import ChargesPending, PeriodNotEnded
from rating_service.domain.events import EventStatus
from rating_service.domain.status import ChargeStatus, InvoiceStatus
from tests.unit.rating.fakes import PERIOD_END, T0, UNIT_PRICE, Wallet, World, call, world


async def charged(w: World, count: int) -> None:
    await w.send(*(call(f"e{i}", at=T0 + timedelta(minutes=i)) for i in range(count)))
    await w.forwarder.run_once()


async def test_an_invoice_equals_the_sum_of_its_lines() -> None:
    w = world()
    await charged(w, 3)
    w.ledger.wallets["w1"] = Wallet("c1", balance=Decimal(0))  # DENY: the next one is refused
    await w.send(call("late", at=T0 - timedelta(hours=1)))
    await w.forwarder.run_once()
    view = await w.invoices.get("", "c1", T0, None)
    [line] = view.lines
    assert (line.quantity, line.amount, line.denied) == (4, 4 * UNIT_PRICE, UNIT_PRICE)
    assert view.usage_total == sum((ln.amount for ln in view.lines), Decimal(0))
    assert view.total == view.fixed_charge + view.usage_total
    assert view.prepaid == 3 * UNIT_PRICE
    assert sum(c.new.amount for c in w.uow.charges()) == view.usage_total


async def test_a_period_cannot_close_before_it_ends() -> None:
    w = world()
    await charged(w, 1)
    with pytest.raises(PeriodNotEnded):
        await w.close("close-1", T0)
    assert {r.status for r in w.uow.tables.invoices.values()} == {InvoiceStatus.DRAFT}


async def test_a_period_with_charges_on_their_way_to_the_ledger_cannot_close() -> None:
    w = world()
    await w.send(call("e1"))
    w.clock.set(PERIOD_END + timedelta(hours=1))
    with pytest.raises(ChargesPending):
        await w.close("close-1", T0)
    assert {r.status for r in w.uow.tables.invoices.values()} == {InvoiceStatus.DRAFT}
    assert "close-1" not in w.uow.tables.keys  # refused: the request id is not remembered


async def test_a_closed_period_is_final() -> None:
    w = world()
    await charged(w, 2)
    w.clock.set(PERIOD_END + timedelta(hours=1))
    closed = await w.close("close-1", T0)
    assert (closed.status, closed.usage_total) == (InvoiceStatus.FINAL, 2 * UNIT_PRICE)

    [late] = await w.send(call("late", at=PERIOD_END - timedelta(minutes=1)))
    assert late.status == EventStatus.REJECTED
    assert late.error is not None and late.error.reason == "PERIOD_CLOSED"
    assert [c.status for c in w.uow.charges()] == [ChargeStatus.ACKNOWLEDGED] * 2

    assert await w.invoices.get(closed.id, "", None, None) == closed
    again = await w.close("close-2", T0)
    assert (again.id, again.status, again.total) == (closed.id, InvoiceStatus.FINAL, closed.total)
