"""A charge the ledger's money type cannot hold (too many fractional or significant digits) is
refused with CHARGE_OUT_OF_RANGE when the event comes in: nothing is written, it never reaches
the ledger, and it never holds back the close of its period."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as pb

from billing_common.protoconv import timestamp
from tests.support.ledger import make_grant, make_wallet
from tests.support.rating import (
    event,
    ingest,
    rid,
    rows,
    setup_customer,
)
from tests.support.servers import START

T = START + timedelta(hours=1)


@pytest.mark.parametrize(
    ("unit_price", "units"),
    [
        ("0.000000001", "0.0000000001"),  # 19 fractional digits
        ("1.000000000000000001", "123456789012345678901"),  # 39 significant digits
    ],
)
async def test_a_charge_money_cannot_hold_is_rejected_and_nothing_written(  # type: ignore[no-untyped-def]
    rating, unit_price: str, units: str
) -> None:
    s = await rating.setup_customer(
        start=START, model=pb.PRICING_MODEL_PER_UNIT, unit_price=unit_price
    )
    rating.clock.set(T)
    r = await ingest(
        rating.stub,
        [event(s.customer_id, T, "big", units=units), event(s.customer_id, T, "ok", units="1")],
    )
    assert r.results[0].status == pb.EVENT_STATUS_REJECTED
    assert r.results[0].error.reason == "CHARGE_OUT_OF_RANGE"
    assert r.results[0].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert r.results[1].status == pb.EVENT_STATUS_ACCEPTED
    assert await rows(rating, "select id from events") == [("ok",)]
    assert await rows(rating, "select event_id from charges") == [("ok",)]
    assert await rows(rating, "select quantity from aggregates") == [(Decimal(1),)]
    # Sent again (for example once the price is fixed) it is not a duplicate.
    again = await ingest(rating.stub, [event(s.customer_id, T, "big", units=units)], sync=True)
    assert again.results[0].error.reason == "CHARGE_OUT_OF_RANGE"


async def test_a_charge_with_too_many_digits_is_rejected_not_retried_forever(both) -> None:  # type: ignore[no-untyped-def]

    ledger = both.ledger.stub
    wallet = await make_wallet(ledger, policy=lpb.OVERAGE_POLICY_ALLOW_OVERAGE)
    await make_grant(ledger, wallet.wallet_id, "100")
    s = await setup_customer(
        both.stub,
        start=START,
        wallet_id=wallet.wallet_id,
        customer_id=wallet.customer_id,
        model=pb.PRICING_MODEL_PER_UNIT,
        unit_price="0.000000001",
    )
    both.ledger.clock.set(T)
    r = await ingest(both.stub, [event(s.customer_id, T, "tiny", units="0.0000000001")])
    assert r.results[0].error.reason == "CHARGE_OUT_OF_RANGE"
    await both.drain()
    both.ledger.clock.set(START + timedelta(days=32))
    closed = await both.stub.CloseBillingPeriod(
        pb.CloseBillingPeriodRequest(
            request_id=rid(), customer_id=s.customer_id, period_time=timestamp(T)
        )
    )
    assert closed.invoice.status == pb.INVOICE_STATUS_FINAL
