"""Replicas of both services as real processes on one PostgreSQL server: two ledger processes on
one ledger database, two rating processes on one rating database (each reaching its own ledger).
Under concurrent IngestEvents and Debit calls spread over both, with grants expiring, an
allotment period starting and a webhook endpoint for every wallet, one rating and one ledger
process are killed (SIGKILL) mid-run. A call that fails is sent again, with the same request_id,
to the surviving process. Afterwards: every event is charged exactly once, every Debit booked
once, each write-off and the allotment period booked once, and every wallet event delivered to
the webhook (at least once is the documented contract; one delivery row per event).

The waits are on conditions (bounded); nothing about how long anything takes is asserted."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import grpc
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.ledger.v1 import ledger_pb2_grpc
from billing.rating.v1 import rating_pb2 as pb
from billing.rating.v1 import rating_pb2_grpc

from billing_common.process import ServiceProcess
from billing_common.protoconv import timestamp
from tests.support.channels import open_channel
from tests.support.ledger import make_grant, make_wallet, rid
from tests.support.processes import ledger_env, rating_env, start
from tests.support.rating import event, setup_customer
from tests.support.servers import NewDatabase
from tests.support.waiting import until
from tests.support.webhooks import RECEIVER_NETWORKS, Receiver, endpoint

PRODUCERS = 6
CALLS_PER_PRODUCER = 8
EVENTS_PER_CALL = 10
DEBITERS = 4
DEBITS_PER_DEBITER = 15
EXPIRING_WALLETS = 4
SOON = timedelta(seconds=3)  # the grants' expiry and the allotment's first period
WAIT_S = 45.0  # a bound on each wait, never a sleep: the conditions end it
ATTEMPTS_MAX = 20


async def _ledger(uri: str) -> ServiceProcess:
    env = ledger_env(
        uri,
        sweep_interval_s="0.2",
        webhook_interval_s="0.2",
        webhook_timeout_s="1",
        webhook_connect_timeout_s="1",
        webhook_lease_s="3",
        webhook_allow_networks=RECEIVER_NETWORKS,
    )
    return await start("ledger_service", env)


async def _rating(uri: str, ledger_target: str, log_path: Path) -> ServiceProcess:
    env = rating_env(
        uri,
        ledger_target,
        ledger_timeout_s="2",
        forward_batch_size="40",
        forward_backoff_base_s="0.05",
        forward_backoff_max_s="0.5",
        forward_idle_s="0.05",
    )
    return await start("rating_service", env, log_path)


async def _until(check, what: str) -> None:  # type: ignore[no-untyped-def]
    await until(check, what, bound_s=WAIT_S, poll_s=0.1)


async def _call_with_failover(stubs: list, call):  # type: ignore[no-untyped-def,type-arg]
    """`call(stub)` on one replica, then the next while it fails (the same request each time)."""
    for n in range(ATTEMPTS_MAX):
        try:
            return await call(stubs[n % len(stubs)])
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
    raise AssertionError("no replica answered")


async def _scalar(uri: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(uri)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _fetch(uri: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(uri)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def test_two_replicas_of_each_service_lose_and_double_nothing_when_one_of_each_is_killed(
    new_database: NewDatabase,
    rating_template: str,
    ledger_db: str,
    tmp_path: Path,
) -> None:
    receiver = Receiver()
    await receiver.start()
    ledgers = [await _ledger(ledger_db), await _ledger(ledger_db)]
    rating_db = await new_database("rating", rating_template)
    logs = [tmp_path / "rating-0.log", tmp_path / "rating-1.log"]
    ratings = [await _rating(rating_db, ledgers[0].target, logs[0])]

    async def first_leads() -> bool:
        return "leadership_taken" in logs[0].read_text()

    await _until(first_leads, "the first rating process's forwarder to lead")
    ratings.append(await _rating(rating_db, ledgers[1].target, logs[1]))
    channels = [open_channel(p.target) for p in [*ledgers, *ratings]]
    lstubs = [ledger_pb2_grpc.LedgerServiceStub(c) for c in channels[:2]]
    rstubs = [rating_pb2_grpc.RatingServiceStub(c) for c in channels[2:]]
    try:
        await endpoint(lstubs[0], receiver.url)  # every wallet's events
        usage = await make_wallet(lstubs[0], policy=lpb.OVERAGE_POLICY_ALLOW_OVERAGE)
        await make_grant(lstubs[0], usage.wallet_id, "100000")
        direct = await make_wallet(lstubs[1], policy=lpb.OVERAGE_POLICY_ALLOW_OVERAGE)
        await make_grant(lstubs[1], direct.wallet_id, "100000")
        soon = datetime.now(UTC) + SOON
        expiring = []
        for n in range(EXPIRING_WALLETS):
            wallet = await make_wallet(lstubs[n % 2], grace=timedelta(0))
            await make_grant(lstubs[n % 2], wallet.wallet_id, "10", expire=soon)
            expiring.append(wallet.wallet_id)
        allotted = (await make_wallet(lstubs[1])).wallet_id
        created = await lstubs[1].CreateAllotmentSchedule(
            lpb.CreateAllotmentScheduleRequest(
                request_id=rid(),
                schedule=lpb.AllotmentSchedule(
                    wallet_id=allotted,
                    amount="100",
                    kind=lpb.GRANT_KIND_PROMOTIONAL,
                    cadence=lpb.ALLOTMENT_CADENCE_WEEKLY,
                    anchor_time=timestamp(soon),
                    expiry=lpb.ALLOTMENT_EXPIRY_NEVER,
                ),
            )
        )
        assert created.schedule.periods_granted == 0
        start = datetime.now(UTC) + timedelta(seconds=1)
        s = await setup_customer(
            rstubs[0], start=start, wallet_id=usage.wallet_id, customer_id=usage.customer_id
        )
        await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.01)

        sent: list[str] = []
        debit_ids: list[str] = []
        halfway = asyncio.Event()
        done_calls = itertools.count(1)
        calls_total = PRODUCERS * CALLS_PER_PRODUCER + DEBITERS * DEBITS_PER_DEBITER

        def one_done() -> None:
            if next(done_calls) == calls_total // 2:
                halfway.set()

        async def produce(p: int) -> None:
            for c in range(CALLS_PER_PRODUCER):
                events = [
                    event(s.customer_id, datetime.now(UTC), units="1")
                    for _ in range(EVENTS_PER_CALL)
                ]
                request = pb.IngestEventsRequest(request_id=rid(), events=events)
                sent.extend(e.event_id for e in events)
                order = rstubs[(p + c) % 2 :] + rstubs[: (p + c) % 2]
                answer = await _call_with_failover(order, lambda st, r=request: st.IngestEvents(r))
                assert all(
                    r.status in (pb.EVENT_STATUS_ACCEPTED, pb.EVENT_STATUS_DUPLICATE)
                    for r in answer.results
                ), answer
                one_done()

        async def debit(d: int) -> None:
            for c in range(DEBITS_PER_DEBITER):
                request = lpb.DebitRequest(
                    request_id=rid(), wallet_id=direct.wallet_id, amount="1.25"
                )
                debit_ids.append(request.request_id)
                order = lstubs[(d + c) % 2 :] + lstubs[: (d + c) % 2]
                await _call_with_failover(order, lambda st, r=request: st.Debit(r))
                one_done()

        async def kill_halfway() -> None:
            await asyncio.wait_for(halfway.wait(), WAIT_S)
            await ratings[0].kill()
            await ledgers[0].kill()

        await asyncio.gather(
            *(produce(p) for p in range(PRODUCERS)),
            *(debit(d) for d in range(DEBITERS)),
            kill_halfway(),
        )
        assert ratings[0].process.returncode == -9 and ledgers[0].process.returncode == -9

        # Every event charged, by the surviving rating process's forwarder.
        events_total = PRODUCERS * CALLS_PER_PRODUCER * EVENTS_PER_CALL

        async def all_acknowledged() -> bool:
            acknowledged = await _scalar(
                rating_db, "SELECT count(*) FROM charges WHERE status = 'ACKNOWLEDGED'"
            )
            return acknowledged == events_total

        await _until(all_acknowledged, "every charge acknowledged")
        assert "leadership_taken" in logs[1].read_text()  # the forwarder failed over

        async def sweeps_done() -> bool:
            expired = await _scalar(
                ledger_db,
                "SELECT count(DISTINCT wallet_id) FROM entries WHERE type = 'EXPIRY'",
            )
            allotments = await _scalar(
                ledger_db, "SELECT count(*) FROM grants WHERE wallet_id = $1", allotted
            )
            return expired == EXPIRING_WALLETS and allotments == 1

        await _until(sweeps_done, "the write-offs and the allotment period")

        # Every wallet event booked by now reaches the receiver (the sweeps may book more later).
        event_ids = {r["id"] for r in await _fetch(ledger_db, "SELECT id FROM wallet_events")}

        async def webhooks_done() -> bool:
            return event_ids <= {r.json["event_id"] for r in receiver.received}

        await _until(webhooks_done, "every wallet event delivered")

        # Exactly once: one DEBIT per event, its amount the rating's charge; one per Debit call.
        debits = await _fetch(
            ledger_db,
            "SELECT source_event_id, request_id, amount FROM entries "
            "WHERE wallet_id = $1 AND type = 'DEBIT'",
            usage.wallet_id,
        )
        per_event = Counter(r["source_event_id"] for r in debits)
        assert set(per_event) == set(sent) and set(per_event.values()) == {1}
        charged = await _scalar(rating_db, "SELECT sum(amount) FROM charges")
        assert -sum(r["amount"] for r in debits) == charged == Decimal("0.5") * events_total
        direct_debits = await _fetch(
            ledger_db,
            "SELECT request_id FROM entries WHERE wallet_id = $1 AND type = 'DEBIT'",
            direct.wallet_id,
        )
        per_request = Counter(r["request_id"] for r in direct_debits)
        assert set(per_request) == set(debit_ids) and set(per_request.values()) == {1}
        write_offs = await _fetch(
            ledger_db, "SELECT wallet_id, amount FROM entries WHERE type = 'EXPIRY'"
        )
        assert sorted((r["wallet_id"], r["amount"]) for r in write_offs) == sorted(
            (w, Decimal(-10)) for w in expiring
        )
        # Webhooks: one delivery per event (at least once to the receiver: checked above).
        per_delivery = Counter(
            r["id"]
            for r in await _fetch(
                ledger_db,
                "SELECT e.id FROM webhook_deliveries d JOIN wallet_events e ON e.seq = d.event_seq",
            )
        )
        assert {e: per_delivery[e] for e in event_ids} == dict.fromkeys(event_ids, 1)
    finally:
        for channel in channels:
            await channel.close()
        for process in [*ratings, *ledgers]:
            await process.stop()
        await receiver.stop()
