"""Webhook secrets over real gRPC on real PostgreSQL: never stored in clear (every text, JSON and
bytea column of the ledger database is read, the stored idempotent responses included, also after
a replay), and RotateWebhookSecret: a new secret shown once, both signatures during the overlap
window, only the new one's after it (the server's fake clock), idempotent by request_id, bad input
refused with its reason."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from google.protobuf.duration_pb2 import Duration

from ledger_service.domain.webhooks import verify
from tests.support.errors import reason_of
from tests.support.ledger import make_grant, make_wallet, rid
from tests.support.webhooks import endpoint, when

SEARCHED_TYPES = ("text", "character varying", "bytea", "jsonb", "json", "ARRAY")


async def columns_holding(database_url: str, secret: str) -> list[str]:
    """Every `table.column` of the database whose value somewhere contains the secret (its hex
    part, as text or as bytes)."""
    needle = secret.removeprefix("whsec_")
    conn = await asyncpg.connect(database_url)
    try:
        columns = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type = ANY($1::text[])",
            list(SEARCHED_TYPES),
        )
        assert any(c["data_type"] == "bytea" for c in columns)  # the replay bytes are searched
        found = []
        for c in columns:
            name = f'"{c["table_name"]}"."{c["column_name"]}"'
            if c["data_type"] == "bytea":
                where, arg = f"position($1::bytea in {name}) > 0", needle.encode()
            else:
                where, arg = f"position($1 in {name}::text) > 0", needle
            table = f'"{c["table_name"]}"'
            if await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", arg):
                found.append(f"{c['table_name']}.{c['column_name']}")
        return found
    finally:
        await conn.close()


async def test_no_webhook_secret_is_stored_in_clear_also_after_a_replay(
    ledger_server, ledger_db, receiver
) -> None:
    stub = ledger_server.stub
    request = pb.CreateWebhookEndpointRequest(request_id=rid(), url=receiver.url)
    created = await stub.CreateWebhookEndpoint(request)
    replayed = await stub.CreateWebhookEndpoint(request)
    assert created.secret.startswith("whsec_")
    assert await columns_holding(ledger_db, created.secret) == []
    assert replayed.secret == "" and replayed.endpoint == created.endpoint
    rotated = await stub.RotateWebhookSecret(
        pb.RotateWebhookSecretRequest(request_id=rid(), endpoint_id=created.endpoint.endpoint_id)
    )
    assert await columns_holding(ledger_db, rotated.secret) == []
    # The search finds what is there in clear: the endpoint's URL, in its row (text) and in the
    # stored responses (bytes).
    assert sorted(await columns_holding(ledger_db, receiver.url)) == [
        "idempotency_keys.response",
        "webhook_endpoints.url",
    ]


async def test_a_rotation_signs_with_both_secrets_in_the_window_then_only_the_new(
    ledger_server, receiver
) -> None:
    stub, webhooks, clock = (
        ledger_server.stub,
        ledger_server.ledger.webhooks,
        ledger_server.clock,
    )
    wallet = await make_wallet(stub)
    endpoint_id, old = await endpoint(stub, receiver.url, wallet.wallet_id)
    request = pb.RotateWebhookSecretRequest(
        request_id=rid(), endpoint_id=endpoint_id, overlap=Duration(seconds=3600)
    )
    rotated = await stub.RotateWebhookSecret(request)
    assert rotated.secret.startswith("whsec_") and rotated.secret != old
    assert when(rotated.previous_secret_expire_time) == clock.now() + timedelta(hours=1)
    assert rotated.endpoint.endpoint_id == endpoint_id
    replayed = await stub.RotateWebhookSecret(request)
    assert replayed.secret == "" and replayed.endpoint == rotated.endpoint
    assert replayed.previous_secret_expire_time == rotated.previous_secret_expire_time

    await make_grant(stub, wallet.wallet_id, "10")
    await webhooks.dispatch()
    await webhooks.deliver()
    (within,) = receiver.received
    header = within.headers["billing-signature"]
    assert header.count("v1=") == 2
    assert verify(rotated.secret, header, within.body) and verify(old, header, within.body)

    clock.advance(timedelta(hours=1))
    await make_grant(stub, wallet.wallet_id, "20")
    await webhooks.dispatch()
    await webhooks.deliver()
    after = receiver.received[-1]
    header = after.headers["billing-signature"]
    assert header.count("v1=") == 1
    assert verify(rotated.secret, header, after.body) and not verify(old, header, after.body)


@pytest.mark.parametrize(
    ("changes", "code", "reason"),
    [
        ({"overlap": Duration(seconds=-1)}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_DURATION"),
        (
            {"overlap": Duration(seconds=8 * 86400)},
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_DURATION",
        ),
        (
            {"endpoint_id": "no-such-endpoint"},
            grpc.StatusCode.NOT_FOUND,
            "WEBHOOK_ENDPOINT_NOT_FOUND",
        ),
        ({"request_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "MISSING_FIELD"),
    ],
    ids=["negative-overlap", "overlap-over-7-days", "unknown-endpoint", "no-request-id"],
)
async def test_a_bad_rotation_is_refused_with_its_reason_and_changes_nothing(
    ledger_server, receiver, changes, code, reason
) -> None:
    stub = ledger_server.stub
    endpoint_id, _ = await endpoint(stub, receiver.url)
    fields = {"request_id": rid(), "endpoint_id": endpoint_id, **changes}
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.RotateWebhookSecret(pb.RotateWebhookSecretRequest(**fields))
    assert refused.value.code() == code
    assert reason_of(refused.value)[0] == reason
