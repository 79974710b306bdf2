"""The rating service where it touches the ledger, in a seeded share of the seeds.

A rating seed adds one customer whose wallet is a DENY wallet with block top-up pricing (included
units, then blocks bought when usage needs them), a meter and a per-unit price, and a plan that
draws on that wallet. Its waves then mix IngestEvents (synchronous, and asynchronous followed by
forwarder rounds; event ids sometimes repeated) with everything the ledger seeds do, faults
included, on the same wallets. At the end every charge is delivered, and:

- every event the rating service accepted has exactly one charge, booked exactly once in the
  ledger (one DEBIT for its ledger request id, for its amount; no other DEBIT for the event);
- no event was denied and no charge failed while a block could still be bought (before the
  subscription's end, no end requested), but for a denial of the `DENY` pool member's budget:
  the wallet is a pool, and an event may name one of its two members (`ALLOW` and `DENY`, each
  with a budget for all time, also spent by the ledger seeds' own writes);
- an acknowledged charge's DEBIT names the member its event named;
- the plan debits a fixed charge each month: every period started by the end (and before the
  plan's end) has exactly one fixed-charge row, none other, and one DEBIT in the ledger when it
  is booked (none when refused): one debit per (assignment, period), whatever the faults;
- the rating service never answered INTERNAL or UNKNOWN (like every call of the simulator).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import grpc
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as pb

from billing_common import database
from billing_common.periods import Cadence, period_start
from billing_common.protoconv import timestamp
from rating_service.config import RatingSettings
from tests.sim import checks
from tests.sim.harness import RatingService, RpcFailure

if TYPE_CHECKING:
    from tests.sim.world import Op, Simulation, WalletModel

RATING_SEED_SHARE = 0.25
UNIT_PRICE = Decimal("0.5")
FIXED_CHARGE = Decimal("1")
DRAIN_ROUNDS_MAX = 60
RETRIES_MAX = 40
SIDE_ATTEMPTS = 5  # of a check query cut by a database restart
RATING_GRACE = timedelta(seconds=RatingSettings().grace_s)
NEVER = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


def is_rating_seed(seed: int) -> bool:
    """Chosen by a generator of its own, so the ledger seeds' sequences stay as they were."""
    return random.Random(seed * 104_729 + 3).random() < RATING_SEED_SHARE


# The rating wallet's pool members: (member, DENY?, budget for all time).
MEMBERS = (("team-allow", False, "40"), ("team-deny", True, "60"))


@dataclass
class Sent:
    units: int
    occurred: datetime
    member: str = ""


@dataclass
class RatingScenario:
    sim: Simulation
    service: RatingService | None = None
    wallet: WalletModel | None = None
    customer_id: str = ""
    sent: dict[str, Sent] = field(default_factory=dict)  # every event id sent at least once
    accepted: set[str] = field(default_factory=set)
    priced_from: datetime | None = None
    plan_end: datetime | None = None  # EndPlanAssignment answered OK: the plan ends then
    assignment_id: str = ""
    # Which member an event names: a generator of its own, so the rest of the seed's sequence
    # stays as it was before events named members.
    member_rng: random.Random = field(default_factory=random.Random)
    # Events denied for the DENY member's budget (the ledger said so, to the call or on the
    # charge). Sent again, such an event is DENIED again with the reason a replay of any denial
    # gives (INSUFFICIENT_CREDITS: the first reason is not kept), so a denial of a DENY
    # member's event while blocks could be bought is judged at the end (`undecided`), once the
    # charges say why.
    member_denied: set[str] = field(default_factory=set)
    undecided: dict[str, str] = field(default_factory=dict)

    # -- plumbing ---------------------------------------------------------------------------

    async def call(self, method: str, request: Any) -> Any:
        """A rating call as a client makes it: UNAVAILABLE retried with the same request."""
        assert self.service is not None
        last: RpcFailure | None = None
        for _ in range(RETRIES_MAX):
            self.sim.calls += 1
            try:
                return await self.service.call(method, request)
            except RpcFailure as failure:
                if failure.code in NEVER:
                    self.sim.internal(f"rating.{method}", failure)
                    return failure
                if failure.code is not grpc.StatusCode.UNAVAILABLE:
                    return failure
                last = failure
                await self.sim.db.ready()
        self.sim.violate("never_available", f"rating.{method} still failing: {last}")
        return last

    async def _setup_call(self, method: str, request: Any) -> Any:
        """A set-up call: its response, or None once its failure is reported."""
        result = await self.call(method, request)
        if isinstance(result, RpcFailure):
            self.sim.violate("setup_failed", f"{method}: {result}")
            return None
        return result

    def blocks_available(self, at: datetime) -> bool:
        """Whether the wallet's block rule could buy at every instant up to `at`."""
        w = self.wallet
        return (
            w is not None
            and w.blocks
            and not w.schedule_end_requested
            and w.blocks_end is not None
            and at < w.blocks_end
        )

    def too_old(self, event_id: str) -> bool:
        """Whether the event is older than the rating service's grace window by now."""
        return self.sim.now() - self.sent[event_id].occurred > RATING_GRACE

    # -- setup ------------------------------------------------------------------------------

    async def setup(self) -> None:
        sim = self.sim
        self.service = await sim.worker.ensure_rating()
        self.customer_id = f"sim-{sim.run_id}-rating"
        created = await sim.call(
            "CreateWallet",
            lpb.CreateWalletRequest(
                request_id=sim.rid(),
                customer_id=self.customer_id,
                unit="CREDITS",
                overage_policy=lpb.OVERAGE_POLICY_DENY,
            ),
        )
        if isinstance(created, RpcFailure):
            sim.violate("setup_failed", f"CreateWallet (rating): {created}")
            return
        from tests.sim.world import WalletModel

        w = WalletModel(created.wallet.wallet_id, True)
        sim.wallets.append(w)
        await sim.setup_blocks(w)
        if not w.blocks:
            sim.violate("setup_failed", "the rating wallet got no block rule")
            return
        self.wallet = w
        self.member_rng = random.Random(f"rating-members:{sim.seed}")
        for member_id, deny, budget in MEMBERS:
            member = await sim.call(
                "SetPoolMember",
                lpb.SetPoolMemberRequest(
                    request_id=sim.rid(),
                    wallet_id=w.id,
                    member_id=member_id,
                    budget_amount=budget,
                    policy=lpb.BUDGET_POLICY_DENY if deny else lpb.BUDGET_POLICY_ALLOW,
                ),
            )
            if isinstance(member, RpcFailure):
                sim.violate("setup_failed", f"SetPoolMember (rating): {member}")
                return
            w.members[member_id] = deny
        # Prices and plans start now or later (not in the past); events happen from then on.
        start = self.priced_from = sim.now() + timedelta(seconds=1)
        meter = await self._setup_call(
            "CreateMeter",
            pb.CreateMeterRequest(
                request_id=sim.rid(),
                key=f"sim_{sim.run_id}",
                event_type="llm.tokens",
                aggregation=pb.AGGREGATION_SUM,
                value_property="units",
            ),
        )
        if meter is None:
            return
        price = await self._setup_call(
            "CreatePrice",
            pb.CreatePriceRequest(
                request_id=sim.rid(),
                meter_id=meter.meter.meter_id,
                unit="CREDITS",
                effective_time=timestamp(start),
                model=pb.PRICING_MODEL_PER_UNIT,
                unit_price=str(UNIT_PRICE),
            ),
        )
        if price is None:
            return
        plan = await self._setup_call(
            "CreatePlan",
            pb.CreatePlanRequest(
                request_id=sim.rid(),
                name="sim plan",
                cadence=pb.CADENCE_MONTHLY,
                billing_anchor_time=timestamp(start),
                unit="CREDITS",
                prices=[pb.PlanPrice(price_id=price.price.price_id)],
                fixed_charge=str(FIXED_CHARGE),
                fixed_charge_collection=pb.FIXED_CHARGE_COLLECTION_DEBIT,
            ),
        )
        if plan is None:
            return
        assigned = await self._setup_call(
            "AssignPlan",
            pb.AssignPlanRequest(
                request_id=sim.rid(),
                customer_id=self.customer_id,
                plan_id=plan.plan.plan_id,
                wallet_id=w.id,
                start_time=timestamp(start),
            ),
        )
        if assigned is not None:
            self.assignment_id = assigned.assignment.assignment_id

    # -- operations -------------------------------------------------------------------------

    def op_ingest(self) -> Op:
        sim = self.sim
        events: list[pb.Event] = []
        for _ in range(sim.rng.randint(1, 3)):
            if self.sent and sim.rng.random() < 0.25:
                event_id = sim.rng.choice(sorted(self.sent))  # the same event again
                first = self.sent[event_id]
            else:
                event_id = f"{sim.rid()}-ev"
                assert self.priced_from is not None
                first = Sent(
                    sim.rng.randint(1, 20),
                    max(
                        self.priced_from,
                        sim.now() - timedelta(milliseconds=sim.rng.randint(0, 20_000)),
                    ),
                    self.member_rng.choice(["", *(m for m, *_ in MEMBERS)]),
                )
            events.append(
                pb.Event(
                    event_id=event_id,
                    customer_id=self.customer_id,
                    type="llm.tokens",
                    occurred_time=timestamp(first.occurred),
                    properties={"units": str(first.units)},
                    member_id=first.member,
                )
            )
            self.sent.setdefault(event_id, first)
        sync = sim.rng.random() < 0.5
        request = pb.IngestEventsRequest(
            request_id=sim.rid(),
            events=events,
            mode=pb.INGEST_MODE_SYNC if sync else pb.INGEST_MODE_ASYNC,
        )

        async def run() -> None:
            result = await self.call("IngestEvents", request)
            if isinstance(result, RpcFailure):
                if result.code not in NEVER and result.code is not grpc.StatusCode.UNAVAILABLE:
                    sim.violate("rating_ingest_refused", f"IngestEvents: {result}")
                return
            for r in result.results:
                status = pb.EventStatus.Name(r.status)
                if r.status in (pb.EVENT_STATUS_ACCEPTED, pb.EVENT_STATUS_CHARGED):
                    self.accepted.add(r.event_id)
                elif r.status == pb.EVENT_STATUS_DENIED:
                    # Booked by now; a block could be bought if the subscription still runs.
                    if self.blocks_available(sim.now()) and not self.member_denial(
                        r.event_id, r.error.reason, f"{r.error.reason} {r.error.message}"
                    ):
                        sim.violate(
                            "rating_denied_while_blocks_could_be_bought",
                            f"{r.event_id}: {r.error.reason} {r.error.message}",
                        )
                elif r.status == pb.EVENT_STATUS_DUPLICATE:
                    continue
                elif r.error.code == grpc.StatusCode.UNAVAILABLE.value[0]:
                    continue  # EVENT_IN_PROGRESS: charged synchronously by another call right now
                elif r.error.reason == "EVENT_TOO_OLD" and self.too_old(r.event_id):
                    continue  # a clock jump ran before it: older than the grace window is right
                elif r.error.reason == "CUSTOMER_NOT_FOUND" and self.after_plan(r.event_id):
                    continue  # the plan had ended by the event's time: no plan, rightly
                else:
                    sim.violate("rating_event_refused", f"{r.event_id}: {status} {r.error}")

        return run

    def op_end_plan(self) -> Op:
        """End the customer's plan a little later: from then on its events are rejected
        (CUSTOMER_NOT_FOUND), and none at or after the end may ever be accepted."""
        sim = self.sim
        end = sim.now() + timedelta(minutes=sim.rng.randint(1, 180))
        request = pb.EndPlanAssignmentRequest(
            request_id=sim.rid(), customer_id=self.customer_id, end_time=timestamp(end)
        )

        async def run() -> None:
            if self.plan_end is not None:
                return  # another wave's op ended it first
            result = await self.call("EndPlanAssignment", request)
            if isinstance(result, RpcFailure):
                # Refused (the clock passed `end` before the call ran, or usage already rated
                # after it): nothing was written, the plan runs on.
                if result.code not in NEVER and result.code not in (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    grpc.StatusCode.FAILED_PRECONDITION,
                ):
                    sim.violate("rating_end_plan_refused", f"EndPlanAssignment: {result}")
                return
            self.plan_end = end

        return run

    def member_denial(self, event_id: str, error: str, detail: str = "") -> bool:
        """Whether a denial is of the DENY member's budget (which no block lifts): the event
        named it and the ledger said so. An answer to a call (`detail`) may repeat an earlier
        denial of it without saying so: it is judged at the end."""
        if self.sent[event_id].member != "team-deny":
            return False
        if "MEMBER_BUDGET_EXCEEDED" in error:
            self.member_denied.add(event_id)
            return True
        if detail:
            self.undecided.setdefault(event_id, detail)
            return True
        return False

    def after_plan(self, event_id: str) -> bool:
        """Whether the event occurred at or after the plan's (known) end."""
        return self.plan_end is not None and self.sent[event_id].occurred >= self.plan_end

    async def forward_once(self) -> int:
        """One forwarder round, as the forwarder's loop runs it: a round the database cut (a
        restart, a dropped connection) is simply over, the charges stay PENDING for the next;
        anything else would be logged as a failed iteration, which is a bug."""
        assert self.service is not None
        try:
            return await self.service.forward_once()
        except Exception as exc:
            if not database.is_transient(exc):
                self.sim.violate("rating_forwarder_error", repr(exc))
            await self.sim.db.ready()
            return -1

    def op_forward(self) -> Op:
        async def run() -> None:
            await self.forward_once()

        return run

    # -- at the end -------------------------------------------------------------------------

    async def drain(self) -> None:
        """Deliver every pending charge, moving time on past retry back-offs."""
        assert self.service is not None
        for _ in range(DRAIN_ROUNDS_MAX):
            handled = await self.forward_once()
            if handled:
                continue
            if not await self.pending():
                return
            self.sim.clock.advance(timedelta(seconds=61))  # past the forwarder's back-off
        self.sim.violate("rating_charges_stuck", f"{await self.pending()} charges still pending")

    async def pending(self) -> int:
        """This seed's charges not delivered yet (a seed stopped by a violation may leave some
        behind, on its own clock: they are not this seed's)."""
        rows = await self._rating_rows(
            "SELECT (SELECT count(*) FROM charges WHERE customer_id = $1 AND status = 'PENDING')"
            " + (SELECT count(*) FROM fixed_charges WHERE customer_id = $1"
            " AND status = 'PENDING') AS n",
            self.customer_id,
        )
        return int(rows[0]["n"])

    async def check(self) -> None:
        if self.service is None or self.wallet is None:
            return
        await self.drain()
        ids = sorted(self.sent)
        charges = await self._charges(ids)
        debits = await self._ledger_debits(ids)
        by_event: dict[str, list[dict[str, Any]]] = {}
        for c in charges:
            by_event.setdefault(c["event_id"], []).append(c)
        for event_id in sorted(self.accepted):
            if self.after_plan(event_id):
                self.sim.violate(
                    "rating_usage_after_plan_end",
                    f"event {event_id} at {self.sent[event_id].occurred} accepted; the plan"
                    f" ended at {self.plan_end}",
                )
            found = by_event.get(event_id, [])
            if len(found) != 1:
                self.sim.violate(
                    "rating_charge_count", f"event {event_id}: {len(found)} charges, not 1"
                )
        for c in charges:
            booked = [d for d in debits if d["request_id"] == c["ledger_request_id"]]
            if c["status"] == "ACKNOWLEDGED":
                if len(booked) != 1 or booked[0]["amount"] != -c["amount"]:
                    self.sim.violate(
                        "rating_charge_not_booked_once",
                        f"charge of {c['event_id']} ({c['amount']}): ledger debits {booked}",
                    )
                elif booked[0]["member_id"] != self.sent[c["event_id"]].member:
                    self.sim.violate(
                        "rating_charge_member",
                        f"charge of {c['event_id']}: its event named member"
                        f" {self.sent[c['event_id']].member!r}, its DEBIT"
                        f" {booked[0]['member_id']!r}",
                    )
            elif c["status"] in ("DENIED", "FAILED"):
                if booked:
                    self.sim.violate(
                        "rating_refused_charge_booked", f"{c['event_id']}: {c['status']} {booked}"
                    )
                member = c["status"] == "DENIED" and self.member_denial(c["event_id"], c["reason"])
                if self.blocks_available(self.sim.now()) and not member:
                    # every booking was before now
                    self.sim.violate(
                        "rating_charge_refused_while_blocks_could_be_bought",
                        f"{c['event_id']}: {c['status']} {c['reason']}",
                    )
            else:
                self.sim.violate("rating_charge_not_settled", f"{c['event_id']}: {c['status']}")
        for event_id, detail in sorted(self.undecided.items()):
            if event_id not in self.member_denied:
                self.sim.violate(
                    "rating_denied_while_blocks_could_be_bought", f"{event_id}: {detail}"
                )
        await self.check_fixed_charges()
        per_event: dict[str, int] = {}
        for d in debits:
            per_event[d["source_event_id"]] = per_event.get(d["source_event_id"], 0) + 1
        for event_id, n in sorted(per_event.items()):
            if n > 1:
                self.sim.violate("rating_event_debited_twice", f"event {event_id}: {n} DEBITs")

    async def check_fixed_charges(self) -> None:
        """One fixed-charge row per monthly period started by now (before the plan's end), and
        one ledger DEBIT per booked row, none for a refused one."""
        assert self.priced_from is not None and self.wallet is not None
        if not self.assignment_id:
            return
        expected: list[datetime] = []
        index = 0
        while (start := period_start(self.priced_from, Cadence.MONTHLY, index)) <= self.sim.now():
            if self.plan_end is not None and start >= self.plan_end:
                break
            expected.append(start)
            index += 1
        rows = await self._rating_rows(
            "SELECT period_start, status, ledger_request_id, amount FROM fixed_charges"
            " WHERE assignment_id = $1 ORDER BY period_start",
            self.assignment_id,
        )
        starts = [r["period_start"] for r in rows]
        if starts != expected:
            self.sim.violate(
                "rating_fixed_periods", f"fixed charges for {starts}, expected {expected}"
            )
        wallet = self.wallet
        debits = await checks.on_side(
            self.sim,
            lambda conn: conn.fetch(
                "SELECT request_id, amount FROM entries WHERE wallet_id = $1 AND type = 'DEBIT'"
                " AND request_id LIKE 'rating:fixed:%'",
                wallet.id,
            ),
        )
        booked: dict[str, list[Decimal]] = {}
        for d in debits:
            booked.setdefault(d["request_id"], []).append(d["amount"])
        for r in rows:
            found = booked.pop(r["ledger_request_id"], [])
            if r["status"] == "ACKNOWLEDGED" and found != [-FIXED_CHARGE]:
                self.sim.violate(
                    "rating_fixed_not_booked_once", f"period {r['period_start']}: {found}"
                )
            elif r["status"] in ("DENIED", "FAILED") and found:
                self.sim.violate(
                    "rating_fixed_refused_booked", f"period {r['period_start']}: {found}"
                )
            elif r["status"] not in ("ACKNOWLEDGED", "DENIED", "FAILED"):
                self.sim.violate(
                    "rating_fixed_not_settled", f"period {r['period_start']}: {r['status']}"
                )
        if booked:
            self.sim.violate("rating_fixed_debit_without_period", f"{sorted(booked)}")

    async def _charges(self, event_ids: list[str]) -> list[dict[str, Any]]:
        return await self._rating_rows(
            "SELECT event_id, amount, status, ledger_request_id, occurred_time,"
            " last_error AS reason FROM charges"
            " WHERE customer_id = $1 AND event_id = ANY($2::text[]) AND amount > 0",
            self.customer_id,
            event_ids,
        )

    async def _rating_rows(self, query: str, *args: Any) -> list[dict[str, Any]]:
        """Rows of the rating database on the checks' connection, again on a new one if a
        database restart (this worker's or another's on the shared server) cut it."""
        service = self.service
        assert service is not None
        for attempt in range(SIDE_ATTEMPTS):
            try:
                return [dict(r) for r in await (await service.side()).fetch(query, *args)]
            except checks.CONNECTION_LOST:
                service.drop_side()
                if attempt == SIDE_ATTEMPTS - 1:
                    raise
                await self.sim.db.ready()
        raise AssertionError("unreachable")

    async def _ledger_debits(self, event_ids: list[str]) -> list[dict[str, Any]]:
        wallet = self.wallet
        assert wallet is not None
        rows = await checks.on_side(
            self.sim,
            lambda conn: conn.fetch(
                "SELECT request_id, source_event_id, amount, member_id FROM entries"
                " WHERE wallet_id = $1 AND type = 'DEBIT' AND source_event_id = ANY($2::text[])",
                wallet.id,
                event_ids,
            ),
        )
        return [dict(r) for r in rows]
