"""`billing.rating.v1.RatingService` over grpc.aio: validate, call a use case, convert."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import structlog
from billing.rating.v1 import rating_pb2 as pb
from billing.rating.v1 import rating_pb2_grpc
from billing.type.v1 import types_pb2
from google.protobuf.message import Message

from billing_common import api_keys, metrics, paging, principal
from billing_common.database import is_transient
from billing_common.errors import BillingError, Internal, InvalidArgument, Unavailable
from billing_common.grpc_errors import item_error
from billing_common.grpc_handlers import Ctx, nul_field, rpc
from billing_common.idempotency import fingerprint
from billing_common.protoconv import timestamp
from rating_service.adapters.grpc import convert
from rating_service.adapters.grpc.errors import DOMAIN
from rating_service.app import commands as cmd
from rating_service.app.debits import charge_view
from rating_service.app.use_cases import RatingApp
from rating_service.domain.status import InvoiceStatus

handler = rpc(DOMAIN)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
MAX_US = (datetime.max.replace(tzinfo=UTC) - EPOCH) // US
log = structlog.get_logger(__name__)


def _idem(method: str, request: Message) -> cmd.Idem:
    # Every request of a mutating RPC has a request_id (the Message base type declares no field).
    request_id = convert.ident(request.request_id, "request_id")  # type: ignore[attr-defined]
    digest = fingerprint(method, request)
    customers = principal.current().customers
    if customers is not None:
        # A scoped caller's request is its tenant's own: the same bytes under the same
        # request_id from another tenant conflict (REQUEST_ID_CONFLICT, as any reused id does)
        # instead of replaying the stored answer, which may hold another customer's results.
        scope = "\0".join(sorted(customers)).encode()
        digest = hashlib.sha256(digest + b"\0" + scope).digest()
    return cmd.Idem(request_id, method, digest)


def _require_admin(what: str) -> None:
    """Backfill on a catalogue RPC escalates it from the method's scope (scopes.py) to admin:
    checked here, before anything is read or written (PERMISSION_DENIED, SCOPE_MISSING)."""
    api_keys.require_scope(principal.current(), principal.ADMIN, what)


def _ingest_response(outcomes: list[cmd.EventOutcome]) -> bytes:
    return pb.IngestEventsResponse(
        results=[convert.event_result(o) for o in outcomes]
    ).SerializeToString()


class RatingServicer(rating_pb2_grpc.RatingServiceServicer):
    def __init__(self, app: RatingApp, tokens: paging.PageTokens) -> None:
        self.catalogue = app.catalogue
        self.ingest = app.ingest
        self.invoices = app.invoices
        self.usage = app.usage
        self.clock = app.context.clock
        self.tokens = tokens

    # -- catalogue --------------------------------------------------------------------------

    @handler
    async def CreateMeter(
        self, request: pb.CreateMeterRequest, context: Ctx
    ) -> pb.CreateMeterResponse:
        idem = _idem("CreateMeter", request)
        payload = await self.catalogue.create_meter(
            idem,
            convert.new_meter(request),
            lambda m, t: pb.CreateMeterResponse(meter=convert.meter(m, t)).SerializeToString(),
            principal.current().actor,
        )
        return pb.CreateMeterResponse.FromString(payload)

    @handler
    async def GetMeter(self, request: pb.GetMeterRequest, context: Ctx) -> pb.GetMeterResponse:
        m, t, _ = await self.catalogue.get_meter(convert.ident(request.meter_id, "meter_id"))
        return pb.GetMeterResponse(meter=convert.meter(m, t))

    @handler
    async def ListMeters(
        self, request: pb.ListMetersRequest, context: Ctx
    ) -> pb.ListMetersResponse:
        limit = paging.page_size(request.page_size)
        after = self.tokens.cursor("ListMeters", request.page_token, "seq") or 0
        rows = await self.catalogue.list_meters(after, limit + 1)
        token = ""
        if len(rows) > limit:
            token = self.tokens.encode("ListMeters", {"seq": rows[limit - 1][2]})
        return pb.ListMetersResponse(
            meters=[convert.meter(m, t) for m, t, _ in rows[:limit]], next_page_token=token
        )

    @handler
    async def CreatePrice(
        self, request: pb.CreatePriceRequest, context: Ctx
    ) -> pb.CreatePriceResponse:
        if request.backfill:
            _require_admin("CreatePrice with backfill")
        idem = _idem("CreatePrice", request)
        payload = await self.catalogue.create_price(
            idem,
            convert.new_price(request),
            lambda s: pb.CreatePriceResponse(price=convert.price(s)).SerializeToString(),
            principal.current().actor,
        )
        return pb.CreatePriceResponse.FromString(payload)

    @handler
    async def ListPrices(
        self, request: pb.ListPricesRequest, context: Ctx
    ) -> pb.ListPricesResponse:
        limit = paging.page_size(request.page_size)
        after = self.tokens.cursor("ListPrices", request.page_token, "seq") or 0
        rows = await self.catalogue.list_prices(
            convert.optional_ident(request.meter_id, "meter_id"),
            convert.optional_ident(request.price_id, "price_id"),
            after,
            limit + 1,
        )
        token = ""
        if len(rows) > limit:
            token = self.tokens.encode("ListPrices", {"seq": rows[limit - 1].seq})
        return pb.ListPricesResponse(
            prices=[convert.price(s) for s in rows[:limit]], next_page_token=token
        )

    @handler
    async def CreatePlan(
        self, request: pb.CreatePlanRequest, context: Ctx
    ) -> pb.CreatePlanResponse:
        idem = _idem("CreatePlan", request)
        payload = await self.catalogue.create_plan(
            idem,
            convert.new_plan(request),
            lambda s: pb.CreatePlanResponse(plan=convert.plan(s)).SerializeToString(),
            principal.current().actor,
        )
        return pb.CreatePlanResponse.FromString(payload)

    @handler
    async def GetPlan(self, request: pb.GetPlanRequest, context: Ctx) -> pb.GetPlanResponse:
        return pb.GetPlanResponse(
            plan=convert.plan(
                await self.catalogue.get_plan(convert.ident(request.plan_id, "plan_id"))
            )
        )

    @handler
    async def AssignPlan(
        self, request: pb.AssignPlanRequest, context: Ctx
    ) -> pb.AssignPlanResponse:
        if request.backfill:
            _require_admin("AssignPlan with backfill")
        idem = _idem("AssignPlan", request)
        payload = await self.catalogue.assign_plan(
            idem,
            convert.new_assignment(request),
            lambda a, t: pb.AssignPlanResponse(
                assignment=convert.assignment(a, t)
            ).SerializeToString(),
            principal.current().customers,
            principal.current().actor,
        )
        return pb.AssignPlanResponse.FromString(payload)

    @handler
    async def ListPlans(self, request: pb.ListPlansRequest, context: Ctx) -> pb.ListPlansResponse:
        limit = paging.page_size(request.page_size)
        after = self.tokens.cursor("ListPlans", request.page_token, "seq") or 0
        rows = await self.catalogue.list_plans(after, limit + 1)
        token = ""
        if len(rows) > limit:
            token = self.tokens.encode("ListPlans", {"seq": rows[limit - 1][1]})
        return pb.ListPlansResponse(
            plans=[convert.plan(s) for s, _ in rows[:limit]], next_page_token=token
        )

    @handler
    async def GetPlanAssignment(
        self, request: pb.GetPlanAssignmentRequest, context: Ctx
    ) -> pb.GetPlanAssignmentResponse:
        found, created = await self.catalogue.plan_assignment(
            convert.ident(request.customer_id, "customer_id"),
            convert.time(request, "at_time"),
            principal.current().customers,
        )
        return pb.GetPlanAssignmentResponse(assignment=convert.assignment(found, created))

    @handler
    async def EndPlanAssignment(
        self, request: pb.EndPlanAssignmentRequest, context: Ctx
    ) -> pb.EndPlanAssignmentResponse:
        idem = _idem("EndPlanAssignment", request)
        payload = await self.catalogue.end_assignment(
            idem,
            convert.ident(request.customer_id, "customer_id"),
            convert.time(request, "end_time"),
            lambda a, t: pb.EndPlanAssignmentResponse(
                assignment=convert.assignment(a, t)
            ).SerializeToString(),
            principal.current().customers,
            principal.current().actor,
        )
        return pb.EndPlanAssignmentResponse.FromString(payload)

    # -- ingest -----------------------------------------------------------------------------

    async def _ingest(
        self, method: str, request: pb.IngestEventsRequest | pb.StreamEventsRequest
    ) -> pb.IngestEventsResponse:
        idem = _idem(method, request)
        mode = convert.optional_enum(
            request.mode,
            {
                pb.INGEST_MODE_UNSPECIFIED: "ASYNC",
                pb.INGEST_MODE_ASYNC: "ASYNC",
                pb.INGEST_MODE_SYNC: "SYNC",
            },
            "mode",
        )
        events = [convert.event_in(e) for e in request.events]
        payload = await self.ingest.ingest(
            idem, events, mode == "SYNC", _ingest_response, principal.current().customers
        )
        response = pb.IngestEventsResponse.FromString(payload)
        for result in response.results:
            metrics.EVENTS_INGESTED.labels(pb.EventStatus.Name(result.status)).inc()
        return response

    @handler
    async def IngestEvents(
        self, request: pb.IngestEventsRequest, context: Ctx
    ) -> pb.IngestEventsResponse:
        return await self._ingest("IngestEvents", request)

    @handler
    async def BackfillEvents(
        self, request: pb.BackfillEventsRequest, context: Ctx
    ) -> pb.BackfillEventsResponse:
        """Admin scope (scopes.py): historical usage, without the grace window."""
        idem = _idem("BackfillEvents", request)
        events = [convert.event_in(e) for e in request.events]
        payload = await self.ingest.backfill(
            idem,
            events,
            lambda outcomes: pb.BackfillEventsResponse(
                results=[convert.event_result(o) for o in outcomes]
            ).SerializeToString(),
            principal.current().customers,
        )
        response = pb.BackfillEventsResponse.FromString(payload)
        for result in response.results:
            metrics.EVENTS_INGESTED.labels(pb.EventStatus.Name(result.status)).inc()
        return response

    async def StreamEvents(
        self, request_iterator: AsyncIterator[pb.StreamEventsRequest], context: Ctx
    ) -> AsyncIterator[pb.StreamEventsResponse]:
        """One answer per batch, in order. A batch's error is reported on its answer and the
        stream goes on; each batch is idempotent by its own request_id (same table as
        IngestEvents, its own method name)."""
        async for request in request_iterator:
            try:
                if path := nul_field(request):
                    raise InvalidArgument.field(
                        path, "must not contain NUL characters", "INVALID_TEXT"
                    )
                results = (await self._ingest("StreamEvents", request)).results
                yield pb.StreamEventsResponse(request_id=request.request_id, results=results)
            except BillingError as exc:
                yield pb.StreamEventsResponse(request_id=request.request_id, error=item_error(exc))
            except Exception as exc:
                # Like the unary handlers: transient database trouble is UNAVAILABLE (resend the
                # batch with the same request_id); anything else is our bug, logged, INTERNAL.
                if is_transient(exc):
                    err: BillingError = Unavailable("the database is unavailable; resend the batch")
                else:
                    log.exception("stream_batch_failed", request_id=request.request_id)
                    err = Internal("internal error; the service logged the details")
                yield pb.StreamEventsResponse(request_id=request.request_id, error=item_error(err))

    # -- reads ------------------------------------------------------------------------------

    @handler
    async def GetUsage(self, request: pb.GetUsageRequest, context: Ctx) -> pb.GetUsageResponse:
        granularity = convert.optional_enum(
            request.granularity,
            {
                pb.GRANULARITY_UNSPECIFIED: "",
                pb.GRANULARITY_HOUR: "HOUR",
                pb.GRANULARITY_DAY: "DAY",
            },
            "granularity",
        )
        start = end = None
        if request.HasField("time_range"):
            start = convert.time(request.time_range, "start_time", "time_range.start_time")
            end = convert.time(request.time_range, "end_time", "time_range.end_time")
        view = await self.usage.query(
            cmd.UsageQuery(
                customer_id=convert.ident(request.customer_id, "customer_id"),
                meter_id=convert.ident(request.meter_id, "meter_id"),
                start=start,
                end=end,
                period_time=convert.time(request, "period_time"),
                granularity=granularity,
                group_by=convert.text(request.group_by_property, "group_by_property"),
            ),
            principal.current().customers,
        )
        return pb.GetUsageResponse(
            total=convert.fmt(view.total),
            start_time=timestamp(view.start),
            end_time=timestamp(view.end),
            series=[
                pb.UsagePoint(
                    start_time=timestamp(p.start),
                    end_time=timestamp(p.end),
                    group=p.group,
                    quantity=convert.fmt(p.quantity),
                )
                for p in view.series
            ],
        )

    @handler
    async def PreviewCharge(
        self, request: pb.PreviewChargeRequest, context: Ctx
    ) -> pb.PreviewChargeResponse:
        event = convert.event_in(request.event)
        if event.occurred_time is None and event.error is None:
            event = cmd.EventIn(
                event.event_id,
                event.customer_id,
                event.type,
                self.clock.now(),
                event.properties,
            )
        outcome = await self.ingest.preview(event, principal.current().customers)
        result = convert.event_result(outcome)
        for c in result.charges:
            c.status = pb.CHARGE_STATUS_UNSPECIFIED  # nothing was recorded
        return pb.PreviewChargeResponse(result=result)

    @handler
    async def GetInvoice(
        self, request: pb.GetInvoiceRequest, context: Ctx
    ) -> pb.GetInvoiceResponse:
        view = await self.invoices.get(
            convert.optional_ident(request.invoice_id, "invoice_id"),
            convert.optional_ident(request.customer_id, "customer_id"),
            convert.time(request, "period_time"),
            principal.current().customers,
        )
        return pb.GetInvoiceResponse(invoice=convert.invoice(view))

    @handler
    async def ListInvoices(
        self, request: pb.ListInvoicesRequest, context: Ctx
    ) -> pb.ListInvoicesResponse:
        limit = paging.page_size(request.page_size)
        # The cursor is the last invoice's (period start in microseconds since the epoch, row seq).
        cursor = self.tokens.decode("ListInvoices", request.page_token, ("start_us", "seq"))
        before = None
        if cursor is not None:
            start_us, seq = cursor
            if start_us > MAX_US:  # beyond any date: not a token we issued
                raise paging.invalid_token()
            before = (EPOCH + timedelta(microseconds=start_us), seq)
        status = convert.optional_enum(
            request.status,
            {
                pb.INVOICE_STATUS_UNSPECIFIED: "",
                pb.INVOICE_STATUS_DRAFT: InvoiceStatus.DRAFT,
                pb.INVOICE_STATUS_FINAL: InvoiceStatus.FINAL,
            },
            "status",
        )
        rows = await self.invoices.list(
            convert.ident(request.customer_id, "customer_id"),
            status,
            before,
            limit + 1,
            principal.current().customers,
        )
        token = ""
        if len(rows) > limit:
            (start, seq), _ = rows[limit - 1]
            token = self.tokens.encode(
                "ListInvoices", {"start_us": (start - EPOCH) // US, "seq": seq}
            )
        return pb.ListInvoicesResponse(
            invoices=[convert.invoice(v) for _, v in rows[:limit]], next_page_token=token
        )

    @handler
    async def CloseBillingPeriod(
        self, request: pb.CloseBillingPeriodRequest, context: Ctx
    ) -> pb.CloseBillingPeriodResponse:
        idem = _idem("CloseBillingPeriod", request)
        at = convert.time(request, "period_time")
        if at is None:
            raise InvalidArgument.field("period_time", "is required", "MISSING_FIELD")
        payload = await self.invoices.close(
            idem,
            convert.ident(request.customer_id, "customer_id"),
            at,
            lambda v: pb.CloseBillingPeriodResponse(invoice=convert.invoice(v)).SerializeToString(),
            principal.current().customers,
            principal.current().actor,
        )
        return pb.CloseBillingPeriodResponse.FromString(payload)

    @handler
    async def ListInvoiceLineEvents(
        self, request: pb.ListInvoiceLineEventsRequest, context: Ctx
    ) -> pb.ListInvoiceLineEventsResponse:
        limit = paging.page_size(request.page_size)
        after = self.tokens.cursor("ListInvoiceLineEvents", request.page_token, "id") or 0
        rows = await self.invoices.line_events(
            convert.ident(request.invoice_id, "invoice_id"),
            convert.ident(request.line_id, "line_id"),
            after,
            limit + 1,
            principal.current().customers,
        )
        token = ""
        if len(rows) > limit:
            token = self.tokens.encode("ListInvoiceLineEvents", {"id": rows[limit - 1][0]})
        return pb.ListInvoiceLineEventsResponse(
            events=[
                pb.LineEvent(
                    event=convert.event(e),
                    charge=convert.charge(charge_view(c)),
                )
                for _, e, c in rows[:limit]
            ],
            next_page_token=token,
        )


__all__ = ["RatingServicer", "log", "types_pb2"]
