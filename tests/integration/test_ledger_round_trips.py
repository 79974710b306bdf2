"""Design check (a count, not a timing): the round trips a write and a balance read make to
PostgreSQL. A unary Debit's transaction makes a fixed, small number whatever else is queued with
it; a DebitBatch makes the same number for 1 debit as for 1,000; GetBalance's count does not grow
with history.

Round trips are counted on the asyncpg connections themselves (their query logger sees BEGIN,
COMMIT and every statement the hot path sends straight to asyncpg) plus the
statements SQLAlchemy prepares (which the logger does not see)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from billing.ledger.v1 import ledger_pb2 as pb
from sqlalchemy import event

from billing_common.protoconv import timestamp
from tests.support.ledger import debit_request, make_grant, make_wallet


class RoundTrips:
    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.count = 0
        self.queries: list[str] = []
        self._logged: set[int] = set()
        event.listen(engine.sync_engine, "before_cursor_execute", self._statement)
        event.listen(engine.sync_engine, "checkout", self._checkout)

    def _statement(self, conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        self.count += 1
        self.queries.append(statement.split()[0])

    def _checkout(self, dbapi_connection, record, proxy) -> None:  # type: ignore[no-untyped-def]
        driver = dbapi_connection.driver_connection
        if id(driver) not in self._logged:
            self._logged.add(id(driver))
            driver.add_query_logger(self._query)

    def _query(self, record) -> None:  # type: ignore[no-untyped-def]
        self.count += 1
        self.queries.append(record.query.split()[0])

    async def reset(self) -> int:
        await asyncio.sleep(0)  # the query logger reports on the next turn of the loop
        seen, self.count = self.count, 0
        self.queries = []
        return seen


async def test_a_unary_debit_makes_a_fixed_few_round_trips(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "1000")
    trips = RoundTrips(ledger_server.ledger.engine)
    await stub.Debit(debit_request(wallet.wallet_id, "1"))  # connections get their loggers
    await trips.reset()
    await stub.Debit(debit_request(wallet.wallet_id, "1"))
    queries = list(trips.queries)
    debit = await trips.reset()
    print(f"round trips of a unary Debit: {debit} {queries}")
    # BEGIN, one call that claims, locks and loads, one statement that saves, COMMIT (no ping of
    # the pooled connection).
    assert debit <= 4, (debit, queries)


async def test_debit_batch_round_trips_do_not_grow_with_batch_size(ledger_server) -> None:
    stub = ledger_server.stub
    wallets = [await make_wallet(stub) for _ in range(10)]
    for w in wallets:
        await make_grant(stub, w.wallet_id, "1000")
        await make_grant(stub, w.wallet_id, "1000", kind=pb.GRANT_KIND_PROMOTIONAL)
    trips = RoundTrips(ledger_server.ledger.engine)
    await stub.DebitBatch(pb.DebitBatchRequest(debits=[debit_request(wallets[0].wallet_id, "1")]))
    await trips.reset()
    await stub.DebitBatch(pb.DebitBatchRequest(debits=[debit_request(wallets[1].wallet_id, "1")]))
    one = await trips.reset()
    # 1,000 debits over 10 wallets, some spanning two grants.
    debits = [debit_request(wallets[i % 10].wallet_id, "1.5") for i in range(1000)]
    response = await stub.DebitBatch(pb.DebitBatchRequest(debits=debits))
    thousand = await trips.reset()
    assert all(r.HasField("entry") for r in response.results)
    print(f"round trips: batch of 1 -> {one}, batch of 1000 -> {thousand}")
    assert thousand == one, (one, thousand)
    assert thousand <= 4


async def test_balance_round_trips_do_not_grow_with_history(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100000")
    trips = RoundTrips(ledger_server.ledger.engine)
    await stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))
    await trips.reset()
    await stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))
    queries = list(trips.queries)
    short = await trips.reset()
    print(f"round trips of GetBalance: {short} {queries}")
    # One statement for the whole state now (no ping of the pooled connection).
    assert short <= 1, (short, queries)
    for _ in range(3):
        await stub.DebitBatch(
            pb.DebitBatchRequest(debits=[debit_request(wallet.wallet_id, "1") for _ in range(1000)])
        )
    await trips.reset()
    await stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))
    assert await trips.reset() == short


async def test_report_round_trips_are_few_and_do_not_grow_with_history(ledger_server) -> None:
    """The reports sum the journal in SQL: their statements do not depend on its length."""
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "100000")
    start = ledger_server.clock.now() - timedelta(days=1)
    span = {"start_time": timestamp(start), "end_time": timestamp(start + timedelta(days=30))}
    reads = {
        "one wallet": lambda: stub.GetConsumptionReport(
            pb.GetConsumptionReportRequest(
                wallet_id=wallet.wallet_id, bucket=pb.REPORT_BUCKET_DAY, **span
            )
        ),
        "one customer": lambda: stub.GetRevenueReport(
            pb.GetRevenueReportRequest(
                customer_id=wallet.customer_id, bucket=pb.REPORT_BUCKET_DAY, **span
            )
        ),
        "every customer": lambda: stub.GetRevenueReport(
            pb.GetRevenueReportRequest(bucket=pb.REPORT_BUCKET_MONTH, **span)
        ),
    }
    trips = RoundTrips(ledger_server.ledger.engine)
    counts = {}
    for name, read in reads.items():
        await read()
        await trips.reset()
        await read()
        queries = list(trips.queries)
        counts[name] = await trips.reset()
        print(f"round trips of the {name} report: {counts[name]} {queries}")
    # The wallets (or customers) of the page, then their sums (with the total) in one statement.
    assert max(counts.values()) <= 2, counts
    for feature in ("chat", "search"):
        await stub.DebitBatch(
            pb.DebitBatchRequest(
                debits=[debit_request(wallet.wallet_id, "1", feature=feature) for _ in range(500)]
            )
        )
    for name, read in reads.items():
        await trips.reset()
        await read()
        assert await trips.reset() == counts[name], name


async def test_authorize_checks_in_one_statement_and_holds_like_a_debit(ledger_server) -> None:
    stub = ledger_server.stub
    wallet = await make_wallet(stub)
    await make_grant(stub, wallet.wallet_id, "1000")
    # With a top-up rule, whose caps the check counts from the same statement.
    rule = pb.TopUpRule(
        wallet_id=wallet.wallet_id,
        threshold="0",
        amount="100",
        kind=pb.GRANT_KIND_PREPAID,
        unit_price="0.01",
        currency="USD",
        daily_cap="500",
        payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
    )
    await stub.SetTopUpRule(pb.SetTopUpRuleRequest(request_id=str(uuid.uuid4()), rule=rule))
    trips = RoundTrips(ledger_server.ledger.engine)
    check = pb.AuthorizeRequest(wallet_id=wallet.wallet_id, amount="1")
    by_customer = pb.AuthorizeRequest(customer_id=wallet.customer_id, unit="CREDITS", amount="1")
    await stub.Authorize(check)
    await trips.reset()
    for request in (check, by_customer):
        await stub.Authorize(request)
        queries = list(trips.queries)
        # The state now and the top-up rule in one statement, as GetBalance reads the state.
        assert await trips.reset() <= 1, queries
    held = await stub.Authorize(
        pb.AuthorizeRequest(
            request_id=str(uuid.uuid4()), wallet_id=wallet.wallet_id, amount="1", hold=True
        )
    )
    queries = list(trips.queries)
    assert held.allowed
    # BEGIN, one call that claims, locks and loads, one statement that saves, COMMIT.
    assert await trips.reset() <= 4, queries


async def test_a_debit_naming_a_pool_member_adds_one_round_trip_and_a_batch_one_per_member(
    ledger_server,
) -> None:
    stub = ledger_server.stub
    wallet = (await make_wallet(stub)).wallet_id
    await make_grant(stub, wallet, "1000")
    for name in ("a", "b"):
        await stub.SetPoolMember(
            pb.SetPoolMemberRequest(
                request_id=str(uuid.uuid4()), wallet_id=wallet, member_id=name, budget_amount="100"
            )
        )

    def named(member_id: str) -> pb.DebitRequest:
        request = debit_request(wallet, "1")
        request.member_id = member_id
        return request

    trips = RoundTrips(ledger_server.ledger.engine)
    await stub.Debit(named("a"))
    await trips.reset()
    await stub.Debit(named("a"))
    queries = list(trips.queries)
    unary = await trips.reset()
    # BEGIN, claim-lock-load, the member's budget and period spend, save, COMMIT.
    assert unary <= 5, (unary, queries)
    # 100 debits of two members in one batch: one load per member, not per debit.
    batch = await stub.DebitBatch(
        pb.DebitBatchRequest(debits=[named("ab"[i % 2]) for i in range(100)])
    )
    many = await trips.reset()
    assert all(r.entry.member_id for r in batch.results)
    assert many <= 6, many
