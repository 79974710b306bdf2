"""HTTP beside gRPC (the connectrpc library, billing_common/connect.py), on the real servers' HTTP
ports over TLS: the same answers, idempotency, credentials, scopes, tenant rule, errors and limits
as the gRPC port, over Connect (unary, GET for reads, server streaming) and gRPC-Web."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import ssl
import struct
import sys
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import psutil
import pytest
from billing.auth.v1 import api_keys_pb2 as kpb
from billing.auth.v1 import api_keys_pb2_grpc
from billing.ledger.v1 import ledger_pb2 as pb
from billing.rating.v1 import rating_pb2 as rpb
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2

from billing_common import principal
from billing_common.process import start_service
from ledger_service import limits
from tests.support.channels import admin_key, admin_key_file
from tests.support.ledger import make_grant, make_wallet, rid
from tests.support.servers import RatingOverLedger, RunningLedger
from tests.support.tls import dev_ca

ROOT = Path(__file__).resolve().parents[2]
LEDGER = "/billing.ledger.v1.LedgerService"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client trusting the tests' development CA."""
    trust = ssl.create_default_context(cafile=str(dev_ca().ca))
    async with httpx.AsyncClient(verify=trust, timeout=30) as client:
        yield client


def base(ledger: RunningLedger) -> str:
    return f"https://127.0.0.1:{ledger.ledger.server.http_port}"


async def call(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any] | bytes,
    key: str | None = None,
    content_type: str = "application/json",
) -> httpx.Response:
    """A Connect unary call with `key` (the session's admin key by default; "" for none)."""
    sent = admin_key() if key is None else key
    headers = {"content-type": content_type}
    if sent:
        headers["authorization"] = f"Bearer {sent}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(url, content=content, headers=headers)


def reason(answer: httpx.Response) -> str:
    """The ErrorInfo reason of a Connect error answer (decoded from its base64 value)."""
    for detail in answer.json().get("details", []):
        if detail["type"] == "google.rpc.ErrorInfo":
            padded = detail["value"] + "=" * (-len(detail["value"]) % 4)
            return error_details_pb2.ErrorInfo.FromString(base64.b64decode(padded)).reason
    raise AssertionError(f"no ErrorInfo in {answer.text}")


async def new_key(ledger: RunningLedger, scopes: list[str], customers: list[str]) -> str:
    made = await api_keys_pb2_grpc.ApiKeyServiceStub(ledger.channel).CreateApiKey(
        kpb.CreateApiKeyRequest(
            request_id=rid(), name="http-test", scopes=scopes, customer_ids=customers
        )
    )
    return str(made.secret)


async def test_get_balance_over_http_json_and_binary_equals_the_grpc_answer(
    ledger_server: RunningLedger, http: httpx.AsyncClient
) -> None:
    wallet = await make_wallet(ledger_server.stub)
    await make_grant(ledger_server.stub, wallet.wallet_id, "125.50")
    expected = await ledger_server.stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))

    as_json = await call(
        http, f"{base(ledger_server)}{LEDGER}/GetBalance", {"wallet_id": wallet.wallet_id}
    )
    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["content-type"] == "application/json"
    assert json_format.Parse(as_json.text, pb.GetBalanceResponse()) == expected
    assert as_json.json()["balance"]["available"] == expected.balance.available

    as_proto = await call(
        http,
        f"{base(ledger_server)}{LEDGER}/GetBalance",
        pb.GetBalanceRequest(wallet_id=wallet.wallet_id).SerializeToString(),
        content_type="application/proto",
    )
    assert as_proto.status_code == 200
    assert pb.GetBalanceResponse.FromString(as_proto.content) == expected


async def test_a_write_over_http_is_idempotent_by_request_id(
    ledger_server: RunningLedger, http: httpx.AsyncClient
) -> None:
    wallet = await make_wallet(ledger_server.stub)
    await make_grant(ledger_server.stub, wallet.wallet_id, "100")
    debit = {"requestId": rid(), "walletId": wallet.wallet_id, "amount": "30", "feature": "api"}
    url = f"{base(ledger_server)}{LEDGER}/Debit"

    first = await call(http, url, debit)
    again = await call(http, url, debit)

    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json()
    over_grpc = await ledger_server.stub.Debit(json_format.ParseDict(debit, pb.DebitRequest()))
    assert json_format.MessageToDict(over_grpc) == json_format.MessageToDict(
        json_format.Parse(first.text, pb.DebitResponse())
    )
    balance = await ledger_server.stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))
    assert balance.balance.available == "70"


async def test_a_call_without_a_credential_is_unauthenticated_with_its_reason(
    ledger_server: RunningLedger, http: httpx.AsyncClient
) -> None:
    answer = await call(
        http, f"{base(ledger_server)}{LEDGER}/GetBalance", {"wallet_id": "w"}, key=""
    )
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthenticated"
    assert reason(answer) == "CREDENTIAL_MISSING"

    unknown = await call(
        http, f"{base(ledger_server)}{LEDGER}/GetBalance", {"wallet_id": "w"}, key="bk_nope_nope"
    )
    assert (unknown.status_code, reason(unknown)) == (401, "API_KEY_UNKNOWN")


async def test_a_key_without_the_methods_scope_is_permission_denied(
    ledger_server: RunningLedger, http: httpx.AsyncClient
) -> None:
    wallet = await make_wallet(ledger_server.stub)
    reader = await new_key(ledger_server, [principal.READ], [])
    url = f"{base(ledger_server)}{LEDGER}/Debit"

    answer = await call(
        http, url, {"request_id": rid(), "wallet_id": wallet.wallet_id, "amount": "1"}, key=reader
    )

    assert answer.status_code == 403
    assert answer.json()["code"] == "permission_denied"
    assert reason(answer) == "SCOPE_MISSING"
    read = await call(
        http,
        f"{base(ledger_server)}{LEDGER}/GetBalance",
        {"wallet_id": wallet.wallet_id},
        key=reader,
    )
    assert read.status_code == 200


async def test_a_foreign_tenants_wallet_is_not_found_exactly_as_a_missing_one(
    ledger_server: RunningLedger, http: httpx.AsyncClient
) -> None:
    foreign = await make_wallet(ledger_server.stub, customer_id=f"cust-foreign-{rid()}")
    tenant = await new_key(ledger_server, sorted(principal.SCOPES), [f"cust-own-{rid()}"])
    missing_id = str(uuid.uuid4())
    url = f"{base(ledger_server)}{LEDGER}/GetBalance"

    of_foreign = await call(http, url, {"wallet_id": foreign.wallet_id}, key=tenant)
    of_missing = await call(http, url, {"wallet_id": missing_id}, key=tenant)

    assert of_foreign.status_code == of_missing.status_code == 404
    assert of_foreign.json()["code"] == "not_found"
    assert reason(of_foreign) == reason(of_missing) == "WALLET_NOT_FOUND"
    assert of_foreign.text.replace(foreign.wallet_id, "ID") == of_missing.text.replace(
        missing_id, "ID"
    )


async def test_bad_input_is_invalid_argument_with_field_violations_and_writes_nothing(
    ledger_server: RunningLedger, http: httpx.AsyncClient
) -> None:
    wallet = await make_wallet(ledger_server.stub)
    await make_grant(ledger_server.stub, wallet.wallet_id, "10")
    url = f"{base(ledger_server)}{LEDGER}/Debit"

    answer = await call(
        http, url, {"request_id": rid(), "wallet_id": wallet.wallet_id, "amount": "1.2.3"}
    )

    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "invalid_argument"
    assert reason(answer) == "INVALID_AMOUNT"
    (bad,) = [d for d in body["details"] if d["type"] == "google.rpc.BadRequest"]
    assert [v["field"] for v in bad["debug"]["fieldViolations"]] == ["amount"]
    balance = await ledger_server.stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))
    assert balance.balance.available == "10"

    not_json = await call(http, url, b"{not json")
    assert (not_json.status_code, reason(not_json)) == (400, "MALFORMED_REQUEST")
    unknown_field = await call(http, url, {"wallet": wallet.wallet_id})
    assert (unknown_field.status_code, reason(unknown_field)) == (400, "MALFORMED_REQUEST")


async def test_a_body_over_the_message_size_limit_is_refused_unread(
    ledger_server: RunningLedger, http: httpx.AsyncClient
) -> None:
    wallet = await make_wallet(ledger_server.stub)
    huge = {
        "request_id": rid(),
        "wallet_id": wallet.wallet_id,
        "amount": "1",
        "feature": "x" * limits.MESSAGE_BYTES_MAX,
    }

    answer = await call(http, f"{base(ledger_server)}{LEDGER}/Debit", huge)

    assert answer.status_code == 429
    assert answer.json()["code"] == "resource_exhausted"
    assert reason(answer) == "MESSAGE_TOO_LARGE"


async def test_what_http_does_not_serve_is_answered_plainly(
    ledger_server: RunningLedger, http: httpx.AsyncClient
) -> None:
    root = base(ledger_server)
    unknown = await call(http, f"{root}{LEDGER}/NoSuchMethod", {})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unimplemented")
    write_as_get = await http.get(f"{root}{LEDGER}/Debit", params={"message": "{}"})
    assert (write_as_get.status_code, write_as_get.headers["allow"]) == (405, "POST")
    as_text = await call(http, f"{root}{LEDGER}/GetBalance", b"x", content_type="text/plain")
    assert as_text.status_code == 415
    gzipped = await http.post(
        f"{root}{LEDGER}/GetBalance",
        content=gzip.compress(b'{"wallet_id": "w"}'),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert (gzipped.status_code, gzipped.json()["code"]) == (501, "unimplemented")
    as_grpc = await call(http, f"{root}{LEDGER}/GetBalance", b"", content_type="application/grpc")
    assert as_grpc.status_code == 415
    assert "gRPC port" in as_grpc.text


async def test_a_read_answers_a_connect_get_as_a_post(
    ledger_server: RunningLedger, http: httpx.AsyncClient
) -> None:
    wallet = await make_wallet(ledger_server.stub)
    await make_grant(ledger_server.stub, wallet.wallet_id, "12.5")
    expected = await ledger_server.stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))

    answer = await http.get(
        f"{base(ledger_server)}{LEDGER}/GetBalance",
        params={"encoding": "json", "message": json.dumps({"wallet_id": wallet.wallet_id})},
        headers={"authorization": f"Bearer {admin_key()}"},
    )

    assert answer.status_code == 200, answer.text
    assert json_format.Parse(answer.text, pb.GetBalanceResponse()) == expected
    without_key = await http.get(
        f"{base(ledger_server)}{LEDGER}/GetBalance",
        params={"encoding": "json", "message": json.dumps({"wallet_id": wallet.wallet_id})},
    )
    assert (without_key.status_code, reason(without_key)) == (401, "CREDENTIAL_MISSING")


async def test_a_read_method_that_can_write_is_never_served_by_get(
    ledger_server: RunningLedger, http: httpx.AsyncClient
) -> None:
    """Authorize is a read (a pure check) unless it holds: a GET, which browsers and proxies may
    prefetch or repeat, must never place a hold. A request that carries a request_id can write."""
    wallet = await make_wallet(ledger_server.stub)
    await make_grant(ledger_server.stub, wallet.wallet_id, "10")
    question = {
        "request_id": "get-hold",
        "wallet_id": wallet.wallet_id,
        "amount": "4",
        "hold": True,
    }

    answer = await http.get(
        f"{base(ledger_server)}{LEDGER}/Authorize",
        params={"encoding": "json", "message": json.dumps(question)},
        headers={"authorization": f"Bearer {admin_key()}"},
    )

    assert answer.status_code == 405, answer.text
    balance = await ledger_server.stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))
    assert (balance.balance.available, balance.balance.held) == ("10", "0")


def frame(flags: int, data: bytes) -> bytes:
    """One message of an enveloped body (Connect streaming, gRPC-Web): flags, length, data."""
    return bytes([flags]) + struct.pack(">I", len(data)) + data


def frames(body: bytes) -> list[tuple[int, bytes]]:
    """The (flags, data) of each message of an enveloped body."""
    found = []
    while body:
        size = struct.unpack(">I", body[1:5])[0]
        found.append((body[0], body[5 : 5 + size]))
        body = body[5 + size :]
    return found


async def grpc_web(
    client: httpx.AsyncClient, url: str, request: bytes, key: str
) -> tuple[list[bytes], dict[str, str]]:
    """A unary gRPC-Web call: its messages and its trailers (the body's last frame)."""
    headers = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    answer = await client.post(url, content=frame(0, request), headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/grpc-web+proto"
    *messages, (flags, trailer) = frames(answer.content)
    assert flags & 0x80 and not any(f & 0x80 for f, _ in messages)
    lines = trailer.decode().strip().split("\r\n")
    trailers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
    return [data for _, data in messages], trailers


async def test_a_grpc_web_call_answers_as_grpc_and_a_refusal_carries_our_reason(
    ledger_server: RunningLedger, http: httpx.AsyncClient
) -> None:
    wallet = await make_wallet(ledger_server.stub)
    await make_grant(ledger_server.stub, wallet.wallet_id, "40")
    expected = await ledger_server.stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))
    url = f"{base(ledger_server)}{LEDGER}/GetBalance"
    request = pb.GetBalanceRequest(wallet_id=wallet.wallet_id).SerializeToString()

    (message,), trailers = await grpc_web(http, url, request, admin_key())
    assert trailers["grpc-status"] == "0"
    assert pb.GetBalanceResponse.FromString(message) == expected

    refused, trailers = await grpc_web(http, url, request, "")
    assert refused == []
    assert trailers["grpc-status"] == str(grpc.StatusCode.UNAUTHENTICATED.value[0])
    assert "credential" in urllib.parse.unquote(trailers["grpc-message"])
    padded = trailers["grpc-status-details-bin"] + "=" * (
        -len(trailers["grpc-status-details-bin"]) % 4
    )
    status = status_pb2.Status.FromString(base64.b64decode(padded))
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "CREDENTIAL_MISSING"


async def test_watch_wallet_events_over_connect_streaming_delivers_an_event_a_debit_made(
    ledger_server: RunningLedger, http: httpx.AsyncClient
) -> None:
    wallet = await make_wallet(ledger_server.stub)
    await make_grant(ledger_server.stub, wallet.wallet_id, "100")
    await ledger_server.stub.SetAlertRules(
        pb.SetAlertRulesRequest(
            request_id=rid(),
            wallet_id=wallet.wallet_id,
            rules=[pb.AlertRule(name="below 50", kind=pb.ALERT_KIND_ABSOLUTE, threshold="50")],
        )
    )
    watch = {"wallet_id": wallet.wallet_id, "types": ["WALLET_EVENT_TYPE_ALERT_FIRED"]}
    headers = {
        "content-type": "application/connect+json",
        "authorization": f"Bearer {admin_key()}",
        "connect-timeout-ms": "60000",
    }
    url = f"{base(ledger_server)}{LEDGER}/WatchWalletEvents"

    async def first_frame() -> bytes:
        # The library sends the answer's headers with its first message.
        body = frame(0, json.dumps(watch).encode())
        async with http.stream("POST", url, content=body, headers=headers) as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/connect+json"
            received = b""
            async for chunk in answer.aiter_bytes():
                received += chunk
                if (
                    len(received) >= 5
                    and len(received) >= 5 + struct.unpack(">I", received[1:5])[0]
                ):
                    return received
        raise AssertionError(f"the stream ended without a message: {received!r}")

    watching = asyncio.create_task(first_frame())
    debit = {"request_id": rid(), "wallet_id": wallet.wallet_id, "amount": "60"}
    assert (await call(http, f"{base(ledger_server)}{LEDGER}/Debit", debit)).status_code == 200
    received = await watching
    ((flags, data), *_) = frames(received[: 5 + struct.unpack(">I", received[1:5])[0]])
    assert flags == 0
    event = json_format.Parse(data, pb.WatchWalletEventsResponse()).event
    assert (event.wallet_id, event.type) == (wallet.wallet_id, pb.WALLET_EVENT_TYPE_ALERT_FIRED)
    assert json.loads(event.data_json)["available"] == "40"


async def client_stream(client: httpx.AsyncClient, url: str, request: dict[str, Any]) -> Any:
    """A Connect streaming call of one request message: its end-of-stream message (JSON)."""
    headers = {"content-type": "application/connect+json", "authorization": f"Bearer {admin_key()}"}
    answer = await client.post(url, content=frame(0, json.dumps(request).encode()), headers=headers)
    assert answer.status_code == 200, answer.text
    *_, (flags, end) = frames(answer.content)
    assert flags == 0x02
    return json.loads(end)


async def test_a_refused_watch_over_connect_streaming_ends_with_our_reason(
    ledger_server: RunningLedger, http: httpx.AsyncClient
) -> None:
    url = f"{base(ledger_server)}{LEDGER}/WatchWalletEvents"

    ended = await client_stream(http, url, {"after_cursor": -1})

    assert ended["error"]["code"] == "invalid_argument"
    (info,) = [d for d in ended["error"]["details"] if d["type"] == "google.rpc.ErrorInfo"]
    assert info["debug"]["reason"] == "INVALID_CURSOR"


async def test_the_rating_service_answers_over_http_as_over_grpc(
    both: RatingOverLedger, http: httpx.AsyncClient
) -> None:
    expected = await both.stub.ListMeters(rpb.ListMetersRequest())
    port = both.rating.server.http_port

    answer = await call(
        http, f"https://127.0.0.1:{port}/billing.rating.v1.RatingService/ListMeters", {}
    )

    assert answer.status_code == 200, answer.text
    assert json_format.Parse(answer.text, rpb.ListMetersResponse()) == expected
    missing = await call(
        http,
        f"https://127.0.0.1:{port}/billing.rating.v1.RatingService/GetMeter",
        {"meter_id": str(uuid.uuid4())},
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    streamed = await client_stream(
        http, f"https://127.0.0.1:{port}/billing.rating.v1.RatingService/StreamEvents", {}
    )
    assert streamed["error"]["code"] == "unimplemented"
    assert "served over gRPC only" in streamed["error"]["message"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT is Linux's")
async def test_with_two_workers_every_worker_serves_the_http_port(
    ledger_db: str, http: httpx.AsyncClient
) -> None:
    service = await start_service(
        "ledger_service",
        {
            "LEDGER_DATABASE_URL": ledger_db,
            "LEDGER_ADMIN_KEY_FILE": str(admin_key_file()),
            "LEDGER_LISTEN": "127.0.0.1:0",
            "LEDGER_MIGRATE": "false",
            "LEDGER_SWEEP_INTERVAL_S": "0",
            "LEDGER_WORKERS": "2",
        },
        cwd=ROOT,
    )
    workers = [
        p
        for p in psutil.Process(service.process.pid).children()
        if "--multiprocessing-fork" in p.cmdline()
    ]
    try:
        assert service.http_port
        listening = {
            p.pid
            for p in workers
            for c in p.net_connections(kind="tcp")
            if c.laddr and c.laddr.port == service.http_port and c.status == psutil.CONN_LISTEN
        }
        assert listening == {p.pid for p in workers} and len(workers) == 2
        url = f"https://127.0.0.1:{service.http_port}{LEDGER}/CreateWallet"
        body = {
            "request_id": rid(),
            "customer_id": "c-workers",
            "unit": "CREDITS",
            "overage_policy": "OVERAGE_POLICY_DENY",
        }
        answers = [await call(http, url, body) for _ in range(4)]
        assert {a.status_code for a in answers} == {200}
        assert len({a.json()["wallet"]["walletId"] for a in answers}) == 1
    finally:
        assert await service.stop() == 0
        await service.kill()
