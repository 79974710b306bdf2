"""A plan's wallet belongs to its customer: AssignPlan refuses another customer's wallet, and the
ledger refuses a debit whose stated customer does not own the wallet (defence in depth), both
with FAILED_PRECONDITION / WALLET_CUSTOMER_MISMATCH and nothing written."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as pb
from sqlalchemy import text

from billing_common.protoconv import timestamp
from tests.support.errors import reason_of
from tests.support.ledger import debit_request
from tests.support.rating import (
    event,
    ingest,
    rid,
    rows,
)
from tests.support.servers import START

T = START + timedelta(hours=1)
NOT_B = "does not belong to customer 'cust-b'"


async def test_a_plan_cannot_draw_on_another_customers_wallet(rating) -> None:  # type: ignore[no-untyped-def]
    a = await rating.setup_customer(start=START)
    await rating.ledger.grant(a.wallet_id, "100")
    before = await rows(rating, "select id from assignments order by id")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rating.stub.AssignPlan(
            pb.AssignPlanRequest(
                request_id=rid(),
                customer_id="cust-b",
                plan_id=a.plan.plan_id,
                wallet_id=a.wallet_id,
                start_time=timestamp(START),
            )
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(refused.value) == ("WALLET_CUSTOMER_MISMATCH", ["wallet_id"])
    assert await rows(rating, "select id from assignments order by id") == before
    # b has no plan: its events are refused and a's credits are untouched.
    rating.clock.set(T)
    r = await ingest(rating.stub, [event("cust-b", T, "b1", units="10")], sync=True)
    assert r.results[0].error.reason == "CUSTOMER_NOT_FOUND"
    await rating.drain()
    assert await rating.ledger.balance(a.wallet_id) == Decimal(100)


async def test_the_ledger_refuses_a_debit_for_a_customer_who_does_not_own_the_wallet(  # type: ignore[no-untyped-def]
    rating,
) -> None:
    stub = rating.ledger.stub
    wallet = await rating.ledger.wallet(customer_id="cust-a", credits="10")
    mine = debit_request(wallet, "1")
    mine.customer_id = "cust-a"
    theirs = debit_request(wallet, "2")
    theirs.customer_id = "cust-b"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Debit(theirs)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(refused.value) == ("WALLET_CUSTOMER_MISMATCH", ["customer_id"])
    batch = await stub.DebitBatch(lpb.DebitBatchRequest(debits=[theirs, mine]))
    assert batch.results[0].error.reason == "WALLET_CUSTOMER_MISMATCH"
    assert batch.results[0].error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert batch.results[1].entry.amount == "-1"
    # Only the owner's debit was written.
    assert [e.request_id for e in await rating.ledger.entries()] == [mine.request_id]
    assert await rating.ledger.balance(wallet) == Decimal(9)
    # Stating the customer is a check, not part of the debit: the same debit sent without it
    # (as before this field existed) replays the same entry rather than conflicting.
    mine.ClearField("customer_id")
    replay = await stub.Debit(mine)
    assert replay.entry.entry_id == batch.results[1].entry.entry_id
    # ... and a replay still has to name the right customer.
    mine.customer_id = "cust-b"
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await stub.Debit(mine)
    assert reason_of(again.value)[0] == "WALLET_CUSTOMER_MISMATCH"


async def test_the_rating_service_states_the_customer_on_every_debit(rating) -> None:  # type: ignore[no-untyped-def]
    """A plan assigned before AssignPlan checked the owner (a row from an older version) still
    cannot spend another customer's credits: the ledger refuses each debit, the charge is FAILED
    with the reason, and the period closes with it shown as failed."""
    a = await rating.setup_customer(start=START)
    await rating.ledger.grant(a.wallet_id, "100")
    async with rating.rating.engine.begin() as conn:
        await conn.execute(
            text(
                "insert into assignments (id, customer_id, plan_id, wallet_id, start_time, "
                "create_time) values ('legacy', 'cust-b', :plan, :wallet, :start, :start)"
            ),
            {"plan": a.plan.plan_id, "wallet": a.wallet_id, "start": START},
        )
    rating.clock.set(T)
    await ingest(rating.stub, [event("cust-b", T, "b1", units="10")])
    r = await ingest(rating.stub, [event("cust-b", T, "b2", units="4")], sync=True)
    await rating.drain()
    assert r.results[0].charges[0].status == pb.CHARGE_STATUS_FAILED
    assert await rating.ledger.balance(a.wallet_id) == Decimal(100)
    assert await rating.ledger.entries(types=[lpb.ENTRY_TYPE_DEBIT]) == []
    assert await rows(rating, "select event_id, status, last_error from charges order by id") == [
        (
            e,
            "FAILED",
            f"WALLET_CUSTOMER_MISMATCH: wallet {a.wallet_id!r} {NOT_B}",
        )
        for e in ("b1", "b2")
    ]
    rating.clock.set(START + timedelta(days=32))
    closed = await rating.stub.CloseBillingPeriod(
        pb.CloseBillingPeriodRequest(
            request_id=rid(), customer_id="cust-b", period_time=timestamp(T)
        )
    )
    assert closed.invoice.status == pb.INVOICE_STATUS_FINAL
    assert closed.invoice.lines[0].failed_amount == "7"
