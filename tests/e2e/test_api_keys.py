"""Authentication and authorization over real servers: every refusal with its gRPC code and
reason, key management (create once, list, revoke, expire), and no key in clear in either
database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
import sqlalchemy as sa
from billing.auth.v1 import api_keys_pb2 as kpb
from billing.auth.v1 import api_keys_pb2_grpc
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc
from billing.rating.v1 import rating_pb2 as rpb
from billing.rating.v1 import rating_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from billing_common import api_keys
from billing_common.auth import CACHE_TTL_S
from billing_common.clock import FakeClock
from billing_common.protoconv import timestamp
from ledger_service import main as ledger_main
from ledger_service.config import LedgerSettings
from tests.support.channels import open_channel
from tests.support.errors import reason_of
from tests.support.ledger import make_wallet, rid
from tests.support.servers import START, NewDatabase, RatingOverLedger, RunningLedger
from tests.support.tls import server_settings
from tests.support.waiting import until

pytestmark = pytest.mark.asyncio


class Client:
    """Stubs of one server over a channel presenting `key` ("" for none)."""

    def __init__(self, target: str, key: str) -> None:
        self.channel = open_channel(target, key=key)
        self.ledger = ledger_pb2_grpc.LedgerServiceStub(self.channel)
        self.rating = rating_pb2_grpc.RatingServiceStub(self.channel)
        self.keys = api_keys_pb2_grpc.ApiKeyServiceStub(self.channel)


@pytest.fixture
async def clients(ledger_server: RunningLedger) -> AsyncIterator[dict[str, Client]]:
    """The clients a test opened (with `client`), closed at its end."""
    made: dict[str, Client] = {}
    yield made
    for client in made.values():
        await client.channel.close()


def client(clients: dict[str, Client], target: str, key: str) -> Client:
    made = clients[f"{target}/{key}"] = Client(target, key)
    return made


async def create_key(
    admin: api_keys_pb2_grpc.ApiKeyServiceStub, *scopes: str, **fields: object
) -> kpb.CreateApiKeyResponse:
    request = kpb.CreateApiKeyRequest(request_id=rid(), name="test key", scopes=scopes)
    for name, value in fields.items():
        field = getattr(request, name)
        if isinstance(value, list):
            field.extend(value)
        else:
            field.CopyFrom(value)
    response: kpb.CreateApiKeyResponse = await admin.CreateApiKey(request)
    return response


async def refusal(call: object) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value.code(), reason_of(caught.value)[0], caught.value.details() or ""


def balance(wallet_id: str = "w-1") -> pb.GetBalanceRequest:
    return pb.GetBalanceRequest(wallet_id=wallet_id)


async def test_a_call_without_a_credential_is_unauthenticated(
    ledger_server: RunningLedger, clients: dict[str, Client]
) -> None:
    anonymous = client(clients, ledger_server.target, "")
    code, reason, message = await refusal(anonymous.ledger.GetBalance(balance()))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "CREDENTIAL_MISSING")
    assert "authorization: Bearer" in message


async def test_health_checks_need_no_credential(ledger_server: RunningLedger) -> None:
    async with open_channel(ledger_server.target, key="") as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    "key",
    [
        api_keys.new_key()[1],  # well formed, never created
        "bk_0123456789abcdef_guess",
        "not-a-key-at-all",
    ],
    ids=["never-created", "guessed-secret", "malformed"],
)
async def test_an_unknown_key_is_unauthenticated(
    ledger_server: RunningLedger, clients: dict[str, Client], key: str
) -> None:
    stranger = client(clients, ledger_server.target, key)
    code, reason, _ = await refusal(stranger.ledger.GetBalance(balance()))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_UNKNOWN")


async def test_a_revoked_key_is_refused_within_the_cache_time(
    ledger_server: RunningLedger, clients: dict[str, Client]
) -> None:
    admin = ledger_server.channel
    keys = api_keys_pb2_grpc.ApiKeyServiceStub(admin)
    made = await create_key(keys, "read", "write")
    holder = client(clients, ledger_server.target, made.secret)
    wallet = await make_wallet(holder.ledger)  # works, and is now cached by the server
    revoked = await keys.RevokeApiKey(
        kpb.RevokeApiKeyRequest(request_id=rid(), key_id=made.api_key.key_id)
    )
    assert revoked.api_key.HasField("revoke_time")

    async def refused() -> bool:
        try:
            await holder.ledger.GetWallet(pb.GetWalletRequest(wallet_id=wallet.wallet_id))
        except grpc.aio.AioRpcError:
            return True
        return False

    await until(refused, "the revoked key is refused", bound_s=CACHE_TTL_S + 5)
    code, reason, _ = await refusal(holder.ledger.GetBalance(balance(wallet.wallet_id)))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_REVOKED")
    # Revoking again changes nothing: the first revocation time stays.
    again = await keys.RevokeApiKey(
        kpb.RevokeApiKeyRequest(request_id=rid(), key_id=made.api_key.key_id)
    )
    assert again.api_key.revoke_time == revoked.api_key.revoke_time


async def test_an_expired_key_is_unauthenticated(
    ledger_server: RunningLedger, clients: dict[str, Client]
) -> None:
    keys = api_keys_pb2_grpc.ApiKeyServiceStub(ledger_server.channel)
    expires = ledger_server.clock.now() + timedelta(hours=1)
    made = await create_key(keys, "read", "write", expire_time=timestamp(expires))
    holder = client(clients, ledger_server.target, made.secret)
    await make_wallet(holder.ledger)
    ledger_server.clock.advance(timedelta(hours=1))
    code, reason, message = await refusal(holder.ledger.GetBalance(balance()))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_EXPIRED")
    assert made.api_key.key_id in message


async def test_a_key_cannot_expire_in_the_past(ledger_server: RunningLedger) -> None:
    keys = api_keys_pb2_grpc.ApiKeyServiceStub(ledger_server.channel)
    past = timestamp(ledger_server.clock.now() - timedelta(seconds=1))
    code, reason, _ = await refusal(create_key(keys, "read", expire_time=past))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "EXPIRE_TIME_PAST")


async def test_a_read_key_cannot_write(
    ledger_server: RunningLedger, clients: dict[str, Client]
) -> None:
    keys = api_keys_pb2_grpc.ApiKeyServiceStub(ledger_server.channel)
    reader = client(clients, ledger_server.target, (await create_key(keys, "read")).secret)
    wallet = await make_wallet(ledger_server.stub)
    assert (await reader.ledger.GetWallet(pb.GetWalletRequest(wallet_id=wallet.wallet_id))).wallet
    code, reason, message = await refusal(make_wallet(reader.ledger))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_MISSING")
    assert "'write'" in message and "CreateWallet" in message


async def test_a_key_without_the_webhooks_scope_cannot_manage_webhooks(
    ledger_server: RunningLedger, clients: dict[str, Client]
) -> None:
    keys = api_keys_pb2_grpc.ApiKeyServiceStub(ledger_server.channel)
    writer = client(clients, ledger_server.target, (await create_key(keys, "read", "write")).secret)
    call = writer.ledger.ListWebhookEndpoints(pb.ListWebhookEndpointsRequest())
    code, reason, message = await refusal(call)
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_MISSING")
    assert "'webhooks'" in message


async def test_listing_wallets_across_customers_is_admin_only(
    ledger_server: RunningLedger, clients: dict[str, Client]
) -> None:
    keys = api_keys_pb2_grpc.ApiKeyServiceStub(ledger_server.channel)
    reader = client(clients, ledger_server.target, (await create_key(keys, "read")).secret)
    wallet = await make_wallet(ledger_server.stub)
    code, reason, message = await refusal(reader.ledger.ListWallets(pb.ListWalletsRequest()))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_MISSING")
    assert "'admin'" in message
    own = await reader.ledger.ListWallets(pb.ListWalletsRequest(customer_id=wallet.customer_id))
    assert [w.wallet_id for w in own.wallets] == [wallet.wallet_id]
    every = await ledger_server.stub.ListWallets(pb.ListWalletsRequest())
    assert wallet.wallet_id in [w.wallet_id for w in every.wallets]


async def test_every_customers_reports_are_admin_only(
    ledger_server: RunningLedger, clients: dict[str, Client]
) -> None:
    keys = api_keys_pb2_grpc.ApiKeyServiceStub(ledger_server.channel)
    reader = client(clients, ledger_server.target, (await create_key(keys, "read")).secret)
    wallet = await make_wallet(ledger_server.stub)
    now = ledger_server.clock.now()
    span = {
        "start_time": timestamp(now - timedelta(days=1)),
        "end_time": timestamp(now),
    }
    every_wallet = pb.GetConsumptionReportRequest(bucket=pb.REPORT_BUCKET_DAY, **span)
    every_customer = pb.GetRevenueReportRequest(bucket=pb.REPORT_BUCKET_DAY, **span)
    for call in (
        reader.ledger.GetConsumptionReport(every_wallet),
        reader.ledger.GetRevenueReport(every_customer),
    ):
        code, reason, message = await refusal(call)
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_MISSING")
        assert "'admin'" in message
    own = await reader.ledger.GetConsumptionReport(
        pb.GetConsumptionReportRequest(
            customer_id=wallet.customer_id, bucket=pb.REPORT_BUCKET_DAY, **span
        )
    )
    assert [r.wallet_id for r in own.wallets] == [wallet.wallet_id]
    revenue = await reader.ledger.GetRevenueReport(
        pb.GetRevenueReportRequest(
            customer_id=wallet.customer_id, bucket=pb.REPORT_BUCKET_DAY, **span
        )
    )
    assert [c.customer_id for c in revenue.customers] == [wallet.customer_id]


async def test_a_non_admin_key_cannot_manage_keys(
    ledger_server: RunningLedger, clients: dict[str, Client]
) -> None:
    keys = api_keys_pb2_grpc.ApiKeyServiceStub(ledger_server.channel)
    made = await create_key(keys, "read", "write", "catalogue", "webhooks")
    holder = client(clients, ledger_server.target, made.secret)
    for call in (
        holder.keys.CreateApiKey(
            kpb.CreateApiKeyRequest(request_id=rid(), name="mine", scopes=["admin"])
        ),
        holder.keys.ListApiKeys(kpb.ListApiKeysRequest()),
        holder.keys.RevokeApiKey(
            kpb.RevokeApiKeyRequest(request_id=rid(), key_id=made.api_key.key_id)
        ),
    ):
        code, reason, message = await refusal(call)
        assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_MISSING")
        assert "'admin'" in message


async def test_create_is_idempotent_by_request_id_and_shows_the_key_once(
    ledger_server: RunningLedger, clients: dict[str, Client]
) -> None:
    keys = api_keys_pb2_grpc.ApiKeyServiceStub(ledger_server.channel)
    request = kpb.CreateApiKeyRequest(
        request_id=rid(), name="billing job", scopes=["write", "read"], customer_ids=["c-1"]
    )
    first = await keys.CreateApiKey(request)
    replay = await keys.CreateApiKey(request)
    assert first.secret.startswith(f"bk_{first.api_key.key_id}_")
    assert not first.secret_shown_before
    assert (replay.secret, replay.secret_shown_before) == ("", True)
    assert replay.api_key == first.api_key
    assert list(first.api_key.scopes) == ["read", "write"]
    assert (list(first.api_key.customer_ids), first.api_key.all_customers) == (["c-1"], False)
    listed = await keys.ListApiKeys(kpb.ListApiKeysRequest(page_size=500))
    assert [k for k in listed.api_keys if k.key_id == first.api_key.key_id] == [first.api_key]
    # The key works (a tenant-bound key's binding is enforced by the handlers, not here).
    holder = client(clients, ledger_server.target, first.secret)
    await make_wallet(holder.ledger, customer_id="c-1")
    other = kpb.CreateApiKeyRequest(request_id=request.request_id, name="other", scopes=["read"])
    code, reason, _ = await refusal(keys.CreateApiKey(other))
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_CONFLICT")


@pytest.mark.parametrize(
    ("scopes", "reason"), [(["owner"], "UNKNOWN_SCOPE"), ([], "MISSING_FIELD")]
)
async def test_create_refuses_unknown_or_missing_scopes(
    ledger_server: RunningLedger, scopes: list[str], reason: str
) -> None:
    keys = api_keys_pb2_grpc.ApiKeyServiceStub(ledger_server.channel)
    request = kpb.CreateApiKeyRequest(request_id=rid(), name="k", scopes=scopes)
    code, found, _ = await refusal(keys.CreateApiKey(request))
    assert (code, found) == (grpc.StatusCode.INVALID_ARGUMENT, reason)


async def test_keys_are_per_service_and_the_rating_service_checks_scopes_too(
    both: RatingOverLedger, clients: dict[str, Client]
) -> None:
    ledger_keys = api_keys_pb2_grpc.ApiKeyServiceStub(both.ledger.channel)
    made = await create_key(ledger_keys, "read", "write", "catalogue")
    on_rating = client(clients, both.target, made.secret)
    call = on_rating.rating.ListMeters(rpb.ListMetersRequest())
    assert (await refusal(call))[:2] == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_UNKNOWN")
    async with open_channel(both.target) as admin_channel:
        rating_keys = api_keys_pb2_grpc.ApiKeyServiceStub(admin_channel)
        reader = await create_key(rating_keys, "read")
    rating_reader = client(clients, both.target, reader.secret)
    await rating_reader.rating.ListMeters(rpb.ListMetersRequest())
    call = rating_reader.rating.CreateMeter(rpb.CreateMeterRequest(request_id=rid()))
    code, reason, message = await refusal(call)
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_MISSING")
    assert "'catalogue'" in message
    anonymous = client(clients, both.target, "")
    call = anonymous.rating.ListMeters(rpb.ListMetersRequest())
    assert (await refusal(call))[:2] == (grpc.StatusCode.UNAUTHENTICATED, "CREDENTIAL_MISSING")


async def _clear_text_hits(engine: AsyncEngine, needle: str) -> list[str]:
    """Every column of every table (text, bytea, arrays, json) whose value holds `needle`, as
    text or as the hex of its bytes."""
    hexed = needle.encode().hex()
    async with engine.connect() as conn:
        columns = (
            await conn.execute(
                sa.text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND data_type IN "
                    "('text', 'character varying', 'bytea', 'ARRAY', 'json', 'jsonb')"
                )
            )
        ).all()
        assert columns
        hits = []
        for table, column in columns:
            found = await conn.execute(
                sa.text(
                    f'SELECT count(*) FROM "{table}" WHERE strpos("{column}"::text, :needle) > 0 '
                    f'OR strpos("{column}"::text, :hexed) > 0'
                ),
                {"needle": needle, "hexed": hexed},
            )
            if found.scalar_one():
                hits.append(f"{table}.{column}")
    return hits


async def test_no_database_holds_a_created_key_in_clear(both: RatingOverLedger) -> None:
    async with open_channel(both.target) as admin_channel:
        rating_key = await create_key(api_keys_pb2_grpc.ApiKeyServiceStub(admin_channel), "read")
    ledger_keys = api_keys_pb2_grpc.ApiKeyServiceStub(both.ledger.channel)
    request = kpb.CreateApiKeyRequest(request_id=rid(), name="clear?", scopes=["read"])
    ledger_key = await ledger_keys.CreateApiKey(request)
    await ledger_keys.CreateApiKey(request)  # a replay too: no answer with the key is stored
    engines = {
        ledger_key.api_key.key_id: both.ledger.ledger.engine,
        rating_key.api_key.key_id: both.rating.engine,
    }
    for made in (ledger_key, rating_key):
        secret = made.secret.split("_", 2)[2]
        for engine in engines.values():
            assert await _clear_text_hits(engine, secret) == []
        # The search finds what is there: the key id is stored in clear, in its own database.
        own = engines[made.api_key.key_id]
        assert await _clear_text_hits(own, made.api_key.key_id) == ["api_keys.key_id"]


async def test_with_authentication_off_a_call_needs_no_credential(
    new_database: NewDatabase, ledger_template: str
) -> None:
    settings = LedgerSettings(
        database_url=await new_database("ledger", ledger_template),
        listen="127.0.0.1:0",
        migrate=False,
        sweep_interval_s=0,
        auth_disabled=True,
        **server_settings(),
    )
    ledger = await ledger_main.build(settings, FakeClock(START))
    try:
        target = f"127.0.0.1:{await ledger.server.start()}"
        async with open_channel(target, key="") as channel:
            wallet = await make_wallet(ledger_pb2_grpc.LedgerServiceStub(channel))
            listed = await ledger_pb2_grpc.LedgerServiceStub(channel).ListWallets(
                pb.ListWalletsRequest()
            )
        assert [w.wallet_id for w in listed.wallets] == [wallet.wallet_id]
    finally:
        await ledger.close()


async def test_a_create_replayed_after_the_key_expired_returns_the_key_not_an_error(
    ledger_server: RunningLedger,
) -> None:
    """The replay answers with what the first call made, even when its expire_time has passed
    since (a check of the time comes after the request id's, as for every write)."""
    keys = api_keys_pb2_grpc.ApiKeyServiceStub(ledger_server.channel)
    expires = timestamp(ledger_server.clock.now() + timedelta(hours=1))
    request = kpb.CreateApiKeyRequest(
        request_id=rid(), name="short", scopes=["read"], expire_time=expires
    )
    first = await keys.CreateApiKey(request)
    ledger_server.clock.advance(timedelta(hours=2))
    replay = await keys.CreateApiKey(request)
    assert (replay.api_key, replay.secret, replay.secret_shown_before) == (
        first.api_key,
        "",
        True,
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"customer_ids": [""]}, "customer_ids[0]"),
        ({"customer_ids": ["c" * 129]}, "customer_ids[0]"),
        ({"request_id": "r" * 129}, "request_id"),
    ],
)
async def test_create_refuses_empty_or_overlong_ids_and_writes_nothing(
    ledger_server: RunningLedger, changes: dict[str, object], field: str
) -> None:
    keys = api_keys_pb2_grpc.ApiKeyServiceStub(ledger_server.channel)
    before = await keys.ListApiKeys(kpb.ListApiKeysRequest(page_size=500))
    request = kpb.CreateApiKeyRequest(request_id=rid(), name="k", scopes=["read"])
    for name, value in changes.items():
        if isinstance(value, list):
            getattr(request, name).extend(value)
        else:
            setattr(request, name, value)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await keys.CreateApiKey(request)
    assert (refused.value.code(), reason_of(refused.value)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        ("INVALID_ID", [field]),
    )
    assert await keys.ListApiKeys(kpb.ListApiKeysRequest(page_size=500)) == before
