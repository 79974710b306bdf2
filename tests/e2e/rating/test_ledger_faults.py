"""What the forwarder does with answers of the real ledger that are not a booking: a fault the
ledger cannot get past (INTERNAL) is retried a bounded number of times, then the charge is
FAILED with the reason, counted in a metric and logged, and the period closes with it shown; one
bad charge never holds back the others sent in the same DebitBatch. A permanent refusal (the
wallet gone, a refund exceeding what is left of its debit) fails the charge at once, and the
period still closes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as pb
from prometheus_client import REGISTRY
from sqlalchemy import text
from structlog.testing import capture_logs

from billing_common.protoconv import timestamp
from tests.support.rating import (
    close_period,
    event,
    ingest,
    rid,
    rows,
)
from tests.support.servers import START

T = START + timedelta(hours=1)


async def break_ledger_storage_for(rating, wallet_id: str) -> None:  # type: ignore[no-untyped-def]
    """A fault inside the real ledger that every retry hits again: its database refuses any
    journal entry of this wallet (as a corrupted index or a bad migration would), so each
    DebitBatch that contains a debit of it fails as a whole with INTERNAL."""
    engine = rating.ledger.running.ledger.engine
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "create function refuse_entries() returns trigger language plpgsql as $$ "
                f"begin if new.wallet_id = '{wallet_id}' then "
                "raise exception 'storage fault for this wallet'; end if; return new; end $$"
            )
        )
        await conn.execute(
            text(
                "create trigger refuse_entries before insert on entries "
                "for each row execute function refuse_entries()"
            )
        )


def failed_total(reason: str) -> float:
    labels = {"kind": "debit", "reason": reason}
    return REGISTRY.get_sample_value("billing_rating_charges_failed_total", labels) or 0.0


async def test_an_internal_ledger_fault_fails_the_charge_after_bounded_retries(rating) -> None:  # type: ignore[no-untyped-def]
    healthy = await rating.setup_customer(start=START)
    broken = await rating.setup_customer(start=START)
    await break_ledger_storage_for(rating, broken.wallet_id)
    rating.clock.set(T)
    await ingest(
        rating.stub,
        [
            event(broken.customer_id, T, "bad", units="4"),
            event(healthy.customer_id, T, "good", units="10"),
        ],
    )
    before = failed_total("INTERNAL")
    answers_max = rating.rating.forwarder.policy.internal_answers_max
    with capture_logs() as logs:
        await rating.drain()
        # The healthy charge went through at once, though it shared the batch with the bad one.
        assert await rows(rating, "select event_id, status from charges order by event_id") == [
            ("bad", "PENDING"),
            ("good", "ACKNOWLEDGED"),
        ]
        assert await rating.ledger.balance(healthy.wallet_id) == Decimal(-5)
        for _ in range(answers_max + 2):  # bounded: a bug here cannot hang the test
            [(status,)] = await rows(rating, "select status from charges where event_id = 'bad'")
            if status != "PENDING":
                break
            rating.clock.advance(timedelta(seconds=rating.rating.forwarder.policy.backoff_max_s))
            await rating.drain()
    [(status, internal, error)] = await rows(
        rating, "select status, internal_errors, last_error from charges where event_id = 'bad'"
    )
    assert (status, internal) == ("FAILED", answers_max)
    assert error.startswith("INTERNAL: ")
    assert failed_total("INTERNAL") == before + 1
    failed = [e for e in logs if e["event"] == "charge_failed"]
    assert [(e["event_id"], e["reason"], e["log_level"]) for e in failed] == [
        ("bad", "INTERNAL", "error")
    ]
    assert await rating.ledger.balance(broken.wallet_id) == Decimal(0)
    # The period closes, the failed charge visible on the invoice.
    rating.clock.set(START + timedelta(days=32))
    closed = await rating.stub.CloseBillingPeriod(
        pb.CloseBillingPeriodRequest(
            request_id=rid(), customer_id=broken.customer_id, period_time=timestamp(T)
        )
    )
    assert closed.invoice.status == pb.INVOICE_STATUS_FINAL
    assert closed.invoice.lines[0].failed_amount == "2"
    assert closed.invoice.lines[0].pending_amount == "0"
    listed = await rating.stub.ListInvoiceLineEvents(
        pb.ListInvoiceLineEventsRequest(
            invoice_id=closed.invoice.invoice_id, line_id=closed.invoice.lines[0].line_id
        )
    )
    assert [(e.event.event_id, e.charge.status) for e in listed.events] == [
        ("bad", pb.CHARGE_STATUS_FAILED)
    ]


async def test_a_permanent_ledger_refusal_fails_the_charge_and_the_period_closes(rating) -> None:  # type: ignore[no-untyped-def]
    """The forwarder retried every refusal but a DENY forever, so CloseBillingPeriod never
    passed CHARGES_PENDING."""
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    # The wallet is gone from the ledger after the plan was assigned (removed by an operator):
    # the real ledger refuses every debit to it with NOT_FOUND / WALLET_NOT_FOUND.
    await rating.ledger.remove_wallet(s.wallet_id)
    await ingest(rating.stub, [event(s.customer_id, T, "e1", units="4")])
    await rating.drain()
    rating.clock.advance(timedelta(hours=2))
    await rating.drain()
    assert await rows(rating, "select status, attempts, last_error from charges") == [
        ("FAILED", 0, f"WALLET_NOT_FOUND: wallet {s.wallet_id!r} does not exist")
    ]
    rating.clock.set(START + timedelta(days=32))
    invoice = await close_period(rating.stub, s.customer_id, T)
    assert invoice.status == pb.INVOICE_STATUS_FINAL
    assert invoice.lines[0].failed_amount == "2"
    assert invoice.lines[0].pending_amount == "0"


async def test_a_permanent_refund_refusal_fails_the_refund(rating) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START, aggregation=pb.AGGREGATION_LATEST, prop="seats")
    rating.clock.set(T)
    await ingest(rating.stub, [event(s.customer_id, T, "l1", seats="10")])
    await rating.drain()  # the debit is booked
    await ingest(rating.stub, [event(s.customer_id, T + timedelta(minutes=1), "l2", seats="4")])
    # Someone else refunds l1's whole debit on the ledger first: the rating service's refund of
    # 3 then exceeds what is left, and the real ledger refuses it with REFUND_EXCEEDS_DEBIT.
    [debit] = await rating.ledger.entries(types=[lpb.ENTRY_TYPE_DEBIT])
    await rating.ledger.stub.RefundDebit(
        lpb.RefundDebitRequest(request_id=rid(), entry_id=debit.entry_id, amount="5")
    )
    await rating.drain()
    assert await rows(rating, "select event_id, status from charges order by id") == [
        ("l1", "ACKNOWLEDGED"),
        ("l2", "FAILED"),
    ]
