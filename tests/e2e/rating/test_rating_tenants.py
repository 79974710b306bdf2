"""Tenant isolation in the rating service, over gRPC on the real server (wired to the real
ledger) with real API keys. A caller bound to some customers (a key with customer_ids and every
scope) gets, for another customer, exactly the answer it gets for a customer that does not
exist: same code, reason, fields and message (the id aside), or the same empty result, and
writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

import grpc
import pytest
from billing.rating.v1 import rating_pb2 as pb
from billing.rating.v1 import rating_pb2_grpc
from google.protobuf.message import Message

from billing_common import api_keys
from billing_common.protoconv import timestamp
from tests.e2e.test_ledger_bad_input import rich_error
from tests.support.channels import admin_key, open_channel
from tests.support.principals import tenant_channel
from tests.support.rating import event, ingest, rid, rows
from tests.support.servers import START

T = START + timedelta(hours=1)
# The session's admin key (the fixtures' calls), as recorded on what it writes.
ADMIN = f"key:{api_keys.key_id_of(admin_key())}"


@dataclass
class World:
    rating: Any  # tests/e2e/rating/conftest.py RunningRating
    tenant: rating_pb2_grpc.RatingServiceStub  # a key bound to `own`
    actor: str  # the tenant key's, as recorded
    own: str
    foreign: str
    meter_id: str
    invoice_id: str  # the foreign customer's
    line_id: str
    plan_id: str  # the foreign customer's plan and wallet
    wallet_id: str

    async def foreign_view(self) -> list[bytes]:
        """What an unscoped caller reads of the foreign customer: unchanged by refused calls."""
        stub = self.rating.stub
        reads: list[Message] = [
            await stub.GetInvoice(pb.GetInvoiceRequest(invoice_id=self.invoice_id)),
            await stub.ListInvoices(pb.ListInvoicesRequest(customer_id=self.foreign)),
            await stub.GetUsage(
                pb.GetUsageRequest(customer_id=self.foreign, meter_id=self.meter_id)
            ),
            await stub.GetPlanAssignment(pb.GetPlanAssignmentRequest(customer_id=self.foreign)),
        ]
        return [r.SerializeToString(deterministic=True) for r in reads]


@pytest.fixture
async def world(rating: Any) -> AsyncIterator[World]:
    foreign = await rating.setup_customer(start=START)
    own = await rating.setup_customer(start=START)
    rating.clock.set(T)
    await ingest(rating.stub, [event(foreign.customer_id, T, units="3")])
    await rating.drain()
    draft = (
        await rating.stub.GetInvoice(
            pb.GetInvoiceRequest(customer_id=foreign.customer_id, period_time=timestamp(T))
        )
    ).invoice
    target = rating.rating.server.listen_target
    admin = open_channel(target)
    actor, bound = await tenant_channel(admin, target, [own.customer_id])
    try:
        tenant = rating_pb2_grpc.RatingServiceStub(bound)
        yield World(
            rating,
            tenant,
            actor,
            own.customer_id,
            foreign.customer_id,
            foreign.meter.meter_id,
            draft.invoice_id,
            draft.lines[0].line_id,
            foreign.plan.plan_id,
            foreign.wallet_id,
        )
    finally:
        await bound.close()
        await admin.close()


async def answer(world: World, method: str, request: Message, target: str) -> tuple[Any, ...]:
    """The call's answer as the tenant, with `target` (the id asked about) written as <id>."""
    try:
        response = await getattr(world.tenant, method)(request)
    except grpc.aio.AioRpcError as exc:
        err = rich_error(exc)
        return (err.code, err.reason, err.domain, err.fields, err.message.replace(target, "<id>"))
    return ("ok", str(response).replace(target, "<id>"))


# Customer-addressed RPCs: (method, what the id is, request for a customer or invoice id,
# the code a foreign one gets: NOT_FOUND, or None when the answer is an (empty) result).
CASES: list[tuple[str, str, Callable[[World, str], Message], grpc.StatusCode | None]] = [
    (
        "GetUsage",
        "customer",
        lambda w, c: pb.GetUsageRequest(customer_id=c, meter_id=w.meter_id),
        grpc.StatusCode.NOT_FOUND,
    ),
    (
        "GetUsage",  # over a time range no plan is needed: no events, for a foreign customer
        "customer",
        lambda w, c: pb.GetUsageRequest(
            customer_id=c,
            meter_id=w.meter_id,
            time_range={
                "start_time": timestamp(START),
                "end_time": timestamp(T + timedelta(hours=1)),
            },
        ),
        None,
    ),
    (
        "GetInvoice",
        "customer",
        lambda w, c: pb.GetInvoiceRequest(customer_id=c, period_time=timestamp(T)),
        grpc.StatusCode.NOT_FOUND,
    ),
    (
        "GetInvoice",
        "invoice",
        lambda w, i: pb.GetInvoiceRequest(invoice_id=i),
        grpc.StatusCode.NOT_FOUND,
    ),
    ("ListInvoices", "customer", lambda w, c: pb.ListInvoicesRequest(customer_id=c), None),
    (
        "CloseBillingPeriod",
        "customer",
        lambda w, c: pb.CloseBillingPeriodRequest(
            request_id=rid(), customer_id=c, period_time=timestamp(START)
        ),
        grpc.StatusCode.NOT_FOUND,
    ),
    (
        "ListInvoiceLineEvents",
        "invoice",
        lambda w, i: pb.ListInvoiceLineEventsRequest(invoice_id=i, line_id=w.line_id),
        grpc.StatusCode.NOT_FOUND,
    ),
    (
        "PreviewCharge",
        "customer",
        lambda w, c: pb.PreviewChargeRequest(event=event(c, T, "preview-1", units="1")),
        None,
    ),
    (
        "AssignPlan",
        "customer",
        lambda w, c: pb.AssignPlanRequest(
            request_id=rid(), customer_id=c, plan_id=w.plan_id, wallet_id=w.wallet_id
        ),
        grpc.StatusCode.NOT_FOUND,
    ),
    (
        "GetPlanAssignment",
        "customer",
        lambda w, c: pb.GetPlanAssignmentRequest(customer_id=c),
        grpc.StatusCode.NOT_FOUND,
    ),
    (
        "EndPlanAssignment",
        "customer",
        lambda w, c: pb.EndPlanAssignmentRequest(
            request_id=rid(), customer_id=c, end_time=timestamp(T + timedelta(days=90))
        ),
        grpc.StatusCode.NOT_FOUND,
    ),
]


@pytest.mark.parametrize(
    ("method", "kind", "build", "code"),
    CASES,
    ids=[f"{m}-{i}" for i, (m, *_) in enumerate(CASES)],
)
async def test_another_customer_answers_exactly_like_a_customer_that_does_not_exist(
    world: World,
    method: str,
    kind: str,
    build: Callable[[World, str], Message],
    code: grpc.StatusCode | None,
) -> None:
    before = await world.foreign_view()
    target = world.foreign if kind == "customer" else world.invoice_id
    missing = f"nobody-{rid()}"
    seen = await answer(world, method, build(world, target), target)
    absent = await answer(world, method, build(world, missing), missing)
    assert seen[0] == (code or "ok")
    assert seen == absent
    assert await world.foreign_view() == before  # nothing written


async def test_foreign_events_of_a_batch_are_refused_one_by_one_and_write_nothing(
    world: World,
) -> None:
    before = await world.foreign_view()
    missing = f"nobody-{rid()}"
    events = [
        event(world.own, T, "own-1", units="2"),
        event(world.foreign, T, "foreign-1", units="2"),
        event(missing, T, "nobody-1", units="2"),
    ]
    results = (
        await world.tenant.IngestEvents(pb.IngestEventsRequest(request_id=rid(), events=events))
    ).results
    own, foreign, absent = results
    assert own.status == pb.EVENT_STATUS_ACCEPTED
    assert foreign.status == absent.status == pb.EVENT_STATUS_REJECTED
    assert foreign.error.reason == "CUSTOMER_NOT_FOUND"
    assert (
        foreign.error.code,
        foreign.error.message.replace(world.foreign, "<id>"),
        list(foreign.error.field_violations),
    ) == (
        absent.error.code,
        absent.error.message.replace(missing, "<id>"),
        list(absent.error.field_violations),
    )
    assert await world.foreign_view() == before


async def test_assigning_a_plan_with_another_customers_wallet_is_wallet_not_found(
    world: World, rating: Any
) -> None:
    foreign_wallet = await rating.ledger.wallet(customer_id=world.foreign, unit="TOKENS")
    own_plan = (
        await rating.stub.CreatePlan(
            pb.CreatePlanRequest(
                request_id=rid(),
                name="own plan",
                cadence=pb.CADENCE_MONTHLY,
                billing_anchor_time=timestamp(START),
                unit="CREDITS",
            )
        )
    ).plan.plan_id

    def assign(wallet_id: str) -> pb.AssignPlanRequest:
        return pb.AssignPlanRequest(
            request_id=rid(),
            customer_id=world.own,
            plan_id=own_plan,
            wallet_id=wallet_id,
            start_time=timestamp(T + timedelta(days=60)),
        )

    missing = f"nobody-{rid()}"
    seen = await answer(world, "AssignPlan", assign(foreign_wallet), foreign_wallet)
    absent = await answer(world, "AssignPlan", assign(missing), missing)
    assert seen[:2] == (grpc.StatusCode.NOT_FOUND, "WALLET_NOT_FOUND")
    assert seen == absent


async def test_catalogue_rows_and_closed_invoices_record_who_wrote_them(
    world: World, rating: Any
) -> None:
    meter = (
        await world.tenant.CreateMeter(
            pb.CreateMeterRequest(
                request_id=rid(),
                key="audited",
                event_type="api.call",
                aggregation=pb.AGGREGATION_COUNT,
            ),
        )
    ).meter
    price = (
        await world.tenant.CreatePrice(
            pb.CreatePriceRequest(
                request_id=rid(),
                meter_id=meter.meter_id,
                unit="CREDITS",
                effective_time=timestamp(T + timedelta(days=1)),
                model=pb.PRICING_MODEL_PER_UNIT,
                unit_price="1",
            ),
        )
    ).price
    plan = (
        await world.tenant.CreatePlan(
            pb.CreatePlanRequest(
                request_id=rid(),
                name="audited",
                cadence=pb.CADENCE_MONTHLY,
                billing_anchor_time=timestamp(T + timedelta(days=1)),
                unit="CREDITS",
                prices=[pb.PlanPrice(price_id=price.price_id)],
            ),
        )
    ).plan
    rating.clock.set(START + timedelta(days=40))
    closed = (
        await world.tenant.CloseBillingPeriod(
            pb.CloseBillingPeriodRequest(
                request_id=rid(), customer_id=world.own, period_time=timestamp(START)
            ),
        )
    ).invoice
    recorded = {
        "meter": await rows(rating, f"SELECT created_by FROM meters WHERE id = '{meter.meter_id}'"),
        "price": await rows(
            rating, f"SELECT created_by FROM price_versions WHERE price_id = '{price.price_id}'"
        ),
        "plan": await rows(rating, f"SELECT created_by FROM plans WHERE id = '{plan.plan_id}'"),
        "invoice": await rows(
            rating, f"SELECT closed_by FROM invoices WHERE id = '{closed.invoice_id}'"
        ),
        # Made by the fixtures, with the admin key.
        "assignment": await rows(
            rating, f"SELECT created_by FROM assignments WHERE customer_id = '{world.own}'"
        ),
    }
    assert recorded == {
        "meter": [(world.actor,)],
        "price": [(world.actor,)],
        "plan": [(world.actor,)],
        "invoice": [(world.actor,)],
        "assignment": [(ADMIN,)],
    }


async def test_ending_a_plan_records_who_ended_it(world: World, rating: Any) -> None:
    end = T + timedelta(days=90)
    ended = (
        await world.tenant.EndPlanAssignment(
            pb.EndPlanAssignmentRequest(
                request_id=rid(), customer_id=world.own, end_time=timestamp(end)
            )
        )
    ).assignment
    assert ended.end_time.ToDatetime(tzinfo=UTC) == end
    recorded = await rows(
        rating, f"SELECT created_by, ended_by FROM assignments WHERE customer_id = '{world.own}'"
    )
    assert recorded == [(ADMIN, world.actor)]


async def test_replaying_another_tenants_ingest_request_id_is_a_conflict_not_its_results(
    world: World,
) -> None:
    request = pb.IngestEventsRequest(
        request_id=rid(), events=[event(world.foreign, T, "replayed-1", units="5")]
    )
    await world.rating.stub.IngestEvents(request)  # stored with the foreign customer's result
    before = await world.foreign_view()
    seen = await answer(world, "IngestEvents", request, world.foreign)
    assert seen[:2] == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_CONFLICT")
    assert await world.foreign_view() == before
