"""Tenant isolation and audit over gRPC, on the real servers with real API keys.

A caller bound to some customers (an API key with customer_ids and every scope, so only the
tenant rule can refuse its calls) can neither read nor change another customer's wallets, and
cannot tell them from wallets that do not exist: every wallet-addressed RPC answers a foreign id
with exactly the code, reason, field paths and message (the id aside) it gives an id that does
not exist, and writes nothing. Every entry records who wrote it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc
from google.protobuf.message import Message
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from billing_common import api_keys
from billing_common.clock import FakeClock
from billing_common.protoconv import duration, timestamp
from ledger_service import main as ledger_main
from ledger_service.config import LedgerSettings
from tests.e2e.test_ledger_bad_input import RpcError, rich_error
from tests.support.channels import admin_key, admin_key_file, open_channel
from tests.support.ledger import debit_request, make_grant, make_wallet, rid
from tests.support.principals import tenant_channel
from tests.support.servers import START
from tests.support.tls import server_settings

Code = grpc.StatusCode
OWN, FOREIGN = "cust-own", "cust-foreign"
# The session's admin key, as recorded on what it writes.
ADMIN = f"key:{api_keys.key_id_of(admin_key())}"
HOOK_URL = "https://example.com/hooks"  # never called: no delivery round runs here


@dataclass
class World:
    admin: ledger_pb2_grpc.LedgerServiceStub  # the session's admin key: every customer
    tenant: ledger_pb2_grpc.LedgerServiceStub  # a key bound to OWN
    actor: str  # the tenant key's, as recorded
    clock: FakeClock
    engine: AsyncEngine  # the ledger's database, to read what is recorded beyond the API
    own_wallet: str
    # The foreign customer's things, by kind: wallet, grant, entry, hold, top_up, schedule,
    # endpoint (a webhook endpoint of the wallet), customer (its id).
    foreign: dict[str, str]

    async def foreign_view(self) -> list[bytes]:
        """Everything an admin can read about the foreign wallet: unchanged by refused calls."""
        w = self.foreign["wallet"]
        reads: list[Message] = [
            await self.admin.GetWallet(pb.GetWalletRequest(wallet_id=w)),
            await self.admin.GetBalance(pb.GetBalanceRequest(wallet_id=w)),
            await self.admin.ListEntries(pb.ListEntriesRequest(wallet_id=w)),
            await self.admin.ListGrants(pb.ListGrantsRequest(wallet_id=w)),
            await self.admin.GetHold(pb.GetHoldRequest(hold_id=self.foreign["hold"])),
            await self.admin.ListTopUps(pb.ListTopUpsRequest(wallet_id=w)),
            await self.admin.ListAlertRules(pb.ListAlertRulesRequest(wallet_id=w)),
            await self.admin.ListAllotmentSchedules(pb.ListAllotmentSchedulesRequest(wallet_id=w)),
            await self.admin.ListWebhookEndpoints(pb.ListWebhookEndpointsRequest(wallet_id=w)),
            await self.admin.GetSignalPolicy(pb.GetSignalPolicyRequest(wallet_id=w)),
        ]
        try:  # the rule, or that it has none (a test clears it as the admin)
            reads.append(await self.admin.GetTopUpRule(pb.GetTopUpRuleRequest(wallet_id=w)))
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND, exc
            reads.append(pb.GetTopUpRuleResponse())  # none: an empty answer stands for it
        return [r.SerializeToString(deterministic=True) for r in reads]


def _topup_rule(wallet_id: str) -> pb.TopUpRule:
    return pb.TopUpRule(
        wallet_id=wallet_id,
        threshold="100",
        amount="500",
        kind=pb.GRANT_KIND_PREPAID,
        unit_price="0.01",
        currency="USD",
        payment=pb.TOP_UP_PAYMENT_ON_CONFIRMATION,
    )


def _schedule(wallet_id: str) -> pb.AllotmentSchedule:
    return pb.AllotmentSchedule(
        wallet_id=wallet_id,
        amount="10",
        kind=pb.GRANT_KIND_PROMOTIONAL,
        cadence=pb.ALLOTMENT_CADENCE_MONTHLY,
        anchor_time=timestamp(START + timedelta(days=40)),
        expiry=pb.ALLOTMENT_EXPIRY_NEVER,
    )


@pytest.fixture(scope="module")
async def world(new_database: Any, ledger_template: str) -> AsyncIterator[World]:
    settings = LedgerSettings(
        database_url=await new_database("ledger", ledger_template),
        listen="127.0.0.1:0",
        migrate=False,
        pool_size=10,
        sweep_interval_s=0,
        admin_key_file=admin_key_file(),
        **server_settings(),
    )
    clock = FakeClock(START)
    ledger = await ledger_main.build(settings, clock)
    target = f"127.0.0.1:{await ledger.server.start()}"
    channel = open_channel(target)
    admin = ledger_pb2_grpc.LedgerServiceStub(channel)
    actor, bound = await tenant_channel(channel, target, [OWN])
    try:
        tenant = ledger_pb2_grpc.LedgerServiceStub(bound)
        wallet = (await make_wallet(admin, customer_id=FOREIGN)).wallet_id
        grant = (await make_grant(admin, wallet, "1000")).grant.grant_id
        entry = (await admin.Debit(debit_request(wallet, "850"))).entry.entry_id
        hold = (
            await admin.CreateHold(
                pb.CreateHoldRequest(
                    request_id=rid(),
                    wallet_id=wallet,
                    amount="10",
                    timeout=duration(timedelta(days=30)),
                )
            )
        ).hold.hold_id
        await admin.SetTopUpRule(pb.SetTopUpRuleRequest(request_id=rid(), rule=_topup_rule(wallet)))
        await admin.Debit(debit_request(wallet, "60"))  # 80 < 100: a pending top-up
        (top_up,) = (await admin.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet))).top_ups
        schedule = (
            await admin.CreateAllotmentSchedule(
                pb.CreateAllotmentScheduleRequest(request_id=rid(), schedule=_schedule(wallet))
            )
        ).schedule.schedule_id
        endpoint = (
            await admin.CreateWebhookEndpoint(
                pb.CreateWebhookEndpointRequest(request_id=rid(), wallet_id=wallet, url=HOOK_URL)
            )
        ).endpoint.endpoint_id
        own = (await make_wallet(admin, customer_id=OWN)).wallet_id
        yield World(
            admin,
            tenant,
            actor,
            clock,
            ledger.engine,
            own,
            {
                "wallet": wallet,
                "grant": grant,
                "entry": entry,
                "hold": hold,
                "top_up": top_up.top_up_id,
                "schedule": schedule,
                "endpoint": endpoint,
                "customer": FOREIGN,
            },
        )
    finally:
        await bound.close()
        await channel.close()
        await ledger.close()


async def refused(stub: Any, method: str, request: Message) -> RpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await getattr(stub, method)(request)
    return rich_error(raised.value)


def _as_missing(err: RpcError, target: str) -> tuple[Any, ...]:
    return (err.code, err.reason, err.domain, err.fields, err.message.replace(target, "<id>"))


# Every wallet-addressed RPC: (method, kind of id it addresses, request for an id).
CASES: list[tuple[str, str, Callable[[str], Message]]] = [
    ("GetWallet", "wallet", lambda i: pb.GetWalletRequest(wallet_id=i)),
    ("GetBalance", "wallet", lambda i: pb.GetBalanceRequest(wallet_id=i)),
    ("ListEntries", "wallet", lambda i: pb.ListEntriesRequest(wallet_id=i)),
    (
        "GetConsumptionReport",
        "wallet",
        lambda i: pb.GetConsumptionReportRequest(
            wallet_id=i,
            start_time=timestamp(START),
            end_time=timestamp(START + timedelta(days=1)),
            bucket=pb.REPORT_BUCKET_DAY,
        ),
    ),
    ("ListGrants", "wallet", lambda i: pb.ListGrantsRequest(wallet_id=i)),
    ("VerifyWallet", "wallet", lambda i: pb.VerifyWalletRequest(wallet_id=i)),
    ("RunExpiry", "wallet", lambda i: pb.RunExpiryRequest(wallet_id=i)),
    ("ListTopUps", "wallet", lambda i: pb.ListTopUpsRequest(wallet_id=i)),
    ("GetTopUpRule", "wallet", lambda i: pb.GetTopUpRuleRequest(wallet_id=i)),
    ("ListAlertRules", "wallet", lambda i: pb.ListAlertRulesRequest(wallet_id=i)),
    ("ListAllotmentSchedules", "wallet", lambda i: pb.ListAllotmentSchedulesRequest(wallet_id=i)),
    ("GetDepletionForecast", "wallet", lambda i: pb.GetDepletionForecastRequest(wallet_id=i)),
    ("GetSignalPolicy", "wallet", lambda i: pb.GetSignalPolicyRequest(wallet_id=i)),
    (
        "SetSignalPolicy",
        "wallet",
        lambda i: pb.SetSignalPolicyRequest(
            request_id=rid(), policy=pb.SignalPolicy(wallet_id=i, depletion_days=3)
        ),
    ),
    ("GetGrant", "grant", lambda i: pb.GetGrantRequest(grant_id=i)),
    ("GetHold", "hold", lambda i: pb.GetHoldRequest(hold_id=i)),
    (
        "CreateGrant",
        "wallet",
        lambda i: pb.CreateGrantRequest(
            request_id=rid(), wallet_id=i, kind=pb.GRANT_KIND_PREPAID, amount="1000000"
        ),
    ),
    ("VoidGrant", "grant", lambda i: pb.VoidGrantRequest(request_id=rid(), grant_id=i)),
    ("Debit", "wallet", lambda i: debit_request(i, "1")),
    (
        "Debit",  # stating one's own customer changes nothing: the wallet is not there
        "wallet",
        lambda i: pb.DebitRequest(request_id=rid(), wallet_id=i, amount="1", customer_id=OWN),
    ),
    ("RefundDebit", "entry", lambda i: pb.RefundDebitRequest(request_id=rid(), entry_id=i)),
    (
        "CreateHold",
        "wallet",
        lambda i: pb.CreateHoldRequest(
            request_id=rid(), wallet_id=i, amount="1", timeout=duration(timedelta(hours=1))
        ),
    ),
    (
        "CaptureHold",
        "hold",
        lambda i: pb.CaptureHoldRequest(request_id=rid(), hold_id=i, amount="1"),
    ),
    ("ReleaseHold", "hold", lambda i: pb.ReleaseHoldRequest(request_id=rid(), hold_id=i)),
    ("Authorize", "wallet", lambda i: pb.AuthorizeRequest(wallet_id=i, amount="1")),
    (
        "Authorize",
        "wallet",
        lambda i: pb.AuthorizeRequest(request_id=rid(), wallet_id=i, amount="1", hold=True),
    ),
    (
        "Authorize",  # by customer and unit: another customer has no wallet either
        "customer",
        lambda i: pb.AuthorizeRequest(customer_id=i, unit="CREDITS", amount="1"),
    ),
    (
        "Authorize",
        "customer",
        lambda i: pb.AuthorizeRequest(
            request_id=rid(), customer_id=i, unit="CREDITS", amount="1", hold=True
        ),
    ),
    (
        "SetTopUpRule",
        "wallet",
        lambda i: pb.SetTopUpRuleRequest(request_id=rid(), rule=_topup_rule(i)),
    ),
    (
        "ClearTopUpRule",
        "wallet",
        lambda i: pb.ClearTopUpRuleRequest(request_id=rid(), wallet_id=i),
    ),
    ("ConfirmTopUp", "top_up", lambda i: pb.ConfirmTopUpRequest(request_id=rid(), top_up_id=i)),
    ("FailTopUp", "top_up", lambda i: pb.FailTopUpRequest(request_id=rid(), top_up_id=i)),
    (
        "SetAlertRules",
        "wallet",
        lambda i: pb.SetAlertRulesRequest(request_id=rid(), wallet_id=i),
    ),
    (
        "CreateAllotmentSchedule",
        "wallet",
        lambda i: pb.CreateAllotmentScheduleRequest(request_id=rid(), schedule=_schedule(i)),
    ),
    (
        "EndAllotmentSchedule",
        "schedule",
        lambda i: pb.EndAllotmentScheduleRequest(request_id=rid(), schedule_id=i),
    ),
    ("ListWebhookEndpoints", "wallet", lambda i: pb.ListWebhookEndpointsRequest(wallet_id=i)),
    (
        "CreateWebhookEndpoint",
        "wallet",
        lambda i: pb.CreateWebhookEndpointRequest(request_id=rid(), wallet_id=i, url=HOOK_URL),
    ),
    (
        "DeleteWebhookEndpoint",
        "endpoint",
        lambda i: pb.DeleteWebhookEndpointRequest(request_id=rid(), endpoint_id=i),
    ),
    ("ListWebhookDeliveries", "endpoint", lambda i: pb.ListWebhookDeliveriesRequest(endpoint_id=i)),
    (
        "RotateWebhookSecret",
        "endpoint",
        lambda i: pb.RotateWebhookSecretRequest(request_id=rid(), endpoint_id=i),
    ),
]


@pytest.mark.parametrize(
    ("method", "kind", "build"), CASES, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(CASES)]
)
async def test_another_customers_wallet_is_not_found_exactly_like_a_missing_one(
    world: World, method: str, kind: str, build: Callable[[str], Message]
) -> None:
    before = await world.foreign_view()
    target, missing = world.foreign[kind], rid()
    seen = await refused(world.tenant, method, build(target))
    absent = await refused(world.tenant, method, build(missing))
    assert seen.code == Code.NOT_FOUND
    assert _as_missing(seen, target) == _as_missing(absent, missing)
    assert await world.foreign_view() == before  # nothing written


async def test_a_foreign_watch_is_not_found_exactly_like_a_missing_one(world: World) -> None:
    async def first_error(wallet_id: str) -> RpcError:
        call = world.tenant.WatchWalletEvents(pb.WatchWalletEventsRequest(wallet_id=wallet_id))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call.read()
        return rich_error(raised.value)

    target, missing = world.foreign["wallet"], rid()
    seen, absent = await first_error(target), await first_error(missing)
    assert seen.code == Code.NOT_FOUND
    assert _as_missing(seen, target) == _as_missing(absent, missing)


REPLAYED: list[tuple[str, Callable[[str], Message]]] = [
    ("Debit", lambda w: debit_request(w, "1")),  # through the write pipeline
    (
        "Authorize",
        lambda w: pb.AuthorizeRequest(request_id=rid(), wallet_id=w, amount="1", hold=True),
    ),
    ("SetAlertRules", lambda w: pb.SetAlertRulesRequest(request_id=rid(), wallet_id=w)),
    ("SetTopUpRule", lambda w: pb.SetTopUpRuleRequest(request_id=rid(), rule=_topup_rule(w))),
    ("ClearTopUpRule", lambda w: pb.ClearTopUpRuleRequest(request_id=rid(), wallet_id=w)),
]


@pytest.mark.parametrize(("method", "build"), REPLAYED, ids=[m for m, _ in REPLAYED])
async def test_replaying_another_tenants_request_id_reveals_nothing(
    world: World, method: str, build: Callable[[str], Message]
) -> None:
    request = build(world.foreign["wallet"])
    await getattr(world.admin, method)(request)  # stored with its response
    before = await world.foreign_view()
    seen = await refused(world.tenant, method, request)
    missing = rid()
    absent = await refused(world.tenant, method, build(missing))
    assert _as_missing(seen, world.foreign["wallet"]) == _as_missing(absent, missing)
    assert await world.foreign_view() == before


async def test_foreign_items_of_a_debit_batch_are_refused_one_by_one_and_write_nothing(
    world: World,
) -> None:
    await make_grant(world.admin, world.own_wallet, "100")
    before = await world.foreign_view()
    missing = rid()
    items = [
        debit_request(world.own_wallet, "1"),
        debit_request(world.foreign["wallet"], "1"),
        debit_request(missing, "1"),
        pb.DebitRequest(
            request_id=rid(), wallet_id=world.foreign["wallet"], amount="1", customer_id=OWN
        ),
    ]
    results = (await world.tenant.DebitBatch(pb.DebitBatchRequest(debits=items))).results
    assert results[0].HasField("entry")
    foreign, absent, stated = results[1].error, results[2].error, results[3].error
    assert foreign.reason == "WALLET_NOT_FOUND"
    for err in (foreign, stated):
        got = err.message.replace(world.foreign["wallet"], "<id>")
        assert (err.code, err.reason, list(err.field_violations), got) == (
            absent.code,
            absent.reason,
            list(absent.field_violations),
            absent.message.replace(missing, "<id>"),
        )
    assert await world.foreign_view() == before


async def test_listing_wallets_shows_only_the_callers_customers(world: World) -> None:
    listed = (await world.tenant.ListWallets(pb.ListWalletsRequest())).wallets
    assert {w.customer_id for w in listed} == {OWN}
    foreign = await world.tenant.ListWallets(pb.ListWalletsRequest(customer_id=FOREIGN))
    nobody = await world.tenant.ListWallets(pb.ListWalletsRequest(customer_id="cust-nobody"))
    assert list(foreign.wallets) == list(nobody.wallets) == []


async def test_creating_a_wallet_for_another_customer_is_customer_not_found(world: World) -> None:
    request = pb.CreateWalletRequest(
        request_id=rid(), customer_id=FOREIGN, unit="TOKENS", overage_policy=pb.OVERAGE_POLICY_DENY
    )
    err = await refused(world.tenant, "CreateWallet", request)
    assert (err.code, err.reason) == (Code.NOT_FOUND, "CUSTOMER_NOT_FOUND")
    wallets = (await world.admin.ListWallets(pb.ListWalletsRequest(customer_id=FOREIGN))).wallets
    assert [w.unit for w in wallets] == ["CREDITS"]  # nothing created


async def test_list_entries_shows_who_wrote_each_entry_and_system_for_an_expiry(
    world: World,
) -> None:
    own = (
        await world.tenant.CreateWallet(
            pb.CreateWalletRequest(
                request_id=rid(),
                customer_id=OWN,
                unit="MINUTES",
                overage_policy=pb.OVERAGE_POLICY_DENY,
            ),
        )
    ).wallet.wallet_id
    expire = world.clock.now() + timedelta(days=1)
    await world.tenant.CreateGrant(
        pb.CreateGrantRequest(
            request_id=rid(),
            wallet_id=own,
            kind=pb.GRANT_KIND_PROMOTIONAL,
            amount="10",
            expire_time=timestamp(expire),
        ),
    )
    await world.tenant.Debit(debit_request(own, "4"))
    await world.admin.Debit(debit_request(own, "1"))
    world.clock.set(expire + timedelta(days=1))  # past the wallet's late-event grace
    await world.admin.RunExpiry(pb.RunExpiryRequest(wallet_id=own))
    entries = (await world.tenant.ListEntries(pb.ListEntriesRequest(wallet_id=own))).entries
    assert [(e.type, e.actor) for e in reversed(entries)] == [
        (pb.ENTRY_TYPE_GRANT, world.actor),
        (pb.ENTRY_TYPE_DEBIT, world.actor),
        (pb.ENTRY_TYPE_DEBIT, ADMIN),
        (pb.ENTRY_TYPE_EXPIRY, "system"),
    ]


async def test_wallets_rules_and_schedules_record_who_set_them(world: World) -> None:
    wallet = (
        await world.tenant.CreateWallet(
            pb.CreateWalletRequest(
                request_id=rid(),
                customer_id=OWN,
                unit="SECONDS",
                overage_policy=pb.OVERAGE_POLICY_DENY,
            ),
        )
    ).wallet.wallet_id
    await make_grant(world.admin, wallet, "200")
    await world.tenant.SetTopUpRule(
        pb.SetTopUpRuleRequest(request_id=rid(), rule=_topup_rule(wallet))
    )
    # 50 < 100: the ledger starts a top-up and disarms the rule (its own change of the rule).
    await world.admin.Debit(debit_request(wallet, "150"))
    (top_up,) = (await world.admin.ListTopUps(pb.ListTopUpsRequest(wallet_id=wallet))).top_ups
    schedule = (
        await world.tenant.CreateAllotmentSchedule(
            pb.CreateAllotmentScheduleRequest(request_id=rid(), schedule=_schedule(wallet)),
        )
    ).schedule.schedule_id
    await world.admin.EndAllotmentSchedule(
        pb.EndAllotmentScheduleRequest(request_id=rid(), schedule_id=schedule)
    )
    async with world.engine.connect() as conn:

        async def one(sql: str) -> list[tuple[str, ...]]:
            rows = await conn.execute(text(sql), {"w": wallet})
            return sorted({tuple(r) for r in rows})

        recorded = {
            "wallet": await one("SELECT created_by FROM wallets WHERE id = :w"),
            "alert rules": await one("SELECT created_by FROM alert_rules WHERE wallet_id = :w"),
            "top-up rule": await one("SELECT updated_by FROM topup_rules WHERE wallet_id = :w"),
            "schedule": await one(
                "SELECT created_by, ended_by FROM allotment_schedules WHERE wallet_id = :w"
            ),
        }
    assert recorded == {
        "wallet": [(world.actor,)],
        "alert rules": [(world.actor,)],  # the defaults, set with the wallet
        "top-up rule": [(world.actor,)],  # kept when the ledger changes the rule's state
        "schedule": [(world.actor, ADMIN)],
    }
    assert top_up.state == pb.TOP_UP_STATE_PENDING


async def test_a_scoped_caller_lists_and_creates_only_its_own_wallets_webhook_endpoints(
    world: World,
) -> None:
    every = await world.admin.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(request_id=rid(), url=HOOK_URL)  # every wallet
    )
    own = await world.tenant.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(request_id=rid(), wallet_id=world.own_wallet, url=HOOK_URL),
    )
    listed = await world.tenant.ListWebhookEndpoints(pb.ListWebhookEndpointsRequest())
    assert [e.endpoint_id for e in listed.endpoints] == [own.endpoint.endpoint_id]
    # An endpoint for every wallet would receive other customers' events.
    err = await refused(
        world.tenant,
        "CreateWebhookEndpoint",
        pb.CreateWebhookEndpointRequest(request_id=rid(), url=HOOK_URL),
    )
    assert (err.code, err.reason, err.fields) == (
        Code.INVALID_ARGUMENT,
        "MISSING_FIELD",
        ["wallet_id"],
    )
    hidden = await refused(
        world.tenant,
        "ListWebhookDeliveries",
        pb.ListWebhookDeliveriesRequest(endpoint_id=every.endpoint.endpoint_id),
    )
    assert (hidden.code, hidden.reason) == (Code.NOT_FOUND, "WEBHOOK_ENDPOINT_NOT_FOUND")
