"""The webhook RPCs of `billing.ledger.v1.LedgerService`: validation, use case, conversion.

A mixin of LedgerServicer (kept apart so the servicer module stays readable).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from billing.ledger.v1 import ledger_pb2 as pb

from billing_common import paging, principal
from billing_common.enums import EnumMap
from billing_common.errors import InvalidArgument, require
from billing_common.grpc_handlers import Ctx, rpc
from billing_common.protoconv import timestamp, to_timedelta
from ledger_service.adapters.grpc import convert, convert_automation
from ledger_service.adapters.grpc.errors import DOMAIN
from ledger_service.app.webhooks import (
    ROTATION_OVERLAP_DEFAULT,
    ROTATION_OVERLAP_MAX,
    CreateEndpoint,
    RotateSecret,
    WebhookApp,
)
from ledger_service.domain.model import EventType
from ledger_service.domain.webhooks import Delivery, DeliveryState, WebhookEndpoint

URL_LENGTH_MAX = 2048
DESCRIPTION_LENGTH_MAX = 1000

handler = rpc(DOMAIN)

DELIVERY_STATE = EnumMap(DeliveryState, pb.WebhookDeliveryState, "WEBHOOK_DELIVERY_STATE_")


# -- input ------------------------------------------------------------------------------------


def url(value: str, field: str = "url") -> str:
    """An absolute http(s) URL with a host, at most URL_LENGTH_MAX characters, no whitespace."""
    require(value, field)

    def bad(why: str) -> InvalidArgument:
        return InvalidArgument.field(field, why, "INVALID_URL")

    if len(value) > URL_LENGTH_MAX:
        raise bad(f"at most {URL_LENGTH_MAX} characters")
    if any(ch in string.whitespace or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise bad("must not contain whitespace or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
        httpx.URL(value)
    except (ValueError, httpx.InvalidURL) as exc:
        raise bad("is not a valid URL") from exc
    if parts.scheme not in ("http", "https"):
        raise bad("must be an http or https URL")
    if not parts.hostname:
        raise bad("must name a host")
    return value


def create_endpoint(r: pb.CreateWebhookEndpointRequest) -> CreateEndpoint:
    idem = convert.idem(r, "CreateWebhookEndpoint")
    wallet_id = convert.identifier(r.wallet_id, "wallet_id") if r.wallet_id else ""
    if len(r.description) > DESCRIPTION_LENGTH_MAX:
        raise InvalidArgument.field(
            "description", f"at most {DESCRIPTION_LENGTH_MAX} characters", "INVALID_DESCRIPTION"
        )
    types = tuple(dict.fromkeys(EventType(t) for t in convert_automation.event_types(r.types)))
    return CreateEndpoint(idem, wallet_id, url(r.url), types, r.description)


def rotate_secret(r: pb.RotateWebhookSecretRequest) -> RotateSecret:
    idem = convert.idem(r, "RotateWebhookSecret")
    endpoint_id = convert.identifier(r.endpoint_id, "endpoint_id")
    overlap = to_timedelta(r, "overlap")
    if overlap is None:
        overlap = ROTATION_OVERLAP_DEFAULT
    if not timedelta(0) <= overlap <= ROTATION_OVERLAP_MAX:
        raise InvalidArgument.field(
            "overlap", f"must be 0 to {ROTATION_OVERLAP_MAX.days} days", "INVALID_DURATION"
        )
    return RotateSecret(idem, endpoint_id, overlap)


def delivery_state(value: int) -> DeliveryState | None:
    return DELIVERY_STATE.optional(value, "state")


# -- output -----------------------------------------------------------------------------------


def endpoint_out(e: WebhookEndpoint) -> pb.WebhookEndpoint:
    message = pb.WebhookEndpoint(
        endpoint_id=e.id,
        wallet_id=e.wallet_id,
        url=e.url,
        types=[convert.EVENT_TYPE.out(t) for t in e.types],
        description=e.description,
        create_time=timestamp(e.create_time),
    )
    if e.delete_time is not None:
        message.delete_time.CopyFrom(timestamp(e.delete_time))
    return message


def delivery_out(d: Delivery) -> pb.WebhookDelivery:
    message = pb.WebhookDelivery(
        delivery_id=d.id,
        endpoint_id=d.endpoint_id,
        event_id=d.event_id,
        cursor=d.event_seq,
        event_type=convert.EVENT_TYPE.out(d.event_type),
        wallet_id=d.wallet_id,
        state=DELIVERY_STATE.out(d.state),
        attempts=d.attempts,
        last_status_code=d.last_status_code or 0,
        last_error=d.last_error,
        create_time=timestamp(d.create_time),
        attempt_log=[
            pb.WebhookAttempt(
                number=a.number,
                attempt_time=timestamp(a.attempt_time),
                status_code=a.status_code or 0,
                error=a.error,
            )
            for a in d.attempt_log
        ],
    )
    if d.next_attempt_time is not None:
        message.next_attempt_time.CopyFrom(timestamp(d.next_attempt_time))
    if d.end_time is not None:
        message.end_time.CopyFrom(timestamp(d.end_time))
    return message


# -- RPCs -------------------------------------------------------------------------------------


class WebhookRpcs:
    webhooks: WebhookApp
    tokens: paging.PageTokens

    def _next(self, method: str, key: str, rows: Sequence[tuple[int, object]], limit: int) -> str:
        """The next page's token: the last row's seq, if a row beyond the page was found."""
        return self.tokens.encode(method, {key: rows[limit - 1][0]}) if len(rows) > limit else ""

    @handler
    async def CreateWebhookEndpoint(
        self, request: pb.CreateWebhookEndpointRequest, context: Ctx
    ) -> pb.CreateWebhookEndpointResponse:
        command = create_endpoint(request)
        # The stored response (the replay's) has no secret: it is shown on this call only.
        payload, secret = await self.webhooks.create_endpoint(
            command,
            lambda e: pb.CreateWebhookEndpointResponse(
                endpoint=endpoint_out(e)
            ).SerializeToString(),
            principal.current().customers,
        )
        response = pb.CreateWebhookEndpointResponse.FromString(payload)
        response.secret = secret or ""
        return response

    @handler
    async def RotateWebhookSecret(
        self, request: pb.RotateWebhookSecretRequest, context: Ctx
    ) -> pb.RotateWebhookSecretResponse:
        def encode(e: WebhookEndpoint, until: datetime | None) -> bytes:
            message = pb.RotateWebhookSecretResponse(endpoint=endpoint_out(e))
            if until is not None:
                message.previous_secret_expire_time.CopyFrom(timestamp(until))
            return message.SerializeToString()

        payload, secret = await self.webhooks.rotate_secret(
            rotate_secret(request), encode, principal.current().customers
        )
        response = pb.RotateWebhookSecretResponse.FromString(payload)
        response.secret = secret or ""
        return response

    @handler
    async def ListWebhookEndpoints(
        self, request: pb.ListWebhookEndpointsRequest, context: Ctx
    ) -> pb.ListWebhookEndpointsResponse:
        limit = paging.page_size(request.page_size)
        wallet_id = convert.identifier(request.wallet_id, "wallet_id") if request.wallet_id else ""
        after = self.tokens.cursor("ListWebhookEndpoints", request.page_token, "seq") or 0
        rows = await self.webhooks.list_endpoints(
            wallet_id, after, limit + 1, principal.current().customers
        )
        token = self._next("ListWebhookEndpoints", "seq", rows, limit)
        return pb.ListWebhookEndpointsResponse(
            endpoints=[endpoint_out(e) for _, e in rows[:limit]], next_page_token=token
        )

    @handler
    async def DeleteWebhookEndpoint(
        self, request: pb.DeleteWebhookEndpointRequest, context: Ctx
    ) -> pb.DeleteWebhookEndpointResponse:
        idem = convert.idem(request, "DeleteWebhookEndpoint")
        payload = await self.webhooks.delete_endpoint(
            idem,
            convert.identifier(request.endpoint_id, "endpoint_id"),
            lambda e: pb.DeleteWebhookEndpointResponse(
                endpoint=endpoint_out(e)
            ).SerializeToString(),
            principal.current().customers,
        )
        return pb.DeleteWebhookEndpointResponse.FromString(payload)

    @handler
    async def ListWebhookDeliveries(
        self, request: pb.ListWebhookDeliveriesRequest, context: Ctx
    ) -> pb.ListWebhookDeliveriesResponse:
        limit = paging.page_size(request.page_size)
        rows = await self.webhooks.list_deliveries(
            convert.identifier(request.endpoint_id, "endpoint_id"),
            delivery_state(request.state),
            self.tokens.cursor("ListWebhookDeliveries", request.page_token, "before_seq"),
            limit + 1,
            principal.current().customers,
        )
        token = self._next("ListWebhookDeliveries", "before_seq", rows, limit)
        return pb.ListWebhookDeliveriesResponse(
            deliveries=[delivery_out(d) for _, d in rows[:limit]], next_page_token=token
        )
