"""Plans listed page by page, a customer's plan read now or at a time, and a plan ended over real
gRPC (the rating service over the real ledger): usage at or after the end is rejected, the last
invoice ends there and closes once it has passed."""

from __future__ import annotations

from datetime import UTC, timedelta

import grpc
import pytest
from billing.rating.v1 import rating_pb2 as pb

from billing_common.protoconv import timestamp
from tests.support.errors import reason_of
from tests.support.rating import event, ingest, rid
from tests.support.servers import START

T = START + timedelta(hours=1)


async def test_plans_are_listed_oldest_first_page_by_page(rating) -> None:  # type: ignore[no-untyped-def]
    created = [(await rating.setup_customer(start=START)).plan.plan_id for _ in range(3)]
    seen, token = [], ""
    while True:
        page = await rating.stub.ListPlans(pb.ListPlansRequest(page_size=2, page_token=token))
        assert len(page.plans) <= 2
        seen += [p.plan_id for p in page.plans]
        token = page.next_page_token
        if not token:
            break
    assert [p for p in seen if p in created] == created
    one = (await rating.stub.GetPlan(pb.GetPlanRequest(plan_id=created[0]))).plan
    listed = (await rating.stub.ListPlans(pb.ListPlansRequest(page_size=500))).plans
    assert one in listed  # what the list shows is what GetPlan reads


async def test_an_ended_plan_rejects_later_usage_and_its_last_invoice_ends_at_the_end(
    rating,
) -> None:  # type: ignore[no-untyped-def]
    s = await rating.setup_customer(start=START)
    rating.clock.set(T)
    now = await rating.stub.GetPlanAssignment(
        pb.GetPlanAssignmentRequest(customer_id=s.customer_id)
    )
    assert (now.assignment.plan_id, now.assignment.HasField("end_time")) == (s.plan.plan_id, False)
    await ingest(rating.stub, [event(s.customer_id, T, units="4")])
    end = T + timedelta(days=2)
    request = pb.EndPlanAssignmentRequest(
        request_id=rid(), customer_id=s.customer_id, end_time=timestamp(end)
    )
    ended = (await rating.stub.EndPlanAssignment(request)).assignment
    assert ended.end_time.ToDatetime(tzinfo=UTC) == end
    assert (await rating.stub.EndPlanAssignment(request)).assignment == ended  # a replay
    read = await rating.stub.GetPlanAssignment(
        pb.GetPlanAssignmentRequest(
            customer_id=s.customer_id, at_time=timestamp(end - timedelta(seconds=1))
        )
    )
    assert read.assignment == ended

    rating.clock.set(end + timedelta(minutes=1))
    answers = await ingest(
        rating.stub,
        [
            event(s.customer_id, end - timedelta(hours=1), units="1"),  # late, before the end
            event(s.customer_id, end, units="1"),
        ],
    )
    before, after = answers.results
    assert before.status == pb.EVENT_STATUS_ACCEPTED
    assert (after.status, after.error.reason) == (pb.EVENT_STATUS_REJECTED, "CUSTOMER_NOT_FOUND")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await rating.stub.GetPlanAssignment(pb.GetPlanAssignmentRequest(customer_id=s.customer_id))
    assert (raised.value.code(), reason_of(raised.value)[0]) == (
        grpc.StatusCode.NOT_FOUND,
        "CUSTOMER_NOT_FOUND",
    )
    await rating.drain()
    closed = (
        await rating.stub.CloseBillingPeriod(
            pb.CloseBillingPeriodRequest(
                request_id=rid(), customer_id=s.customer_id, period_time=timestamp(T)
            )
        )
    ).invoice
    assert closed.period_end_time.ToDatetime(tzinfo=UTC) == end
    assert [line.quantity for line in closed.lines] == ["5"]
