"""Contract tests over real gRPC: bad input for every LedgerService RPC.

Each refusal must carry the exact gRPC code, a stable `google.rpc.ErrorInfo` reason (domain
"ledger.billing"), a `google.rpc.BadRequest` field violation naming the bad field where there is
one, never UNKNOWN or INTERNAL, and it must write nothing: every table's row count (idempotency keys
included), the wallets, the journal, the grants and the balances are unchanged, and VerifyWallet
stays consistent.

The cases share one server and database (module scope) to keep the suite fast; each case compares a
snapshot taken right before and right after its own call, so they do not depend on each other.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc
from billing.type.v1 import types_pb2
from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from sqlalchemy import func, select

from billing_common.clock import FakeClock
from billing_common.protoconv import duration, timestamp
from ledger_service import main as ledger_main
from ledger_service.adapters.db import tables
from ledger_service.config import LedgerSettings
from tests.support.channels import admin_key_file, open_channel
from tests.support.ledger import debit_request, make_grant, make_wallet, rid
from tests.support.servers import START, RunningLedger
from tests.support.tls import server_settings

DOMAIN = "ledger.billing"
Code = grpc.StatusCode
INVALID = Code.INVALID_ARGUMENT

# The contract's error table for the reasons these tests meet; any other reason is INVALID_ARGUMENT.
CODE_OF = {
    "WALLET_NOT_FOUND": Code.NOT_FOUND,
    "GRANT_NOT_FOUND": Code.NOT_FOUND,
    "ENTRY_NOT_FOUND": Code.NOT_FOUND,
    "WALLET_ALREADY_EXISTS": Code.ALREADY_EXISTS,
    "INSUFFICIENT_CREDITS": Code.FAILED_PRECONDITION,
    "GRANT_ALREADY_VOIDED": Code.FAILED_PRECONDITION,
    "GRANT_ALREADY_ENDED": Code.FAILED_PRECONDITION,
    "REFUND_EXCEEDS_DEBIT": Code.FAILED_PRECONDITION,
    "HOLD_NOT_FOUND": Code.NOT_FOUND,
    "HOLD_NOT_ACTIVE": Code.FAILED_PRECONDITION,
    "CAPTURE_EXCEEDS_HOLD": Code.FAILED_PRECONDITION,
    "GRANT_HELD": Code.FAILED_PRECONDITION,
    "TOP_UP_NOT_FOUND": Code.NOT_FOUND,
    "TOP_UP_RULE_NOT_FOUND": Code.NOT_FOUND,
    "SCHEDULE_NOT_FOUND": Code.NOT_FOUND,
    "WEBHOOK_ENDPOINT_NOT_FOUND": Code.NOT_FOUND,
    "MEMBER_NOT_FOUND": Code.NOT_FOUND,
}


def code_of(reason: str) -> grpc.StatusCode:
    return CODE_OF.get(reason, INVALID)


# -- errors ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RpcError:
    code: grpc.StatusCode
    reason: str
    domain: str
    fields: list[str]
    message: str


def rich_error(exc: grpc.aio.AioRpcError) -> RpcError:
    """The code, ErrorInfo reason and BadRequest field paths of a failed call, from the
    `grpc-status-details-bin` trailer (what grpc_status.rpc_status.from_call decodes)."""
    raw = [v for k, v in (exc.trailing_metadata() or ()) if k == "grpc-status-details-bin"]
    assert raw, f"{exc.code()} without rich status details: {exc.details()}"
    status = status_pb2.Status.FromString(raw[0])
    assert status.code == exc.code().value[0], "status details disagree with the call's code"
    reason, domain, fields = "", "", []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain = info.reason, info.domain
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return RpcError(exc.code(), reason, domain, fields, status.message)


async def call_error(stub: Any, method: str, request: Message) -> RpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await getattr(stub, method)(request)
    exc = raised.value
    assert exc.code() not in (Code.UNKNOWN, Code.INTERNAL), (
        f"{method} answered {exc.code().name} ({exc.details()!r}) to input a caller can send"
    )
    err = rich_error(exc)
    assert err.domain == DOMAIN
    assert err.reason and err.message
    return err


# -- one server for the module, and a world to poke at --------------------------------------------


@dataclass
class World:
    server: RunningLedger
    customer_id: str
    wallet_id: str  # DENY, one PREPAID grant of 1,000,000, one debit of 10
    grant_id: str
    grant_entry_id: str
    debit_entry_id: str
    other_wallet_id: str  # holds a consumed and a voided grant
    consumed_grant_id: str
    voided_grant_id: str
    hold_id: str  # active, 100 on wallet_id, reserving from grant_id
    released_hold_id: str

    @property
    def stub(self) -> ledger_pb2_grpc.LedgerServiceStub:
        return self.server.stub

    def now(self) -> datetime:
        return self.server.clock.now()


@pytest.fixture(scope="module")
async def world(new_database: Any, ledger_template: str) -> AsyncIterator[World]:
    settings = LedgerSettings(
        admin_key_file=admin_key_file(),
        database_url=await new_database("ledger", ledger_template),
        listen="127.0.0.1:0",
        migrate=False,
        pool_size=10,
        sweep_interval_s=0,
        **server_settings(),
    )
    clock = FakeClock(START)
    ledger = await ledger_main.build(settings, clock)
    target = f"127.0.0.1:{await ledger.server.start()}"
    channel = open_channel(target)
    stub = ledger_pb2_grpc.LedgerServiceStub(channel)
    try:
        wallet = await make_wallet(stub)
        granted = await make_grant(stub, wallet.wallet_id, "1000000")
        debit = (await stub.Debit(debit_request(wallet.wallet_id, "10"))).entry
        other = await make_wallet(stub)
        consumed = await make_grant(stub, other.wallet_id, "5")
        await stub.Debit(debit_request(other.wallet_id, "5"))
        voided = await make_grant(stub, other.wallet_id, "7")
        await stub.VoidGrant(pb.VoidGrantRequest(request_id=rid(), grant_id=voided.grant.grant_id))
        hold = (
            await stub.CreateHold(
                pb.CreateHoldRequest(
                    request_id=rid(),
                    wallet_id=wallet.wallet_id,
                    amount="100",
                    timeout=duration(timedelta(days=30)),
                )
            )
        ).hold
        released = (
            await stub.CreateHold(
                pb.CreateHoldRequest(
                    request_id=rid(),
                    wallet_id=wallet.wallet_id,
                    amount="1",
                )
            )
        ).hold
        await stub.ReleaseHold(pb.ReleaseHoldRequest(request_id=rid(), hold_id=released.hold_id))
        yield World(
            server=RunningLedger(target, clock, ledger, channel, stub),
            customer_id=wallet.customer_id,
            wallet_id=wallet.wallet_id,
            grant_id=granted.grant.grant_id,
            grant_entry_id=granted.entries[0].entry_id,
            debit_entry_id=debit.entry_id,
            other_wallet_id=other.wallet_id,
            consumed_grant_id=consumed.grant.grant_id,
            voided_grant_id=voided.grant.grant_id,
            hold_id=hold.hold_id,
            released_hold_id=released.hold_id,
        )
    finally:
        await channel.close()
        await ledger.close()


async def row_counts(w: World) -> dict[str, int]:
    counted = tables.metadata.sorted_tables
    query = select(*(select(func.count()).select_from(t).scalar_subquery() for t in counted))
    async with w.server.ledger.engine.connect() as conn:
        counts = (await conn.execute(query)).one()
    return {t.name: n for t, n in zip(counted, counts, strict=True)}


async def snapshot(w: World) -> dict[str, Any]:
    """Everything a refused call must leave alone: row counts of every table (a refusal must not
    even remember its request_id) and what the read RPCs show."""
    reads: dict[str, Any] = {"wallets": w.stub.ListWallets(pb.ListWalletsRequest(page_size=500))}
    for wid in (w.wallet_id, w.other_wallet_id):
        reads[f"entries:{wid}"] = w.stub.ListEntries(
            pb.ListEntriesRequest(wallet_id=wid, page_size=500)
        )
        reads[f"grants:{wid}"] = w.stub.ListGrants(
            pb.ListGrantsRequest(wallet_id=wid, page_size=500)
        )
        reads[f"balance:{wid}"] = w.stub.GetBalance(pb.GetBalanceRequest(wallet_id=wid))
    responses = await asyncio.gather(*reads.values())
    state: dict[str, Any] = {f"rows:{k}": n for k, n in (await row_counts(w)).items()}
    for key, response in zip(reads, responses, strict=True):
        state[key] = response.SerializeToString(deterministic=True)
    return state


async def assert_consistent(w: World) -> None:
    reports = await asyncio.gather(
        *(
            w.stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wid))
            for wid in (w.wallet_id, w.other_wallet_id)
        )
    )
    for report in reports:
        assert report.consistent, report.differences


async def refused(w: World, method: str, request: Message) -> RpcError:
    """Call, expect a mapped refusal, and check that nothing was written."""
    before = await snapshot(w)
    err = await call_error(w.stub, method, request)
    assert await snapshot(w) == before, f"{method} wrote something although it was refused"
    await assert_consistent(w)
    return err


# -- requests: a valid base per RPC, and one change that makes it bad -----------------------------

BASE: dict[str, Callable[[World], Message]] = {
    "CreateWallet": lambda w: pb.CreateWalletRequest(
        request_id=rid(),
        customer_id=f"cust-{rid()}",
        unit="CREDITS",
        overage_policy=pb.OVERAGE_POLICY_DENY,
    ),
    "GetWallet": lambda w: pb.GetWalletRequest(wallet_id=w.wallet_id),
    "ListWallets": lambda w: pb.ListWalletsRequest(customer_id=w.customer_id),
    "CreateGrant": lambda w: pb.CreateGrantRequest(
        request_id=rid(), wallet_id=w.wallet_id, kind=pb.GRANT_KIND_PREPAID, amount="25"
    ),
    "GetGrant": lambda w: pb.GetGrantRequest(grant_id=w.grant_id),
    "ListGrants": lambda w: pb.ListGrantsRequest(wallet_id=w.wallet_id),
    "VoidGrant": lambda w: pb.VoidGrantRequest(request_id=rid(), grant_id=w.grant_id),
    "Debit": lambda w: pb.DebitRequest(request_id=rid(), wallet_id=w.wallet_id, amount="1"),
    "DebitBatch": lambda w: pb.DebitBatchRequest(),
    "RefundDebit": lambda w: pb.RefundDebitRequest(
        request_id=rid(), entry_id=w.debit_entry_id, amount="1"
    ),
    "GetBalance": lambda w: pb.GetBalanceRequest(wallet_id=w.wallet_id),
    "ListEntries": lambda w: pb.ListEntriesRequest(wallet_id=w.wallet_id),
    "GetConsumptionReport": lambda w: pb.GetConsumptionReportRequest(
        wallet_id=w.wallet_id,
        start_time=ts(w.now() - timedelta(days=7)),
        end_time=ts(w.now()),
        bucket=pb.REPORT_BUCKET_DAY,
    ),
    "GetRevenueReport": lambda w: pb.GetRevenueReportRequest(
        customer_id=w.customer_id,
        start_time=ts(w.now() - timedelta(days=7)),
        end_time=ts(w.now()),
        bucket=pb.REPORT_BUCKET_MONTH,
    ),
    "RunExpiry": lambda w: pb.RunExpiryRequest(wallet_id=w.wallet_id),
    "VerifyWallet": lambda w: pb.VerifyWalletRequest(wallet_id=w.wallet_id),
    "CreateHold": lambda w: pb.CreateHoldRequest(
        request_id=rid(), wallet_id=w.wallet_id, amount="5"
    ),
    "CaptureHold": lambda w: pb.CaptureHoldRequest(request_id=rid(), hold_id=w.hold_id, amount="1"),
    "ReleaseHold": lambda w: pb.ReleaseHoldRequest(request_id=rid(), hold_id=w.hold_id),
    "GetHold": lambda w: pb.GetHoldRequest(hold_id=w.hold_id),
    "Authorize": lambda w: pb.AuthorizeRequest(
        request_id=rid(), wallet_id=w.wallet_id, amount="5", hold=True
    ),
    "SetTopUpRule": lambda w: pb.SetTopUpRuleRequest(
        request_id=rid(),
        rule=pb.TopUpRule(
            wallet_id=w.wallet_id,
            threshold="10",
            amount="100",
            kind=pb.GRANT_KIND_PREPAID,
            payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
        ),
    ),
    "GetTopUpRule": lambda w: pb.GetTopUpRuleRequest(wallet_id=w.wallet_id),
    "ClearTopUpRule": lambda w: pb.ClearTopUpRuleRequest(request_id=rid(), wallet_id=w.wallet_id),
    "ListTopUps": lambda w: pb.ListTopUpsRequest(wallet_id=w.wallet_id),
    "ConfirmTopUp": lambda w: pb.ConfirmTopUpRequest(request_id=rid(), top_up_id=UNKNOWN_ID),
    "FailTopUp": lambda w: pb.FailTopUpRequest(request_id=rid(), top_up_id=UNKNOWN_ID),
    "SetAlertRules": lambda w: pb.SetAlertRulesRequest(request_id=rid(), wallet_id=w.wallet_id),
    "ListAlertRules": lambda w: pb.ListAlertRulesRequest(wallet_id=w.wallet_id),
    "CreateAllotmentSchedule": lambda w: pb.CreateAllotmentScheduleRequest(
        request_id=rid(), schedule=allotment(w)
    ),
    "ListAllotmentSchedules": lambda w: pb.ListAllotmentSchedulesRequest(wallet_id=w.wallet_id),
    "EndAllotmentSchedule": lambda w: pb.EndAllotmentScheduleRequest(
        request_id=rid(), schedule_id=UNKNOWN_ID
    ),
    "CreateWebhookEndpoint": lambda w: pb.CreateWebhookEndpointRequest(
        request_id=rid(), wallet_id=w.wallet_id, url="https://hooks.example.com/billing"
    ),
    "ListWebhookEndpoints": lambda w: pb.ListWebhookEndpointsRequest(wallet_id=w.wallet_id),
    "DeleteWebhookEndpoint": lambda w: pb.DeleteWebhookEndpointRequest(
        request_id=rid(), endpoint_id=UNKNOWN_ID
    ),
    "ListWebhookDeliveries": lambda w: pb.ListWebhookDeliveriesRequest(endpoint_id=UNKNOWN_ID),
    "RotateWebhookSecret": lambda w: pb.RotateWebhookSecretRequest(
        request_id=rid(), endpoint_id=UNKNOWN_ID
    ),
    "GetDepletionForecast": lambda w: pb.GetDepletionForecastRequest(wallet_id=w.wallet_id),
    "SetSignalPolicy": lambda w: pb.SetSignalPolicyRequest(
        request_id=rid(), policy=pb.SignalPolicy(wallet_id=w.wallet_id)
    ),
    "GetSignalPolicy": lambda w: pb.GetSignalPolicyRequest(wallet_id=w.wallet_id),
    "SetPoolMember": lambda w: pb.SetPoolMemberRequest(
        request_id=rid(), wallet_id=w.wallet_id, member_id="team", budget_amount="10"
    ),
    "GetPoolMember": lambda w: pb.GetPoolMemberRequest(wallet_id=w.wallet_id, member_id="team"),
    "ListPoolMembers": lambda w: pb.ListPoolMembersRequest(wallet_id=w.wallet_id),
    "RemovePoolMember": lambda w: pb.RemovePoolMemberRequest(
        request_id=rid(), wallet_id=w.wallet_id, member_id="team"
    ),
}


def build(w: World, method: str, fields: dict[str, Any]) -> Message:
    """BASE[method] with `fields` set; a callable value is called with the world first."""
    message = BASE[method](w)
    for name, value in fields.items():
        value = value(w) if callable(value) else value
        if isinstance(value, Message):
            getattr(message, name).CopyFrom(value)
        elif isinstance(value, dict):
            getattr(message, name).update(value)
        elif isinstance(value, list):
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)
    return message


def ts(value: datetime) -> timestamp_pb2.Timestamp:
    return timestamp(value)


def later(**delta: float) -> Callable[[World], timestamp_pb2.Timestamp]:
    """A Timestamp relative to the fake clock's now, e.g. later(days=1), later(hours=-1)."""
    return lambda w: ts(w.now() + timedelta(**delta))


def book_range(start_h: float, end_h: float) -> Callable[[World], types_pb2.TimeRange]:
    """A book_time_range from now + start_h hours to now + end_h hours."""
    return lambda w: types_pb2.TimeRange(
        start_time=ts(w.now() + timedelta(hours=start_h)),
        end_time=ts(w.now() + timedelta(hours=end_h)),
    )


def page_token(payload: Any) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode()


# -- money ----------------------------------------------------------------------------------------

MALFORMED_AMOUNTS = [
    "abc",
    "1e400",
    "NaN",
    "Infinity",
    "-5",
    "1.0000000000000000001",  # 19 fractional digits
    "1" + "0" * 38,  # 39 significant digits
    "123456789012345678901.123456789012345678",  # 21 + 18 = 39 significant digits
    " 1",
    "+1",
    "1,5",
    "1.",
    "1_000",
    "\uff11",  # FULLWIDTH DIGIT ONE: Decimal() reads it as 1, but it is no plain ASCII decimal
]
# Where the amount must be positive; "" is a missing amount.
NOT_POSITIVE = ["", "0", "0.000"]


def _amount_cases() -> list[Any]:
    cases = []
    for text in [*MALFORMED_AMOUNTS, *NOT_POSITIVE]:
        for method in ("CreateGrant", "Debit", "RefundDebit"):
            if method == "RefundDebit" and text == "":
                continue  # an empty refund amount means "everything not refunded yet"
            cases.append(pytest.param(method, "amount", text, id=f"{method}-{text!r}"))
    for text in MALFORMED_AMOUNTS:  # a unit price may be 0 (free credits), never negative or junk
        cases.append(
            pytest.param("CreateGrant", "cost_basis.unit_price", text, id=f"unit_price-{text!r}")
        )
    return cases


@pytest.mark.parametrize(("method", "field", "text"), _amount_cases())
async def test_bad_amount_is_invalid_argument_and_writes_nothing(
    world: World, method: str, field: str, text: str
) -> None:
    if field == "amount":
        request = build(world, method, {"amount": text})
    else:
        request = build(
            world, method, {"cost_basis": pb.CostBasis(unit_price=text, currency="USD")}
        )
    err = await refused(world, method, request)
    assert (err.code, err.reason) == (INVALID, "INVALID_AMOUNT"), err.message
    assert err.fields == [field]


async def test_boundary_amounts_are_accepted(world: World) -> None:
    """The limits themselves are valid: 18 fractional digits, 38 significant digits."""
    wallet = await make_wallet(world.stub)
    big = "9" * 20 + "." + "9" * 18  # 38 significant digits
    assert (await make_grant(world.stub, wallet.wallet_id, big)).grant.amount == big
    tiny = (await world.stub.Debit(debit_request(wallet.wallet_id, "0.000000000000000001"))).entry
    assert tiny.amount == "-0.000000000000000001"
    assert tiny.available_after == "9" * 20 + "." + "9" * 17 + "8"
    back = await world.stub.RefundDebit(
        pb.RefundDebitRequest(request_id=rid(), entry_id=tiny.entry_id)
    )
    assert back.entries[0].amount == "0.000000000000000001"
    report = await world.stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
    assert report.consistent and report.granted == big and report.remaining == big


# -- everything else, per RPC ---------------------------------------------------------------------

LONG_ID = "x" * 129
TOO_MUCH_METADATA = {f"k{i}": "v" for i in range(65)}
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def allotment(w: Any, **fields: Any) -> pb.AllotmentSchedule:
    """A valid monthly allotment for the world's wallet, with `fields` changed."""
    schedule = pb.AllotmentSchedule(
        wallet_id=w.wallet_id,
        amount="10",
        kind=pb.GRANT_KIND_PROMOTIONAL,
        cadence=pb.ALLOTMENT_CADENCE_MONTHLY,
        anchor_time=ts(w.now()),
        expiry=pb.ALLOTMENT_EXPIRY_END_OF_PERIOD,
    )
    for name, value in fields.items():
        if isinstance(value, Message):
            getattr(schedule, name).CopyFrom(value)
        else:
            setattr(schedule, name, value)
    return schedule


def topup(w: Any, **fields: Any) -> pb.TopUpRule:
    """A valid top-up rule for the world's wallet, with `fields` changed."""
    rule = pb.TopUpRule(
        wallet_id=w.wallet_id,
        threshold="10",
        amount="100",
        kind=pb.GRANT_KIND_PREPAID,
        payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
    )
    for name, value in fields.items():
        if isinstance(value, Message):
            getattr(rule, name).CopyFrom(value)
        else:
            setattr(rule, name, value)
    return rule


def bad(method: str, name: str, reason: str, field: str | None = None, **fields: Any) -> Any:
    """A case: BASE[method] changed by `fields` is refused with `reason` (and field violation)."""
    return pytest.param(method, fields, reason, field, id=f"{method}-{name}")


# Reasons as documented in ledger_service/README.md ("Error reasons"): MISSING_FIELD for an empty
# field or an unspecified enum, INVALID_ENUM for an unknown enum value.
# fmt: off
CASES = [
    bad("CreateWallet", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("CreateWallet", "long-request_id", "INVALID_ID", "request_id", request_id=LONG_ID),
    bad("CreateWallet", "no-customer_id", "MISSING_FIELD", "customer_id", customer_id=""),
    bad("CreateWallet", "long-customer_id", "INVALID_ID", "customer_id", customer_id=LONG_ID),
    bad("CreateWallet", "no-unit", "MISSING_FIELD", "unit", unit=""),
    bad("CreateWallet", "lowercase-unit", "INVALID_UNIT", "unit", unit="usd"),
    bad("CreateWallet", "unit-with-spaces", "INVALID_UNIT", "unit", unit="U S D"),
    bad("CreateWallet", "17-char-unit", "INVALID_UNIT", "unit", unit="X" * 17),
    bad("CreateWallet", "no-policy", "MISSING_FIELD", "overage_policy", overage_policy=0),
    bad("CreateWallet", "unknown-policy", "INVALID_ENUM", "overage_policy", overage_policy=99),
    bad("CreateWallet", "negative-grace", "INVALID_DURATION", "late_event_grace_period",
        late_event_grace_period=duration(timedelta(seconds=-1))),
    bad("CreateWallet", "grace-over-31-days", "INVALID_DURATION", "late_event_grace_period",
        late_event_grace_period=duration(timedelta(days=31, seconds=1))),
    bad("CreateWallet", "huge-grace", "INVALID_DURATION", "late_event_grace_period",
        late_event_grace_period=duration_pb2.Duration(seconds=10**12)),
    bad("CreateWallet", "65-metadata", "INVALID_METADATA", "metadata", metadata=TOO_MUCH_METADATA),
    bad("CreateWallet", "same-customer-and-unit", "WALLET_ALREADY_EXISTS",
        customer_id=lambda w: w.customer_id),

    bad("GetWallet", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("GetWallet", "long-wallet_id", "INVALID_ID", "wallet_id", wallet_id=LONG_ID),
    bad("GetWallet", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),

    bad("ListWallets", "page_size-501", "PAGE_SIZE_TOO_LARGE", "page_size", page_size=501),
    bad("ListWallets", "page_size-int32-max", "PAGE_SIZE_TOO_LARGE", "page_size",
        page_size=2**31 - 1),
    bad("ListWallets", "negative-page_size", "INVALID_PAGE_SIZE", "page_size", page_size=-1),

    bad("CreateGrant", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("CreateGrant", "long-request_id", "INVALID_ID", "request_id", request_id=LONG_ID),
    bad("CreateGrant", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("CreateGrant", "long-wallet_id", "INVALID_ID", "wallet_id", wallet_id=LONG_ID),
    bad("CreateGrant", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("CreateGrant", "no-kind", "MISSING_FIELD", "kind", kind=0),
    bad("CreateGrant", "unknown-kind", "INVALID_ENUM", "kind", kind=99),
    bad("CreateGrant", "expire-equals-effective", "INVALID_TIME_RANGE", "expire_time",
        effective_time=later(days=1), expire_time=later(days=1)),
    bad("CreateGrant", "expire-before-effective", "INVALID_TIME_RANGE", "expire_time",
        effective_time=later(days=2), expire_time=later(days=1)),
    bad("CreateGrant", "expire-now-effective-unset", "INVALID_TIME_RANGE", "expire_time",
        expire_time=later()),
    bad("CreateGrant", "expire-past-effective-unset", "INVALID_TIME_RANGE", "expire_time",
        expire_time=later(days=-1)),
    bad("CreateGrant", "lowercase-currency", "INVALID_CURRENCY", "cost_basis.currency",
        cost_basis=pb.CostBasis(unit_price="0.5", currency="usd")),
    bad("CreateGrant", "long-currency", "INVALID_CURRENCY", "cost_basis.currency",
        cost_basis=pb.CostBasis(unit_price="0.5", currency="DOLLARS")),
    bad("CreateGrant", "price-without-currency", "MISSING_FIELD", "cost_basis.currency",
        cost_basis=pb.CostBasis(unit_price="0.5")),
    bad("CreateGrant", "65-metadata", "INVALID_METADATA", "metadata", metadata=TOO_MUCH_METADATA),
    bad("CreateGrant", "33-features", "INVALID_FEATURES", "features",
        features=[f"f{i}" for i in range(33)]),
    bad("CreateGrant", "empty-feature", "INVALID_FEATURES", "features[1]", features=["a", ""]),
    bad("CreateGrant", "long-feature", "INVALID_FEATURES", "features[0]", features=["f" * 129]),
    bad("CreateGrant", "repeated-feature", "INVALID_FEATURES", "features", features=["a", "a"]),

    bad("GetGrant", "no-grant_id", "MISSING_FIELD", "grant_id", grant_id=""),
    bad("GetGrant", "long-grant_id", "INVALID_ID", "grant_id", grant_id=LONG_ID),
    bad("GetGrant", "unknown-grant", "GRANT_NOT_FOUND", grant_id=UNKNOWN_ID),

    bad("ListGrants", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("ListGrants", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("ListGrants", "page_size-501", "PAGE_SIZE_TOO_LARGE", "page_size", page_size=501),
    bad("ListGrants", "negative-page_size", "INVALID_PAGE_SIZE", "page_size", page_size=-1),
    bad("ListGrants", "unknown-state", "INVALID_ENUM", "state", state=99),

    bad("VoidGrant", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("VoidGrant", "long-request_id", "INVALID_ID", "request_id", request_id=LONG_ID),
    bad("VoidGrant", "no-grant_id", "MISSING_FIELD", "grant_id", grant_id=""),
    bad("VoidGrant", "long-grant_id", "INVALID_ID", "grant_id", grant_id=LONG_ID),
    bad("VoidGrant", "unknown-grant", "GRANT_NOT_FOUND", grant_id=UNKNOWN_ID),
    bad("VoidGrant", "already-voided", "GRANT_ALREADY_VOIDED",
        grant_id=lambda w: w.voided_grant_id),
    bad("VoidGrant", "consumed", "GRANT_ALREADY_ENDED", grant_id=lambda w: w.consumed_grant_id),

    bad("Debit", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("Debit", "long-request_id", "INVALID_ID", "request_id", request_id=LONG_ID),
    bad("Debit", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("Debit", "long-wallet_id", "INVALID_ID", "wallet_id", wallet_id=LONG_ID),
    bad("Debit", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("Debit", "occurred-5min1s-ahead", "OCCURRED_TIME_IN_FUTURE", "occurred_time",
        occurred_time=later(minutes=5, seconds=1)),
    bad("Debit", "occurred-a-year-ahead", "OCCURRED_TIME_IN_FUTURE", "occurred_time",
        occurred_time=later(days=365)),
    bad("Debit", "65-metadata", "INVALID_METADATA", "metadata", metadata=TOO_MUCH_METADATA),
    bad("Debit", "not-covered-on-DENY", "INSUFFICIENT_CREDITS", amount="99999999"),

    bad("DebitBatch", "0-items", "INVALID_BATCH_SIZE", "debits"),
    bad("DebitBatch", "1001-items", "INVALID_BATCH_SIZE", "debits",
        debits=lambda w: [BASE["Debit"](w) for _ in range(1001)]),

    bad("RefundDebit", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("RefundDebit", "long-request_id", "INVALID_ID", "request_id", request_id=LONG_ID),
    bad("RefundDebit", "no-entry_id", "MISSING_FIELD", "entry_id", entry_id=""),
    bad("RefundDebit", "long-entry_id", "INVALID_ID", "entry_id", entry_id=LONG_ID),
    bad("RefundDebit", "unknown-entry", "ENTRY_NOT_FOUND", entry_id=UNKNOWN_ID),
    bad("RefundDebit", "grant-entry", "ENTRY_NOT_A_DEBIT", "entry_id",
        entry_id=lambda w: w.grant_entry_id),
    bad("RefundDebit", "more-than-debited", "REFUND_EXCEEDS_DEBIT", amount="10.000001"),

    bad("GetBalance", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("GetBalance", "long-wallet_id", "INVALID_ID", "wallet_id", wallet_id=LONG_ID),
    bad("GetBalance", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("GetBalance", "as_of-in-future", "AS_OF_IN_FUTURE", "as_of_time",
        as_of_time=later(seconds=1)),

    bad("ListEntries", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("ListEntries", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("ListEntries", "page_size-501", "PAGE_SIZE_TOO_LARGE", "page_size", page_size=501),
    bad("ListEntries", "negative-page_size", "INVALID_PAGE_SIZE", "page_size", page_size=-1),
    bad("ListEntries", "unknown-type", "INVALID_ENUM", "types[1]",
        types=[pb.ENTRY_TYPE_DEBIT, 99]),
    bad("ListEntries", "empty-range", "INVALID_TIME_RANGE", "book_time_range.end_time",
        book_time_range=book_range(0, 0)),
    bad("ListEntries", "end-before-start", "INVALID_TIME_RANGE", "book_time_range.end_time",
        book_time_range=book_range(0, -1)),

    bad("RunExpiry", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),

    bad("VerifyWallet", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("VerifyWallet", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),

    bad("VoidGrant", "backs-a-hold", "GRANT_HELD", grant_id=lambda w: w.grant_id),

    bad("CreateHold", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("CreateHold", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("CreateHold", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("CreateHold", "zero", "INVALID_AMOUNT", "amount", amount="0"),
    bad("CreateHold", "malformed", "INVALID_AMOUNT", "amount", amount="1e3"),
    bad("CreateHold", "not-covered", "INSUFFICIENT_CREDITS", amount="99999999"),
    bad("CreateHold", "zero-timeout", "INVALID_DURATION", "timeout",
        timeout=duration(timedelta(0))),
    bad("CreateHold", "timeout-over-30-days", "INVALID_DURATION", "timeout",
        timeout=duration(timedelta(days=30, seconds=1))),

    bad("CaptureHold", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("CaptureHold", "no-hold_id", "MISSING_FIELD", "hold_id", hold_id=""),
    bad("CaptureHold", "unknown-hold", "HOLD_NOT_FOUND", hold_id=UNKNOWN_ID),
    bad("CaptureHold", "no-amount", "MISSING_FIELD", "amount", amount=""),
    bad("CaptureHold", "negative", "INVALID_AMOUNT", "amount", amount="-1"),
    bad("CaptureHold", "released-hold", "HOLD_NOT_ACTIVE", hold_id=lambda w: w.released_hold_id),
    bad("CaptureHold", "more-than-held-on-DENY", "CAPTURE_EXCEEDS_HOLD", amount="100.5"),

    bad("ReleaseHold", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("ReleaseHold", "no-hold_id", "MISSING_FIELD", "hold_id", hold_id=""),
    bad("ReleaseHold", "unknown-hold", "HOLD_NOT_FOUND", hold_id=UNKNOWN_ID),
    bad("ReleaseHold", "released-hold", "HOLD_NOT_ACTIVE", hold_id=lambda w: w.released_hold_id),

    bad("GetHold", "no-hold_id", "MISSING_FIELD", "hold_id", hold_id=""),
    bad("GetHold", "unknown-hold", "HOLD_NOT_FOUND", hold_id=UNKNOWN_ID),

    bad("Authorize", "no-request_id-with-hold", "MISSING_FIELD", "request_id", request_id=""),
    bad("Authorize", "no-wallet", "INVALID_WALLET_REFERENCE", "wallet_id", wallet_id=""),
    bad("Authorize", "wallet-and-customer", "INVALID_WALLET_REFERENCE", "wallet_id",
        customer_id="c", unit="CREDITS"),
    bad("Authorize", "customer-without-unit", "MISSING_FIELD", "unit", wallet_id="",
        customer_id=lambda w: w.customer_id),
    bad("Authorize", "bad-unit", "INVALID_UNIT", "unit", wallet_id="",
        customer_id=lambda w: w.customer_id, unit="credits"),
    bad("Authorize", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("Authorize", "unknown-wallet-check", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID,
        hold=False),
    bad("Authorize", "customer-without-wallet-in-unit", "WALLET_NOT_FOUND", wallet_id="",
        customer_id=lambda w: w.customer_id, unit="EUR"),
    bad("Authorize", "zero", "INVALID_AMOUNT", "amount", amount="0"),
    bad("Authorize", "malformed", "INVALID_AMOUNT", "amount", amount="1e3"),
    bad("Authorize", "timeout-over-30-days", "INVALID_DURATION", "hold_timeout",
        hold_timeout=duration(timedelta(days=30, seconds=1))),
    bad("Authorize", "timeout-without-hold", "ONLY_WITH_HOLD", "hold_timeout", hold=False,
        hold_timeout=duration(timedelta(minutes=5))),

    bad("SetTopUpRule", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("SetTopUpRule", "unknown-wallet", "WALLET_NOT_FOUND",
        rule=pb.TopUpRule(wallet_id=UNKNOWN_ID, threshold="10", amount="100",
                          kind=pb.GRANT_KIND_PREPAID, payment=pb.TOP_UP_PAYMENT_IMMEDIATE)),
    bad("SetTopUpRule", "amount-and-target", "INVALID_TOP_UP_RULE", "rule.amount",
        rule=lambda w: topup(w, target_balance="500")),
    bad("SetTopUpRule", "target-below-threshold", "INVALID_TOP_UP_RULE", "rule.target_balance",
        rule=pb.TopUpRule(wallet_id="w", threshold="10", target_balance="5",
                          kind=pb.GRANT_KIND_PREPAID, payment=pb.TOP_UP_PAYMENT_IMMEDIATE)),
    bad("SetTopUpRule", "bad-threshold", "INVALID_AMOUNT", "rule.threshold",
        rule=pb.TopUpRule(wallet_id="w", threshold="-1", amount="5",
                          kind=pb.GRANT_KIND_PREPAID, payment=pb.TOP_UP_PAYMENT_IMMEDIATE)),
    bad("SetTopUpRule", "no-payment", "MISSING_FIELD", "rule.payment",
        rule=pb.TopUpRule(wallet_id="w", threshold="1", amount="5", kind=pb.GRANT_KIND_PREPAID,
                          payment=0)),
    bad("SetTopUpRule", "price-without-currency", "MISSING_FIELD", "rule.currency",
        rule=lambda w: topup(w, unit_price="0.01")),
    # Credits bought (or forecast) now + expire_after: past the calendar's end, an INTERNAL
    # error on every debit that tops up, every forecast and every signal sweep of the wallet.
    bad("SetTopUpRule", "expire_after-beyond-100-years", "INVALID_DURATION", "rule.expire_after",
        rule=lambda w: topup(w, expire_after=duration_pb2.Duration(seconds=3 * 10**11))),

    bad("GetConsumptionReport", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("GetConsumptionReport", "long-wallet_id", "INVALID_ID", "wallet_id", wallet_id=LONG_ID),
    bad("GetConsumptionReport", "wallet-and-customer", "CONFLICTING_FIELDS", "customer_id",
        customer_id=lambda w: w.customer_id),
    bad("GetConsumptionReport", "end-before-start", "INVALID_TIME_RANGE", "end_time",
        end_time=later(days=-8)),
    bad("GetConsumptionReport", "empty-range", "INVALID_TIME_RANGE", "end_time",
        end_time=later(days=-7)),
    bad("GetConsumptionReport", "401-days", "REPORT_RANGE_TOO_LONG", "end_time",
        end_time=later(days=394)),
    bad("GetConsumptionReport", "no-bucket", "MISSING_FIELD", "bucket", bucket=0),
    bad("GetConsumptionReport", "month-bucket", "INVALID_ENUM", "bucket",
        bucket=pb.REPORT_BUCKET_MONTH),
    bad("GetConsumptionReport", "unknown-bucket", "INVALID_ENUM", "bucket", bucket=99),
    bad("GetConsumptionReport", "page_size-501", "PAGE_SIZE_TOO_LARGE", "page_size",
        page_size=501),
    bad("GetRevenueReport", "long-customer_id", "INVALID_ID", "customer_id",
        customer_id=LONG_ID),
    bad("GetRevenueReport", "end-before-start", "INVALID_TIME_RANGE", "end_time",
        end_time=later(days=-8)),
    bad("GetRevenueReport", "401-months", "REPORT_RANGE_TOO_LONG", "end_time",
        end_time=later(days=401 * 31)),
    bad("GetRevenueReport", "week-bucket", "INVALID_ENUM", "bucket",
        bucket=pb.REPORT_BUCKET_WEEK),
    bad("GetRevenueReport", "no-bucket", "MISSING_FIELD", "bucket", bucket=0),
    bad("GetRevenueReport", "page_size-501", "PAGE_SIZE_TOO_LARGE", "page_size", page_size=501),

    bad("GetTopUpRule", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("GetTopUpRule", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("GetTopUpRule", "no-rule", "TOP_UP_RULE_NOT_FOUND"),

    bad("ClearTopUpRule", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("ClearTopUpRule", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("ClearTopUpRule", "long-wallet_id", "INVALID_ID", "wallet_id", wallet_id=LONG_ID),
    bad("ClearTopUpRule", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("ClearTopUpRule", "no-rule", "TOP_UP_RULE_NOT_FOUND"),

    bad("ListTopUps", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("ListTopUps", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("ListTopUps", "page_size-501", "PAGE_SIZE_TOO_LARGE", "page_size", page_size=501),

    bad("ConfirmTopUp", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("ConfirmTopUp", "no-top_up_id", "MISSING_FIELD", "top_up_id", top_up_id=""),
    bad("ConfirmTopUp", "unknown", "TOP_UP_NOT_FOUND"),
    bad("FailTopUp", "no-top_up_id", "MISSING_FIELD", "top_up_id", top_up_id=""),
    bad("FailTopUp", "unknown", "TOP_UP_NOT_FOUND"),

    bad("SetAlertRules", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("SetAlertRules", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("SetAlertRules", "percent-over-100", "INVALID_ALERT_RULE", "rules[0].threshold",
        rules=[pb.AlertRule(kind=pb.ALERT_KIND_PERCENT, threshold="101")]),
    bad("SetAlertRules", "no-kind", "MISSING_FIELD", "rules[0].kind",
        rules=[pb.AlertRule(threshold="5")]),
    bad("SetAlertRules", "bad-threshold", "INVALID_AMOUNT", "rules[0].threshold",
        rules=[pb.AlertRule(kind=pb.ALERT_KIND_ABSOLUTE, threshold="1e3")]),

    bad("ListAlertRules", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("ListAlertRules", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),

    bad("CreateAllotmentSchedule", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("CreateAllotmentSchedule", "unknown-wallet", "WALLET_NOT_FOUND",
        schedule=lambda w: allotment(w, wallet_id=UNKNOWN_ID)),
    bad("CreateAllotmentSchedule", "zero-amount", "INVALID_AMOUNT", "schedule.amount",
        schedule=lambda w: allotment(w, amount="0")),
    bad("CreateAllotmentSchedule", "no-cadence", "MISSING_FIELD", "schedule.cadence",
        schedule=lambda w: allotment(w, cadence=0)),
    bad("CreateAllotmentSchedule", "unknown-expiry", "INVALID_ENUM", "schedule.expiry",
        schedule=lambda w: allotment(w, expiry=99)),
    bad("CreateAllotmentSchedule", "after-duration-without-duration", "INVALID_DURATION",
        "schedule.expire_after",
        schedule=lambda w: allotment(w, expiry=pb.ALLOTMENT_EXPIRY_AFTER_DURATION)),
    bad("CreateAllotmentSchedule", "end-before-anchor", "INVALID_TIME_RANGE", "schedule.end_time",
        schedule=lambda w: allotment(w, end_time=ts(w.now() - timedelta(days=1)))),
    bad("CreateAllotmentSchedule", "bad-rollover-cap", "INVALID_AMOUNT", "schedule.rollover_cap",
        schedule=lambda w: allotment(w, rollover_cap="-1")),
    bad("CreateAllotmentSchedule", "expire_after-beyond-100-years", "INVALID_DURATION",
        "schedule.expire_after",
        schedule=lambda w: allotment(w, expiry=pb.ALLOTMENT_EXPIRY_AFTER_DURATION,
                                     expire_after=duration_pb2.Duration(seconds=3 * 10**11))),

    bad("ListAllotmentSchedules", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("ListAllotmentSchedules", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),

    bad("EndAllotmentSchedule", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("EndAllotmentSchedule", "no-schedule_id", "MISSING_FIELD", "schedule_id", schedule_id=""),
    bad("EndAllotmentSchedule", "unknown", "SCHEDULE_NOT_FOUND"),

    bad("CreateWebhookEndpoint", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("CreateWebhookEndpoint", "no-url", "MISSING_FIELD", "url", url=""),
    bad("CreateWebhookEndpoint", "ftp-url", "INVALID_URL", "url", url="ftp://example.com/x"),
    bad("CreateWebhookEndpoint", "relative-url", "INVALID_URL", "url", url="/hooks"),
    bad("CreateWebhookEndpoint", "no-host", "INVALID_URL", "url", url="https:///hooks"),
    bad("CreateWebhookEndpoint", "not-a-url", "INVALID_URL", "url", url="example.com"),
    bad("CreateWebhookEndpoint", "space-in-url", "INVALID_URL", "url",
        url="https://example.com/a b"),
    bad("CreateWebhookEndpoint", "bad-port", "INVALID_URL", "url",
        url="https://example.com:99999/"),
    bad("CreateWebhookEndpoint", "long-url", "INVALID_URL", "url",
        url="https://example.com/" + "x" * 2030),
    bad("CreateWebhookEndpoint", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("CreateWebhookEndpoint", "long-wallet_id", "INVALID_ID", "wallet_id", wallet_id=LONG_ID),
    bad("CreateWebhookEndpoint", "unknown-type", "INVALID_ENUM", "types[1]",
        types=[pb.WALLET_EVENT_TYPE_ALERT_FIRED, 99]),
    bad("CreateWebhookEndpoint", "unspecified-type", "INVALID_ENUM", "types[0]", types=[0]),
    bad("CreateWebhookEndpoint", "long-description", "INVALID_DESCRIPTION", "description",
        description="x" * 1001),
    bad("CreateWebhookEndpoint", "private-url", "WEBHOOK_ADDRESS_REFUSED", "url",
        url="https://10.0.0.1/hooks"),
    bad("CreateWebhookEndpoint", "metadata-url", "WEBHOOK_ADDRESS_REFUSED", "url",
        url="https://169.254.169.254/latest/meta-data/"),
    bad("CreateWebhookEndpoint", "http-url", "INSECURE_WEBHOOK_URL", "url",
        url="http://93.184.216.34/hooks"),

    bad("ListWebhookEndpoints", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("ListWebhookEndpoints", "page_size-501", "PAGE_SIZE_TOO_LARGE", "page_size",
        page_size=501),

    bad("DeleteWebhookEndpoint", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("DeleteWebhookEndpoint", "no-endpoint_id", "MISSING_FIELD", "endpoint_id",
        endpoint_id=""),
    bad("DeleteWebhookEndpoint", "unknown", "WEBHOOK_ENDPOINT_NOT_FOUND"),

    bad("RotateWebhookSecret", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("RotateWebhookSecret", "no-endpoint_id", "MISSING_FIELD", "endpoint_id",
        endpoint_id=""),
    bad("RotateWebhookSecret", "negative-overlap", "INVALID_DURATION", "overlap",
        overlap=duration_pb2.Duration(seconds=-1)),
    bad("RotateWebhookSecret", "overlap-over-7-days", "INVALID_DURATION", "overlap",
        overlap=duration_pb2.Duration(seconds=7 * 86400 + 1)),
    bad("RotateWebhookSecret", "unknown", "WEBHOOK_ENDPOINT_NOT_FOUND"),

    bad("ListWebhookDeliveries", "no-endpoint_id", "MISSING_FIELD", "endpoint_id",
        endpoint_id=""),
    bad("ListWebhookDeliveries", "unknown", "WEBHOOK_ENDPOINT_NOT_FOUND"),
    bad("ListWebhookDeliveries", "page_size-501", "PAGE_SIZE_TOO_LARGE", "page_size",
        page_size=501),
    bad("ListWebhookDeliveries", "unknown-state", "INVALID_ENUM", "state", state=99),

    bad("GetDepletionForecast", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("GetDepletionForecast", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("GetDepletionForecast", "horizon-not-whole-days", "INVALID_DURATION", "horizon",
        horizon=duration_pb2.Duration(seconds=36 * 3600)),
    bad("GetDepletionForecast", "horizon-0", "INVALID_DURATION", "horizon",
        horizon=duration_pb2.Duration(seconds=0)),
    bad("GetDepletionForecast", "horizon-over-366-days", "INVALID_DURATION", "horizon",
        horizon=duration_pb2.Duration(seconds=367 * 86400)),

    bad("SetSignalPolicy", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("SetSignalPolicy", "no-wallet_id", "MISSING_FIELD", "policy.wallet_id",
        policy=pb.SignalPolicy()),
    bad("SetSignalPolicy", "unknown-wallet", "WALLET_NOT_FOUND",
        policy=pb.SignalPolicy(wallet_id=UNKNOWN_ID)),
    bad("SetSignalPolicy", "spike-multiple-1", "INVALID_SIGNAL_POLICY", "policy.spike_multiple",
        policy=lambda w: pb.SignalPolicy(wallet_id=w.wallet_id, spike_multiple="1")),
    bad("SetSignalPolicy", "spike-multiple-not-a-number", "INVALID_AMOUNT",
        "policy.spike_multiple",
        policy=lambda w: pb.SignalPolicy(wallet_id=w.wallet_id, spike_multiple="x")),
    bad("SetSignalPolicy", "slowdown-fraction-1", "INVALID_SIGNAL_POLICY",
        "policy.slowdown_fraction",
        policy=lambda w: pb.SignalPolicy(wallet_id=w.wallet_id, slowdown_fraction="1")),
    bad("SetSignalPolicy", "slowdown-fraction-negative", "INVALID_AMOUNT",
        "policy.slowdown_fraction",
        policy=lambda w: pb.SignalPolicy(wallet_id=w.wallet_id, slowdown_fraction="-0.1")),
    bad("SetSignalPolicy", "depletion-days-367", "INVALID_SIGNAL_POLICY", "policy.depletion_days",
        policy=lambda w: pb.SignalPolicy(wallet_id=w.wallet_id, depletion_days=367)),
    bad("SetSignalPolicy", "depletion-days-negative", "INVALID_SIGNAL_POLICY",
        "policy.depletion_days",
        policy=lambda w: pb.SignalPolicy(wallet_id=w.wallet_id, depletion_days=-1)),
    bad("SetSignalPolicy", "warm-up-days-negative", "INVALID_SIGNAL_POLICY",
        "policy.warm_up_days",
        policy=lambda w: pb.SignalPolicy(wallet_id=w.wallet_id, warm_up_days=-1)),
    bad("SetSignalPolicy", "warm-up-days-367", "INVALID_SIGNAL_POLICY", "policy.warm_up_days",
        policy=lambda w: pb.SignalPolicy(wallet_id=w.wallet_id, warm_up_days=367)),

    bad("GetSignalPolicy", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("GetSignalPolicy", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),

    bad("SetPoolMember", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("SetPoolMember", "no-member_id", "MISSING_FIELD", "member_id", member_id=""),
    bad("SetPoolMember", "long-member_id", "INVALID_ID", "member_id", member_id=LONG_ID),
    bad("SetPoolMember", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("SetPoolMember", "amount-and-share", "INVALID_BUDGET", "budget_share", budget_share="5"),
    bad("SetPoolMember", "share-over-100", "INVALID_BUDGET", "budget_share", budget_amount="",
        budget_share="100.5"),
    bad("SetPoolMember", "negative-budget", "INVALID_AMOUNT", "budget_amount",
        budget_amount="-1"),
    bad("SetPoolMember", "unknown-period", "INVALID_ENUM", "budget_period", budget_period=99),
    bad("SetPoolMember", "unknown-policy", "INVALID_ENUM", "policy", policy=99),
    bad("GetPoolMember", "no-member_id", "MISSING_FIELD", "member_id", member_id=""),
    bad("GetPoolMember", "unknown-member", "MEMBER_NOT_FOUND", member_id="nobody"),
    bad("GetPoolMember", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("ListPoolMembers", "no-wallet_id", "MISSING_FIELD", "wallet_id", wallet_id=""),
    bad("ListPoolMembers", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("RemovePoolMember", "no-request_id", "MISSING_FIELD", "request_id", request_id=""),
    bad("RemovePoolMember", "unknown-member", "MEMBER_NOT_FOUND", member_id="nobody"),
    bad("RemovePoolMember", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("Debit", "unknown-member", "MEMBER_NOT_FOUND", member_id="nobody"),
    bad("Debit", "long-member_id", "INVALID_ID", "member_id", member_id=LONG_ID),
    bad("CreateHold", "unknown-member", "MEMBER_NOT_FOUND", member_id="nobody"),
    bad("Authorize", "unknown-member", "MEMBER_NOT_FOUND", member_id="nobody"),
]
# fmt: on


@pytest.mark.parametrize(("method", "fields", "reason", "field"), CASES)
async def test_bad_request_is_refused_and_writes_nothing(
    world: World, method: str, fields: dict[str, Any], reason: str, field: str | None
) -> None:
    err = await refused(world, method, build(world, method, fields))
    assert (err.code, err.reason) == (code_of(reason), reason), err.message
    assert err.fields == ([field] if field else [])


def test_every_rpc_has_bad_input_cases() -> None:
    """A guard: an RPC added to LedgerService needs a BASE request and bad-input CASES here."""
    methods = {
        m.name
        for m in pb.DESCRIPTOR.services_by_name["LedgerService"].methods
        if not m.server_streaming  # streaming RPCs have their own tests below
    }
    covered = {p.values[0] for p in CASES}
    assert methods <= set(BASE) and methods <= covered, (
        f"RPCs without bad-input cases: {sorted(methods - covered)}"
    )


# -- page tokens ----------------------------------------------------------------------------------

GARBAGE_TOKENS = [
    pytest.param("not a token!", id="not-base64"),
    pytest.param("AAAA", id="base64-of-zero-bytes"),
    pytest.param(page_token(b"not json"), id="base64-not-json"),
    pytest.param(page_token(b"\xff\xfe\xfd\xfc"), id="base64-not-utf8"),
    pytest.param(page_token([1, 2]), id="json-list"),
    pytest.param(page_token({"seq": "7", "before_seq": "7"}), id="cursor-not-an-int"),
    pytest.param(page_token({"other": 1}), id="cursor-without-key"),
    pytest.param(page_token({"seq": 2**70, "before_seq": 2**70}), id="cursor-beyond-int64"),
]


@pytest.mark.parametrize("method", ["ListWallets", "ListGrants", "ListEntries"])
@pytest.mark.parametrize("token", GARBAGE_TOKENS)
async def test_garbage_page_token_is_invalid_argument(
    world: World, method: str, token: str
) -> None:
    err = await refused(world, method, build(world, method, {"page_token": token}))
    assert (err.code, err.reason) == (INVALID, "INVALID_PAGE_TOKEN"), err.message
    assert err.fields == ["page_token"]


async def test_page_token_of_another_list_is_refused(world: World) -> None:
    """ListEntries tokens walk backwards by entry seq; ListWallets/ListGrants tokens forwards by
    their own seq. Feeding one to the other is refused rather than silently skipping rows."""
    first = await world.stub.ListEntries(
        pb.ListEntriesRequest(wallet_id=world.wallet_id, page_size=1)
    )
    assert first.next_page_token
    for method in ("ListWallets", "ListGrants"):
        request = build(world, method, {"page_token": first.next_page_token})
        err = await refused(world, method, request)
        assert (err.code, err.reason, err.fields) == (INVALID, "INVALID_PAGE_TOKEN", ["page_token"])


async def test_page_size_at_the_cap_is_accepted(world: World) -> None:
    for method in ("ListWallets", "ListGrants", "ListEntries"):
        response = await getattr(world.stub, method)(build(world, method, {"page_size": 500}))
        assert response.next_page_token == "", method


# -- timestamps -----------------------------------------------------------------------------------

BAD_TIMESTAMPS = [
    pytest.param(timestamp_pb2.Timestamp(seconds=2**40), id="after-year-9999"),
    pytest.param(timestamp_pb2.Timestamp(seconds=1_767_225_600, nanos=-1), id="negative-nanos"),
]
TIMESTAMP_FIELDS = [
    pytest.param("CreateGrant", "effective_time", id="CreateGrant.effective_time"),
    pytest.param("CreateGrant", "expire_time", id="CreateGrant.expire_time"),
    pytest.param("Debit", "occurred_time", id="Debit.occurred_time"),
    pytest.param("GetBalance", "as_of_time", id="GetBalance.as_of_time"),
    pytest.param("ListEntries", "book_time_range.start_time", id="ListEntries.book_time_range"),
]


@pytest.mark.parametrize(("method", "field"), TIMESTAMP_FIELDS)
@pytest.mark.parametrize("value", BAD_TIMESTAMPS)
async def test_invalid_timestamp_is_invalid_argument(
    world: World, method: str, field: str, value: timestamp_pb2.Timestamp
) -> None:
    """A Timestamp outside its documented range (years 1-9999, nanos 0-999,999,999) is bad input.
    The contract names no reason for it yet, so only the code and the field path are pinned."""
    if field.startswith("book_time_range."):
        fields: dict[str, Any] = {"book_time_range": types_pb2.TimeRange(start_time=value)}
    else:
        fields = {field: value}
    err = await refused(world, method, build(world, method, fields))
    assert err.code == INVALID, err
    assert err.fields == [field]


SENTINEL = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)  # a common "never expires" stand-in
DATETIME_MIN = datetime(1, 1, 1, tzinfo=UTC)  # valid Timestamps at the ends of the range
DATETIME_MAX = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


async def extreme_grant(w: World, wallet_id: str, field: str, when: datetime) -> bool:
    """Grant 25 with `field` at `when`: True when accepted; a refusal must be clean bad input."""
    request = build(w, "CreateGrant", {"wallet_id": wallet_id, field: ts(when)})
    try:
        await w.stub.CreateGrant(request)
    except grpc.aio.AioRpcError as exc:
        err = rich_error(exc)
        assert err.code == INVALID and err.fields == [field], err
        return False
    return True


@pytest.mark.parametrize(
    ("field", "when"),
    [
        pytest.param("expire_time", SENTINEL, id="expire-9999-12-31T23:00"),
        pytest.param("expire_time", DATETIME_MAX, id="expire-at-the-last-instant"),
        pytest.param("effective_time", DATETIME_MIN, id="effective-at-year-1"),
    ],
)
async def test_grant_at_the_ends_of_time_does_not_break_the_wallet(
    world: World, field: str, when: datetime
) -> None:
    """A valid Timestamp at the edge of the range (9999-12-31 is a common "never" stand-in) is
    either refused as bad input or usable; it must not make later calls on the wallet fail with
    UNKNOWN/INTERNAL."""
    wallet = await make_wallet(world.stub)
    if not await extreme_grant(world, wallet.wallet_id, field, when):
        return
    balance = await world.stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))
    assert balance.balance.available == "25"
    grants = await world.stub.ListGrants(pb.ListGrantsRequest(wallet_id=wallet.wallet_id))
    assert [g.state for g in grants.grants] == [pb.GRANT_STATE_ACTIVE]
    entry = (await world.stub.Debit(debit_request(wallet.wallet_id, "1"))).entry
    assert entry.available_after == "24"
    report = await world.stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
    assert report.consistent


async def test_far_future_expiry_grant_does_not_block_the_expiry_sweep(world: World) -> None:
    """The sweep books due write-offs for every wallet, also next to a 9999-12-31 grant."""
    with_sentinel, plain = await make_wallet(world.stub), await make_wallet(world.stub)
    await extreme_grant(world, with_sentinel.wallet_id, "expire_time", SENTINEL)
    soon = world.now() + timedelta(hours=1)
    due = [
        (await make_grant(world.stub, w.wallet_id, "10", expire=soon)).grant.grant_id
        for w in (with_sentinel, plain)
    ]
    world.server.clock.advance(timedelta(hours=3))  # past expiry plus the one-hour grace

    swept = await world.stub.RunExpiry(pb.RunExpiryRequest())

    assert sorted(e.related_id for e in swept.entries if e.type == pb.ENTRY_TYPE_EXPIRY) == sorted(
        due
    )


# -- strings PostgreSQL cannot store ---------------------------------------------------------------

NUL = "a\x00b"


@pytest.mark.parametrize(
    ("method", "fields", "field"),
    [
        pytest.param(
            "CreateWallet", {"customer_id": NUL}, "customer_id", id="CreateWallet.customer_id"
        ),
        pytest.param(
            "CreateWallet", {"request_id": NUL}, "request_id", id="CreateWallet.request_id"
        ),
        pytest.param(
            "CreateWallet", {"metadata": {"k": NUL}}, "metadata", id="CreateWallet.metadata"
        ),
        pytest.param(
            "CreateGrant",
            {"external_reference": NUL},
            "external_reference",
            id="CreateGrant.external_reference",
        ),
        pytest.param("Debit", {"feature": NUL}, "feature", id="Debit.feature"),
        pytest.param("Debit", {"description": NUL}, "description", id="Debit.description"),
        pytest.param("GetWallet", {"wallet_id": NUL}, "wallet_id", id="GetWallet.wallet_id"),
        pytest.param(
            "ListWallets", {"customer_id": NUL}, "customer_id", id="ListWallets.customer_id"
        ),
    ],
)
async def test_nul_character_is_refused_cleanly(
    world: World, method: str, fields: dict[str, Any], field: str
) -> None:
    """U+0000 is valid in a protobuf string but not in a PostgreSQL text value: bad input (a lookup
    may also answer NOT_FOUND), never UNKNOWN/INTERNAL, and nothing written."""
    err = await refused(world, method, build(world, method, fields))
    if err.code == Code.NOT_FOUND and method.startswith("Get"):
        return
    assert err.code == INVALID, err
    assert [f.split("[")[0] for f in err.fields] == [field], err


async def test_occurred_time_at_the_skew_limit_is_accepted(world: World) -> None:
    wallet = await make_wallet(world.stub)
    await make_grant(world.stub, wallet.wallet_id, "10")
    at_limit = world.now() + timedelta(minutes=5)
    entry = (await world.stub.Debit(debit_request(wallet.wallet_id, "1", occurred=at_limit))).entry
    assert entry.occurred_time.ToDatetime(tzinfo=UTC) == at_limit


# -- DebitBatch -----------------------------------------------------------------------------------


async def test_debit_batch_of_1000_items_is_accepted(world: World) -> None:
    wallet = await make_wallet(world.stub)
    await make_grant(world.stub, wallet.wallet_id, "1000")
    items = [debit_request(wallet.wallet_id, "0.5") for _ in range(1000)]
    response = await world.stub.DebitBatch(pb.DebitBatchRequest(debits=items))
    assert [r.entry.request_id for r in response.results] == [i.request_id for i in items]
    balance = await world.stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))
    assert balance.balance.available == "500"


# fmt: off
BAD_ITEMS = [  # item 1 of [good, bad, good] changed by `fields`: ItemError reason and field path
    bad("DebitBatch", "malformed-amount", "INVALID_AMOUNT", "debits[1].amount", amount="abc"),
    bad("DebitBatch", "negative-amount", "INVALID_AMOUNT", "debits[1].amount", amount="-5"),
    bad("DebitBatch", "zero-amount", "INVALID_AMOUNT", "debits[1].amount", amount="0"),
    bad("DebitBatch", "exponent-amount", "INVALID_AMOUNT", "debits[1].amount", amount="1e400"),
    bad("DebitBatch", "19-fraction-digits", "INVALID_AMOUNT", "debits[1].amount",
        amount="1.0000000000000000001"),
    bad("DebitBatch", "no-request_id", "MISSING_FIELD", "debits[1].request_id", request_id=""),
    bad("DebitBatch", "no-wallet_id", "MISSING_FIELD", "debits[1].wallet_id", wallet_id=""),
    bad("DebitBatch", "65-metadata", "INVALID_METADATA", "debits[1].metadata",
        metadata=TOO_MUCH_METADATA),
    bad("DebitBatch", "unknown-wallet", "WALLET_NOT_FOUND", wallet_id=UNKNOWN_ID),
    bad("DebitBatch", "not-covered", "INSUFFICIENT_CREDITS", amount="99999999"),
    bad("DebitBatch", "occurred-too-far-ahead", "OCCURRED_TIME_IN_FUTURE",
        "debits[1].occurred_time", occurred_time=later(minutes=6)),
]
# fmt: on


@pytest.mark.parametrize(("method", "fields", "reason", "field"), BAD_ITEMS)
async def test_debit_batch_refuses_only_the_bad_item(
    world: World, method: str, fields: dict[str, Any], reason: str, field: str | None
) -> None:
    items = [
        build(world, "Debit", {"amount": "1.5"}),
        build(world, "Debit", fields),
        build(world, "Debit", {"amount": "2.25"}),
    ]
    before_balance = await world.stub.GetBalance(pb.GetBalanceRequest(wallet_id=world.wallet_id))
    before = await row_counts(world)

    response = await world.stub.DebitBatch(pb.DebitBatchRequest(debits=items))

    assert [r.WhichOneof("result") for r in response.results] == ["entry", "error", "entry"]
    error = response.results[1].error
    assert (error.code, error.reason) == (code_of(reason).value[0], reason), error.message
    assert error.message
    assert [v.field for v in error.field_violations] == ([field] if field else [])
    booked = [response.results[0].entry, response.results[2].entry]
    assert [(e.request_id, e.amount, e.type) for e in booked] == [
        (items[0].request_id, "-1.5", pb.ENTRY_TYPE_DEBIT),
        (items[2].request_id, "-2.25", pb.ENTRY_TYPE_DEBIT),
    ]
    # The two good debits, and nothing of the bad one, are in the journal and the balance.
    history = await world.stub.ListEntries(
        pb.ListEntriesRequest(wallet_id=world.wallet_id, page_size=3)
    )
    assert [e.entry_id for e in history.entries[:2]] == [booked[1].entry_id, booked[0].entry_id]
    assert history.entries[2].request_id != items[1].request_id
    after_balance = await world.stub.GetBalance(pb.GetBalanceRequest(wallet_id=world.wallet_id))
    spent = Decimal(before_balance.balance.available) - Decimal(after_balance.balance.available)
    assert spent == Decimal("3.75")
    after = await row_counts(world)
    assert after["entries"] == before["entries"] + 2
    # Keys remembered for the two booked items only; the refused one is forgotten.
    assert after["idempotency_keys"] == before["idempotency_keys"] + 2
    assert after["wallets"] == before["wallets"] and after["grants"] == before["grants"]
    await assert_consistent(world)


@pytest.mark.parametrize(
    ("fields", "reason", "code"),
    [
        ({"after_cursor": -1}, "INVALID_CURSOR", Code.INVALID_ARGUMENT),
        ({"types": [99]}, "INVALID_ENUM", Code.INVALID_ARGUMENT),
        ({"wallet_id": UNKNOWN_ID}, "WALLET_NOT_FOUND", Code.NOT_FOUND),
    ],
)
async def test_watch_wallet_events_refuses_bad_input(world: World, fields, reason, code) -> None:
    request = pb.WatchWalletEventsRequest(**fields)
    call = world.stub.WatchWalletEvents(request)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call.read()
    err = rich_error(raised.value)
    assert (err.code, err.reason) == (code, reason)
