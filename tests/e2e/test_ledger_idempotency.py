"""Contract tests over real gRPC: idempotency by request_id.

A retry with the same request_id and the same request returns the original response, byte for byte,
and writes once; the same id with a different request is ALREADY_EXISTS / REQUEST_ID_CONFLICT and
writes nothing. Refusals write nothing, so a refused request_id is not remembered and a retry is
evaluated afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from sqlalchemy import func, select

from billing_common.clock import FakeClock
from ledger_service import main as ledger_main
from ledger_service.adapters.db import tables
from ledger_service.config import LedgerSettings
from tests.support.channels import admin_key_file, open_channel
from tests.support.ledger import balance, debit_request, make_grant, make_wallet, rid
from tests.support.servers import START, RunningLedger
from tests.support.tls import server_settings

Code = grpc.StatusCode


# -- server and helpers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
async def ledger_server(new_database: Any, ledger_template: str) -> AsyncIterator[RunningLedger]:
    """conftest's ledger_server, shared by this module's tests to keep the suite fast: one real gRPC
    server on its own database with a FakeClock. Tests use their own wallets and customers and only
    ever move the clock forward, so they do not depend on each other."""
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
    try:
        yield RunningLedger(
            target, clock, ledger, channel, ledger_pb2_grpc.LedgerServiceStub(channel)
        )
    finally:
        await channel.close()
        await ledger.close()


async def row_counts(server: Any) -> dict[str, int]:
    counted = tables.metadata.sorted_tables
    async with server.ledger.engine.connect() as conn:
        counts = (
            await conn.execute(
                select(*(select(func.count()).select_from(t).scalar_subquery() for t in counted))
            )
        ).one()
    return {t.name: n for t, n in zip(counted, counts, strict=True)}


def reason_of(exc: grpc.aio.AioRpcError) -> str:
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return info.reason
    return ""


async def expect_error(call: Awaitable[Any], code: Code, reason: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert (raised.value.code(), reason_of(raised.value)) == (code, reason), raised.value.details()


async def entries_of(stub: Any, wallet_id: str, *types: int) -> list[pb.Entry]:
    response = await stub.ListEntries(
        pb.ListEntriesRequest(wallet_id=wallet_id, types=list(types), page_size=500)
    )
    assert response.next_page_token == ""
    return list(response.entries)


# -- one scenario per mutating RPC: a first request, and the same id with other content ----------


@dataclass
class Scenario:
    method: str
    request: Message
    changed: Message  # same request_id, different content


async def scenario(server: Any, method: str) -> Scenario:
    stub, now = server.stub, server.clock.now()
    if method == "CreateWallet":
        request = pb.CreateWalletRequest(
            request_id=rid(),
            customer_id=f"cust-{rid()}",
            unit="CREDITS",
            overage_policy=pb.OVERAGE_POLICY_DENY,
        )
        changed = pb.CreateWalletRequest()
        changed.CopyFrom(request)
        changed.unit = "USD"
        return Scenario(method, request, changed)
    wallet = await make_wallet(stub)
    if method == "CreateGrant":
        request = pb.CreateGrantRequest(
            request_id=rid(),
            wallet_id=wallet.wallet_id,
            kind=pb.GRANT_KIND_PROMOTIONAL,
            amount="100",
        )
        # Expires in 30 minutes: if a replay were re-rendered an hour later, its state would differ.
        request.expire_time.FromDatetime(now + timedelta(minutes=30))
        changed = pb.CreateGrantRequest()
        changed.CopyFrom(request)
        changed.amount = "100.5"
        return Scenario(method, request, changed)
    if method == "ClearTopUpRule":
        other = await make_wallet(stub)
        for w in (wallet, other):
            rule = pb.TopUpRule(
                wallet_id=w.wallet_id,
                threshold="10",
                amount="100",
                kind=pb.GRANT_KIND_PREPAID,
                payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
            )
            await stub.SetTopUpRule(pb.SetTopUpRuleRequest(request_id=rid(), rule=rule))
        request = pb.ClearTopUpRuleRequest(request_id=rid(), wallet_id=wallet.wallet_id)
        changed = pb.ClearTopUpRuleRequest(request_id=request.request_id, wallet_id=other.wallet_id)
        return Scenario(method, request, changed)
    granted = await make_grant(stub, wallet.wallet_id, "100")
    if method == "VoidGrant":
        other = await make_grant(stub, wallet.wallet_id, "5")
        request = pb.VoidGrantRequest(
            request_id=rid(), grant_id=granted.grant.grant_id, reason="chargeback"
        )
        return Scenario(
            method,
            request,
            pb.VoidGrantRequest(request_id=request.request_id, grant_id=other.grant.grant_id),
        )
    if method == "Debit":
        request = debit_request(wallet.wallet_id, "7", feature="search")
        changed = pb.DebitRequest()
        changed.CopyFrom(request)
        changed.amount = "8"
        return Scenario(method, request, changed)
    assert method == "RefundDebit"
    debit = (await stub.Debit(debit_request(wallet.wallet_id, "40"))).entry
    request = pb.RefundDebitRequest(request_id=rid(), entry_id=debit.entry_id, amount="15")
    return Scenario(
        method,
        request,
        pb.RefundDebitRequest(request_id=request.request_id, entry_id=debit.entry_id, amount="16"),
    )


MUTATING = ["CreateWallet", "CreateGrant", "VoidGrant", "Debit", "RefundDebit", "ClearTopUpRule"]


@pytest.mark.parametrize("method", MUTATING)
async def test_replay_returns_the_original_response_and_writes_once(
    ledger_server: Any, method: str
) -> None:
    s = await scenario(ledger_server, method)
    call: Callable[[Message], Awaitable[Message]] = getattr(ledger_server.stub, method)
    first = await call(s.request)
    written = await row_counts(ledger_server)

    # Later (grant states, default descriptions and "now" would all differ if re-evaluated).
    ledger_server.clock.advance(timedelta(hours=1))
    for _ in range(3):
        again = await call(s.request)
        assert again.SerializeToString() == first.SerializeToString()
    assert await row_counts(ledger_server) == written


@pytest.mark.parametrize("method", MUTATING)
async def test_same_request_id_with_other_content_is_a_conflict(
    ledger_server: Any, method: str
) -> None:
    s = await scenario(ledger_server, method)
    call = getattr(ledger_server.stub, method)
    first = await call(s.request)
    written = await row_counts(ledger_server)

    await expect_error(call(s.changed), Code.ALREADY_EXISTS, "REQUEST_ID_CONFLICT")

    assert await row_counts(ledger_server) == written
    # The original is still what the id means.
    assert (await call(s.request)).SerializeToString() == first.SerializeToString()


async def test_request_ids_are_not_shared_between_methods(ledger_server: Any) -> None:
    stub = ledger_server.stub
    wallet_request = pb.CreateWalletRequest(
        request_id=rid(),
        customer_id=f"cust-{rid()}",
        unit="CREDITS",
        overage_policy=pb.OVERAGE_POLICY_ALLOW_OVERAGE,
    )
    wallet = (await stub.CreateWallet(wallet_request)).wallet
    written = await row_counts(ledger_server)
    reused = debit_request(wallet.wallet_id, "1", request_id=wallet_request.request_id)
    await expect_error(stub.Debit(reused), Code.ALREADY_EXISTS, "REQUEST_ID_CONFLICT")
    batch = await stub.DebitBatch(pb.DebitBatchRequest(debits=[reused]))
    error = batch.results[0].error
    assert (error.code, error.reason) == (Code.ALREADY_EXISTS.value[0], "REQUEST_ID_CONFLICT")
    assert await row_counts(ledger_server) == written


async def test_concurrent_replays_of_one_debit_write_one_entry(ledger_server: Any) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    request = debit_request(wallet.wallet_id, "3")

    responses = await asyncio.gather(*(stub.Debit(request) for _ in range(20)))

    assert len({r.SerializeToString() for r in responses}) == 1
    debits = await entries_of(stub, wallet.wallet_id, pb.ENTRY_TYPE_DEBIT)
    assert [e.entry_id for e in debits] == [responses[0].entry.entry_id]
    assert (await balance(stub, wallet.wallet_id)).available == "97"
    report = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
    assert report.consistent and report.consumed == "3"


async def test_concurrent_requests_with_one_id_and_different_content_book_one(
    ledger_server: Any,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    a = debit_request(wallet.wallet_id, "2")
    b = debit_request(wallet.wallet_id, "5", request_id=a.request_id)

    outcomes = await asyncio.gather(*(stub.Debit(r) for r in [a, b] * 5), return_exceptions=True)

    booked = [o for o in outcomes if isinstance(o, pb.DebitResponse)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(booked) + len(refused) == 10
    assert len({r.SerializeToString() for r in booked}) == 1
    assert {(e.code(), reason_of(e)) for e in refused} == {
        (Code.ALREADY_EXISTS, "REQUEST_ID_CONFLICT")
    }
    winner = booked[0].entry
    assert len(booked) == 5 and winner.amount in ("-2", "-5")
    debits = await entries_of(stub, wallet.wallet_id, pb.ENTRY_TYPE_DEBIT)
    assert [e.entry_id for e in debits] == [winner.entry_id]


async def test_concurrent_replays_of_one_create_wallet_create_one_wallet(
    ledger_server: Any,
) -> None:
    stub = ledger_server.stub
    customer = f"cust-{rid()}"
    request = pb.CreateWalletRequest(
        request_id=rid(),
        customer_id=customer,
        unit="CREDITS",
        overage_policy=pb.OVERAGE_POLICY_DENY,
    )
    responses = await asyncio.gather(*(stub.CreateWallet(request) for _ in range(20)))
    assert len({r.SerializeToString() for r in responses}) == 1
    listed = await stub.ListWallets(pb.ListWalletsRequest(customer_id=customer))
    assert [w.wallet_id for w in listed.wallets] == [responses[0].wallet.wallet_id]


async def test_batch_item_retried_as_unary_debit_replays_the_batch_entry(
    ledger_server: Any,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    items = [debit_request(wallet.wallet_id, "4"), debit_request(wallet.wallet_id, "6")]
    batch = await stub.DebitBatch(pb.DebitBatchRequest(debits=items))
    assert [r.WhichOneof("result") for r in batch.results] == ["entry", "entry"]
    written = await row_counts(ledger_server)

    ledger_server.clock.advance(timedelta(minutes=10))
    retried = await stub.Debit(items[1])

    assert (
        retried.SerializeToString()
        == pb.DebitResponse(entry=batch.results[1].entry).SerializeToString()
    )
    assert await row_counts(ledger_server) == written
    # The same item with other content is a conflict, alone or in a batch.
    changed = debit_request(wallet.wallet_id, "6.5", request_id=items[1].request_id)
    await expect_error(stub.Debit(changed), Code.ALREADY_EXISTS, "REQUEST_ID_CONFLICT")
    assert await row_counts(ledger_server) == written


async def test_unary_debit_retried_inside_a_batch_replays_its_entry(ledger_server: Any) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    single = debit_request(wallet.wallet_id, "4")
    original = (await stub.Debit(single)).entry
    fresh = debit_request(wallet.wallet_id, "1")

    batch = await stub.DebitBatch(pb.DebitBatchRequest(debits=[fresh, single]))

    assert batch.results[1].entry.SerializeToString() == original.SerializeToString()
    assert batch.results[0].entry.request_id == fresh.request_id
    debits = await entries_of(stub, wallet.wallet_id, pb.ENTRY_TYPE_DEBIT)
    assert sorted(e.request_id for e in debits) == sorted([single.request_id, fresh.request_id])
    assert (await balance(stub, wallet.wallet_id)).available == "95"


async def test_insufficient_credits_refusal_is_not_remembered(ledger_server: Any) -> None:
    """Refusals write nothing, so a retry with the same request_id re-evaluates."""
    stub = ledger_server.stub
    wallet = await make_wallet(stub, policy=pb.OVERAGE_POLICY_DENY)
    request = debit_request(wallet.wallet_id, "10")
    empty = await row_counts(ledger_server)

    await expect_error(stub.Debit(request), Code.FAILED_PRECONDITION, "INSUFFICIENT_CREDITS")
    assert await row_counts(ledger_server) == empty

    await make_grant(stub, wallet.wallet_id, "25")
    booked = await stub.Debit(request)
    assert booked.entry.request_id == request.request_id and booked.entry.available_after == "15"
    # From now on the id is remembered like any other.
    assert (await stub.Debit(request)).SerializeToString() == booked.SerializeToString()
    assert len(await entries_of(stub, wallet.wallet_id, pb.ENTRY_TYPE_DEBIT)) == 1


async def test_insufficient_credits_batch_item_is_not_remembered(ledger_server: Any) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub, policy=pb.OVERAGE_POLICY_DENY)
    await make_grant(stub, wallet.wallet_id, "5")
    covered, uncovered = debit_request(wallet.wallet_id, "5"), debit_request(wallet.wallet_id, "3")

    first = await stub.DebitBatch(pb.DebitBatchRequest(debits=[covered, uncovered]))
    assert first.results[0].WhichOneof("result") == "entry"
    error = first.results[1].error
    assert (error.code, error.reason) == (Code.FAILED_PRECONDITION.value[0], "INSUFFICIENT_CREDITS")

    await make_grant(stub, wallet.wallet_id, "3")
    second = await stub.DebitBatch(pb.DebitBatchRequest(debits=[covered, uncovered]))
    assert second.results[0].entry.SerializeToString() == first.results[0].entry.SerializeToString()
    assert second.results[1].entry.request_id == uncovered.request_id
    assert second.results[1].entry.available_after == "0"
    assert len(await entries_of(stub, wallet.wallet_id, pb.ENTRY_TYPE_DEBIT)) == 2


async def test_invalid_request_is_not_remembered(ledger_server: Any) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "10")
    request = debit_request(wallet.wallet_id, "abc")
    await expect_error(stub.Debit(request), Code.INVALID_ARGUMENT, "INVALID_AMOUNT")
    request.amount = "2"
    assert (await stub.Debit(request)).entry.amount == "-2"


async def test_duplicate_request_id_in_one_batch_with_same_content_books_once(
    ledger_server: Any,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    item, other = debit_request(wallet.wallet_id, "9"), debit_request(wallet.wallet_id, "1")

    response = await stub.DebitBatch(pb.DebitBatchRequest(debits=[item, other, item]))

    assert [r.WhichOneof("result") for r in response.results] == ["entry", "entry", "entry"]
    assert (
        response.results[2].entry.SerializeToString()
        == response.results[0].entry.SerializeToString()
    )
    debits = await entries_of(stub, wallet.wallet_id, pb.ENTRY_TYPE_DEBIT)
    assert sorted(e.request_id for e in debits) == sorted([item.request_id, other.request_id])
    assert (await balance(stub, wallet.wallet_id)).available == "90"


async def test_duplicate_request_id_in_one_batch_with_other_content_conflicts(
    ledger_server: Any,
) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    item = debit_request(wallet.wallet_id, "9")
    clash = debit_request(wallet.wallet_id, "11", request_id=item.request_id)

    response = await stub.DebitBatch(pb.DebitBatchRequest(debits=[item, clash]))

    assert response.results[0].entry.amount == "-9"
    error = response.results[1].error
    assert (error.code, error.reason) == (Code.ALREADY_EXISTS.value[0], "REQUEST_ID_CONFLICT")
    assert error.message
    debits = await entries_of(stub, wallet.wallet_id, pb.ENTRY_TYPE_DEBIT)
    assert [e.entry_id for e in debits] == [response.results[0].entry.entry_id]
    assert (await balance(stub, wallet.wallet_id)).available == "91"
    # The id keeps meaning the first item.
    assert (await stub.Debit(item)).entry.SerializeToString() == response.results[
        0
    ].entry.SerializeToString()


async def test_request_id_reused_after_an_invalid_item_in_one_batch_conflicts(
    ledger_server: Any,
) -> None:
    """README: "A request_id repeated inside one batch gets the first occurrence's result (or
    REQUEST_ID_CONFLICT if it differs)". The first occurrence here is refused as bad input; the
    second, with other content, must not be booked under the same id."""
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    invalid = debit_request(wallet.wallet_id, "abc")
    other = debit_request(wallet.wallet_id, "4", request_id=invalid.request_id)

    response = await stub.DebitBatch(pb.DebitBatchRequest(debits=[invalid, other]))

    assert response.results[0].error.reason == "INVALID_AMOUNT"
    assert response.results[1].WhichOneof("result") == "error", response.results[1]
    assert response.results[1].error.reason == "REQUEST_ID_CONFLICT"
    assert await entries_of(stub, wallet.wallet_id, pb.ENTRY_TYPE_DEBIT) == []


async def test_fingerprint_ignores_map_order(ledger_server: Any) -> None:
    """Clients in other languages serialize map fields in any order; the same content is the same
    request."""
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100")
    first = debit_request(wallet.wallet_id, "1")
    keys = [f"k{i}" for i in range(20)]
    for k in keys:
        first.metadata[k] = k.upper()
    again = debit_request(wallet.wallet_id, "1", request_id=first.request_id)
    for k in reversed(keys):
        again.metadata[k] = k.upper()
    assert first.SerializeToString() != again.SerializeToString()  # really another byte order

    original = await stub.Debit(first)
    assert (await stub.Debit(again)).SerializeToString() == original.SerializeToString()
    assert len(await entries_of(stub, wallet.wallet_id, pb.ENTRY_TYPE_DEBIT)) == 1
