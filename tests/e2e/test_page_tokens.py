"""Page tokens are opaque and tamper-evident, in every paged RPC of both services.

Both servers run with a configured page-token secret. A token they issued continues its list; a
token forged, cut, re-signed with another key, issued for another list or service, or carrying
numbers out of range is INVALID_ARGUMENT / INVALID_PAGE_TOKEN on field `page_token`, never
INTERNAL. A token survives a restart and works on another replica with the same secret.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.ledger.v1 import ledger_pb2_grpc
from billing.rating.v1 import rating_pb2 as rpb
from billing.rating.v1 import rating_pb2_grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from billing_common.clock import FakeClock
from ledger_service import main as ledger_main
from ledger_service.config import LedgerSettings
from rating_service import main as rating_main
from rating_service.config import RatingSettings
from tests.support.channels import admin_key_file, open_channel
from tests.support.ledger import make_wallet
from tests.support.servers import START, NewDatabase
from tests.support.tls import rating_settings, server_settings

SECRET = "test-page-token-secret-0123456789abcdef"
OTHER_SECRET = "another-deployment-secret-0123456789abcdef"
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@dataclass
class Servers:
    ledger: ledger_pb2_grpc.LedgerServiceStub
    rating: rating_pb2_grpc.RatingServiceStub
    ledger_url: str
    channels: list[grpc.aio.Channel]


@pytest.fixture(scope="module")
async def servers(
    new_database: NewDatabase, ledger_template: str, rating_template: str
) -> AsyncIterator[Servers]:
    clock = FakeClock(START)
    ledger_url = await new_database("ledger", ledger_template)
    ledger = await ledger_main.build(
        LedgerSettings(
            admin_key_file=admin_key_file(),
            database_url=ledger_url,
            listen="127.0.0.1:0",
            migrate=False,
            sweep_interval_s=0,
            page_token_secret=SECRET,
            **server_settings(),
        ),
        clock,
    )
    ledger_target = f"127.0.0.1:{await ledger.server.start()}"
    rating = await rating_main.build(
        RatingSettings(
            admin_key_file=admin_key_file(),
            ledger_api_key_file=admin_key_file(),
            database_url=await new_database("rating", rating_template),
            listen="127.0.0.1:0",
            migrate=False,
            forward=False,
            ledger_target=ledger_target,
            page_token_secret=SECRET,
            **rating_settings(),
        ),
        clock,
    )
    rating_target = f"127.0.0.1:{await rating.server.start()}"
    channels = [open_channel(t) for t in (ledger_target, rating_target)]
    try:
        yield Servers(
            ledger_pb2_grpc.LedgerServiceStub(channels[0]),
            rating_pb2_grpc.RatingServiceStub(channels[1]),
            ledger_url,
            channels,
        )
    finally:
        for channel in channels:
            await channel.close()
        await rating.close()
        await ledger.close()


# Every paged RPC: (service, method, request fields besides the token, the cursor's keys).
PAGED: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = [
    ("ledger", "ListWallets", {"customer_id": "c-1"}, ("seq",)),
    ("ledger", "ListGrants", {"wallet_id": "w-1"}, ("seq",)),
    ("ledger", "ListEntries", {"wallet_id": "w-1"}, ("before_seq",)),
    ("ledger", "ListTopUps", {"wallet_id": "w-1"}, ("before_seq",)),
    ("ledger", "ListWebhookEndpoints", {}, ("seq",)),
    ("ledger", "ListWebhookDeliveries", {"endpoint_id": "e-1"}, ("before_seq",)),
    ("rating", "ListMeters", {}, ("seq",)),
    ("rating", "ListPrices", {}, ("seq",)),
    ("rating", "ListInvoices", {"customer_id": "c-1"}, ("start_us", "seq")),
    ("rating", "ListInvoiceLineEvents", {"invoice_id": "i-1", "line_id": "1"}, ("id",)),
]
IDS = [f"{service}.{method}" for service, method, _, _ in PAGED]


def unsigned(cursor: Any) -> str:
    """A token in the shape this project used to issue: base64 of the JSON cursor, unsigned."""
    return base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode()


def request_of(service: str, method: str, fields: dict[str, Any], token: str) -> Message:
    module = lpb if service == "ledger" else rpb
    return getattr(module, f"{method}Request")(page_token=token, **fields)  # type: ignore[no-any-return]


async def call(servers: Servers, service: str, method: str, request: Message) -> Message:
    stub = servers.ledger if service == "ledger" else servers.rating
    return await getattr(stub, method)(request)  # type: ignore[no-any-return]


def reason_and_fields(exc: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    reason, fields = "", []
    for key, value in exc.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        for detail in status_pb2.Status.FromString(value).details:
            info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
            if detail.Unpack(info):
                reason = info.reason
            elif detail.Unpack(bad):
                fields = [v.field for v in bad.field_violations]
    return reason, fields


async def assert_refused(servers: Servers, service: str, method: str, fields: Any, token: str):  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(servers, service, method, request_of(service, method, fields, token))
    assert caught.value.code() == INVALID, (caught.value.code(), caught.value.details())
    assert reason_and_fields(caught.value) == ("INVALID_PAGE_TOKEN", ["page_token"])


# -- forged tokens: these need no knowledge of the signing ------------------------------------

FORGED: list[tuple[str, Callable[[tuple[str, ...]], str]]] = [
    ("unsigned-cursor", lambda keys: unsigned({k: 1 for k in keys})),
    ("unsigned-overflowing-date", lambda keys: unsigned({k: 2**62 for k in keys})),
    ("unsigned-beyond-int64", lambda keys: unsigned({k: 2**70 for k in keys})),
    ("unsigned-negative", lambda keys: unsigned({k: -1 for k in keys})),
    ("unsigned-missing-key", lambda keys: unsigned({keys[0]: 1} if len(keys) > 1 else {})),
    ("not-base64", lambda keys: "%%% not a token %%%"),
    ("three-parts", lambda keys: "a.b.c"),
    ("empty-mac", lambda keys: unsigned({k: 1 for k in keys}) + "."),
    ("non-ascii", lambda keys: "é.é"),
    ("very-long", lambda keys: "A" * 10_000 + ".B"),
]


@pytest.mark.parametrize(("variant", "forge"), FORGED, ids=[v for v, _ in FORGED])
@pytest.mark.parametrize(("service", "method", "fields", "keys"), PAGED, ids=IDS)
async def test_forged_page_token_is_invalid_page_token(
    servers: Servers,
    service: str,
    method: str,
    fields: dict[str, Any],
    keys: tuple[str, ...],
    variant: str,
    forge: Callable[[tuple[str, ...]], str],
) -> None:
    await assert_refused(servers, service, method, fields, forge(keys))


# -- tokens signed, then cut, altered or signed elsewhere -------------------------------------


def signed(secret: str, scope: str, method: str, cursor: dict[str, int]) -> str:
    from billing_common.paging import PageTokens

    return PageTokens(secret.encode(), scope).encode(method, cursor)


@pytest.mark.parametrize(("service", "method", "fields", "keys"), PAGED, ids=IDS)
async def test_altered_or_foreign_page_token_is_invalid_page_token(
    servers: Servers, service: str, method: str, fields: dict[str, Any], keys: tuple[str, ...]
) -> None:
    cursor = {k: 1 for k in keys}
    good = signed(SECRET, service, method, cursor)
    # The genuine token is accepted (whatever the answer about the ids in the request).
    try:
        await call(servers, service, method, request_of(service, method, fields, good))
    except grpc.aio.AioRpcError as exc:
        assert reason_and_fields(exc)[0] != "INVALID_PAGE_TOKEN"
        assert exc.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)

    payload, mac = good.split(".")
    other_method = next(
        (m for s, m, _, k in PAGED if s == service and m != method and k == keys), None
    )
    variants = {
        "truncated": good[:-4],
        "halved": good[: len(good) // 2],
        "payload-only": payload,
        "payload-altered": unsigned_payload({k: 2 for k in keys}) + "." + mac,
        "mac-of-another-token": payload
        + "."
        + signed(SECRET, service, method, {k: 2 for k in keys}).split(".")[1],
        "other-key": signed(OTHER_SECRET, service, method, cursor),
        "other-list": signed(SECRET, service, other_method, cursor) if other_method else "x",
        "other-service": signed(
            SECRET, "rating" if service == "ledger" else "ledger", method, cursor
        ),
        "signed-beyond-int64": signed(SECRET, service, method, {k: 2**70 for k in keys}),
        "signed-negative": signed(SECRET, service, method, {k: -1 for k in keys}),
        "signed-wrong-keys": signed(SECRET, service, method, {"other": 1}),
    }
    if method == "ListInvoices":  # a number within int64 that no date has
        variants["signed-overflowing-date"] = signed(
            SECRET, service, method, {"start_us": 2**62, "seq": 1}
        )
    for name, token in variants.items():
        try:
            await assert_refused(servers, service, method, fields, token)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


def unsigned_payload(cursor: dict[str, int]) -> str:
    """The payload part of a token for `cursor`, as the server would write it."""
    text = json.dumps(cursor, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).rstrip(b"=").decode()


# -- a token survives a restart and works on another replica with the same secret -------------


async def test_page_token_works_on_another_replica_with_the_same_secret_only(
    servers: Servers,
) -> None:
    customer = "replicas"
    for unit in ("CREDITS", "USD"):
        await make_wallet(servers.ledger, customer_id=customer, unit=unit)
    first = await servers.ledger.ListWallets(
        lpb.ListWalletsRequest(customer_id=customer, page_size=1)
    )
    assert first.next_page_token

    async def second_page(secret: str) -> lpb.ListWalletsResponse:
        replica = await ledger_main.build(
            LedgerSettings(
                admin_key_file=admin_key_file(),
                database_url=servers.ledger_url,
                listen="127.0.0.1:0",
                migrate=False,
                sweep_interval_s=0,
                page_token_secret=secret,
                **server_settings(),
            ),
            FakeClock(START),
        )
        port = await replica.server.start()
        try:
            async with open_channel(f"127.0.0.1:{port}") as channel:
                return await ledger_pb2_grpc.LedgerServiceStub(channel).ListWallets(  # type: ignore[no-any-return]
                    lpb.ListWalletsRequest(
                        customer_id=customer, page_size=1, page_token=first.next_page_token
                    )
                )
        finally:
            await replica.close()

    rest = await second_page(SECRET)
    assert len(rest.wallets) == 1
    assert rest.wallets[0].wallet_id != first.wallets[0].wallet_id
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await second_page(OTHER_SECRET)
    assert reason_and_fields(caught.value) == ("INVALID_PAGE_TOKEN", ["page_token"])
