"""One seed's run: fresh wallets on a shared database, concurrent waves of operations chosen by the
seed, faults, and the invariants checked after every wave and at the end.

Every decision (which operations, on what, with which amounts and times, which fault, how many
event-loop turns each task yields first) comes from `random.Random(seed)` and is taken before the
wave starts, so a seed replays the same workload. What PostgreSQL and the event loop then do with
it is not fully deterministic; a seed that found a race finds it again most of the time, not
always (the replay command runs it again, `--repeat N` runs it N times).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import grpc
from billing.ledger.v1 import ledger_pb2 as pb

from billing_common.errors import Unavailable
from billing_common.money import format_amount, parse_amount
from billing_common.protoconv import duration, timestamp
from tests.sim import checks
from tests.sim.harness import RpcFailure, SimClock, Worker, terminate_backends
from tests.sim.rating import RatingScenario, is_rating_seed

STEPS_DEFAULT = 12
WAVE_OPS_MAX = 5
RETRIES_MAX = 40  # a client retrying UNAVAILABLE with the same request_id
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

# Share of waves with each fault, and of seeds with a database restart (slow: about a second).
CONNECTION_DROP_SHARE = 0.06
SERVICE_KILL_SHARE = 0.03
# Waves with a signal sweep (of which, two sweeps racing as two ledger processes would).
SIGNAL_SWEEP_SHARE = 0.3
SIGNAL_RACE_SHARE = 0.1
POOLED_WALLET_SHARE = 0.5  # wallets with members (decided by the seed's member generator)
DB_RESTART_SEED_SHARE = 0.01

OK = grpc.StatusCode.OK
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
NEVER = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


# The features usage names (debits the first three or none, holds and Authorize "job"); a grant
# is sometimes scoped to one or two of them.
FEATURES = ["api_call", "report", "gpu", "job"]


@dataclass
class WalletModel:
    id: str
    deny: bool
    grants: list[str] = field(default_factory=list)
    debits: list[tuple[str, Decimal]] = field(default_factory=list)  # (entry_id, amount)
    holds: list[tuple[str, Decimal]] = field(default_factory=list)  # (hold_id, amount)
    schedules: list[str] = field(default_factory=list)
    threshold: Decimal | None = None  # of a "below threshold" top-up rule, set once at setup
    blocks: bool = False  # block pricing (threshold 0, whole blocks bought to cover a debit)
    # A write without entries ran automation after setup (it may re-arm a top-up rule unseen).
    silent_rearm: bool = False
    blocks_end: datetime | None = None  # the subscription end the blocks are bought until
    schedule_end_requested: bool = False  # EndAllotmentSchedule was sent for one of its schedules
    rule_cleared: bool = False  # ClearTopUpRule was answered OK: no top-up may start after it
    # The wallet's top-ups listed right after the clear: every later one is a violation.
    topups_when_cleared: set[str] | None = None
    # A pooled wallet's members (set at setup): member id -> DENY (True) or ALLOW.
    members: dict[str, bool] = field(default_factory=dict)


@dataclass
class Ack:
    """A write the client saw answered: OK (with the journal entry types it must leave exactly
    once) or refused for good (it must have left nothing)."""

    method: str
    wallet_id: str
    ok: bool
    entry_type: str | None


@dataclass
class Violation:
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


Op = Callable[[], Awaitable[None]]


def last_internal_error() -> str:
    from tests.sim.runner import INTERNAL_ERRORS

    return INTERNAL_ERRORS[-1] if INTERNAL_ERRORS else "no exception logged"


def _refused_as_expected(w: WalletModel, member_id: str, result: RpcFailure) -> bool:
    """A refusal a debit or hold may get: credits short, or a DENY member's budget reached."""
    if result.reason == "MEMBER_BUDGET_EXCEEDED":
        return w.members.get(member_id, False)
    return result.reason == "INSUFFICIENT_CREDITS"


def _part(amount: Decimal, num: int, den: int) -> Decimal:
    """amount * num / den, in whole cents rounded down, at least one cent (exact arithmetic)."""
    cents = int(amount * 100) * num // den
    return Decimal(max(cents, 1)) / 100


class Simulation:
    def __init__(self, seed: int, worker: Worker, steps: int = STEPS_DEFAULT) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.worker = worker
        self.db = worker.db
        self.uri = worker.uri
        self.steps = steps
        start = EPOCH + timedelta(minutes=self.rng.randint(0, 60 * 24 * 90))
        self.clock = SimClock(start, random.Random(seed * 7919 + 1))
        self.run_id = uuid.uuid4().hex[:10]  # request ids and customers unique on a shared DB
        self._ids = 0
        self.wallets: list[WalletModel] = []
        self.acks: dict[str, Ack] = {}
        self.violations: list[Violation] = []
        self.service_up = asyncio.Event()
        self._inflight: set[asyncio.Task[Any]] = set()
        self.calls = 0
        self.touched: set[str] = set()  # wallets the current wave works on
        self.faults: list[str] = []
        # The rating service's part (tests/sim/rating.py), in a seeded share of the seeds.
        self.rating = RatingScenario(self) if is_rating_seed(seed) else None
        # Signal sweeps, from a generator of their own, so the other decisions of a seed replay
        # as they did before they were added.
        self.signal_rng = random.Random(f"signals:{seed}")
        # Pooled wallets' members and which writes name one: a generator of their own too.
        self.member_rng = random.Random(f"members:{seed}")

    # -- plumbing ---------------------------------------------------------------------------

    def rid(self) -> str:
        self._ids += 1
        return f"sim-{self.run_id}-{self._ids}"

    def violate(self, invariant: str, detail: str) -> None:
        self.violations.append(Violation(invariant, detail))

    def internal(self, method: str, failure: RpcFailure) -> None:
        """An INTERNAL or UNKNOWN answer, named after the exception behind it."""
        cause = last_internal_error() if failure.code is grpc.StatusCode.INTERNAL else ""
        kind = cause.split("(", 1)[0] or failure.code.name
        self.violate(f"internal_error:{kind}", f"{method} -> {failure} ({cause})")

    @property
    def stopped(self) -> bool:
        """A violation not known yet ends the run after its wave (what follows would be noise);
        known ones are counted and the run goes on, so they do not hide new ones."""
        from tests.sim.runner import is_known

        return any(not is_known(v.invariant) for v in self.violations)

    async def call(self, method: str, request: Any) -> Any:
        """Call the servicer as a client would: UNAVAILABLE (and a call cut by a service kill,
        whose outcome the client cannot know) is retried with the same request, so with the
        same request_id. Returns the response or the final RpcFailure."""
        last: RpcFailure | None = None
        for _ in range(RETRIES_MAX):
            await self.service_up.wait()
            service = self.worker.service
            assert service is not None
            self.calls += 1
            task = asyncio.create_task(service.call(method, request))
            self._inflight.add(task)
            await asyncio.wait({task})
            self._inflight.discard(task)
            if task.cancelled():  # the service was killed under the call: outcome unknown
                continue
            exc = task.exception()
            if exc is None:
                return task.result()
            if not isinstance(exc, RpcFailure):
                self.violate("unexpected_exception", f"{method}: {exc!r}")
                return RpcFailure(grpc.StatusCode.UNKNOWN, "EXCEPTION", repr(exc))
            if exc.code in NEVER:
                self.internal(method, exc)
                return exc
            if exc.code is not UNAVAILABLE:
                return exc
            last = exc
            await self.db.ready()  # a client backs off; here: until a restart is over
        self.violate("never_available", f"{method} still failing after retries: {last}")
        return last

    def ack(self, request_id: str, method: str, wallet_id: str, result: Any, entry: str | None):
        """Record a definitive answer to a write."""
        if isinstance(result, RpcFailure):
            if result.code is UNAVAILABLE:
                return  # unknown outcome
            if result.reason == "REQUEST_ID_CONFLICT":
                self.violate("retry_conflict", f"{method} {request_id}: {result}")
            self.acks[request_id] = Ack(method, wallet_id, False, None)
        else:
            self.acks[request_id] = Ack(method, wallet_id, True, entry)

    def wallet(self, wallet_id: str) -> WalletModel:
        return next(w for w in self.wallets if w.id == wallet_id)

    # -- random values ----------------------------------------------------------------------

    def amount(self, low: int = 1, high: int = 30) -> Decimal:
        whole = self.rng.randint(low, high)
        cents = self.rng.choice([0, 0, 0, 25, 5, 99])
        return Decimal(whole) + Decimal(cents) / 100

    def now(self) -> datetime:
        return self.clock.peek()

    # -- setup ------------------------------------------------------------------------------

    async def setup(self) -> None:
        for n in range(self.rng.randint(2, 3)):
            deny = self.rng.random() < 0.6
            request = pb.CreateWalletRequest(
                request_id=self.rid(),
                customer_id=f"sim-{self.run_id}-{n}",
                unit="CREDITS",
                overage_policy=pb.OVERAGE_POLICY_DENY if deny else pb.OVERAGE_POLICY_ALLOW_OVERAGE,
            )
            grace = self.rng.choice([None, 0, 60, 3600])
            if grace is not None:
                request.late_event_grace_period.CopyFrom(duration(timedelta(seconds=grace)))
            created = await self.call("CreateWallet", request)
            if isinstance(created, RpcFailure):
                if created.code not in NEVER:  # an INTERNAL is already reported as itself
                    self.violate("setup_failed", f"CreateWallet: {created}")
                return
            model = WalletModel(created.wallet.wallet_id, deny)
            self.wallets.append(model)
            for _ in range(self.rng.randint(1, 3)):
                await self.op_grant(model, setup=True)()
            roll = self.rng.random()
            if deny and roll < 0.3:
                await self.setup_blocks(model)
            elif roll < 0.6:
                await self.setup_topup(model)
            elif roll < 0.75:
                await self.setup_allotment(model)
            if self.rng.random() < 0.4:
                await self.op_alert_rules(model)()
                model.silent_rearm = False  # set before any top-up could be bought
            if self.member_rng.random() < POOLED_WALLET_SHARE:
                await self.setup_members(model)

    async def setup_members(self, w: WalletModel) -> None:
        """A pooled wallet: 2-3 members, each with a budget (absolute, or now and then a share
        of the pool) per UTC day, week, month or for all time, DENY or ALLOW."""
        rng = self.member_rng
        for n in range(rng.randint(2, 3)):
            request = pb.SetPoolMemberRequest(
                request_id=self.rid(),
                wallet_id=w.id,
                member_id=f"member-{n}",
                budget_period=rng.choice(
                    [
                        pb.BUDGET_PERIOD_UNSPECIFIED,
                        pb.BUDGET_PERIOD_DAY,
                        pb.BUDGET_PERIOD_WEEK,
                        pb.BUDGET_PERIOD_MONTH,
                    ]
                ),
                policy=pb.BUDGET_POLICY_DENY if rng.random() < 0.7 else pb.BUDGET_POLICY_ALLOW,
            )
            if rng.random() < 0.25:
                request.budget_share = str(rng.choice([10, 25, 50]))
            else:
                request.budget_amount = str(rng.randint(5, 60))
            result = await self.call("SetPoolMember", request)
            if isinstance(result, RpcFailure):
                if result.code not in NEVER:
                    self.violate("setup_failed", f"SetPoolMember: {result}")
                continue
            w.members[request.member_id] = request.policy == pb.BUDGET_POLICY_DENY

    def member_of(self, w: WalletModel) -> str:
        """The member a debit, hold or Authorize names ("" for none), from `member_rng`."""
        if not w.members or self.member_rng.random() < 0.3:
            return ""
        return self.member_rng.choice(sorted(w.members))

    async def setup_topup(self, w: WalletModel) -> None:
        threshold = Decimal(self.rng.choice([5, 10, 20]))
        rule = pb.TopUpRule(
            wallet_id=w.id,
            threshold=format_amount(threshold),
            kind=pb.GRANT_KIND_PREPAID,
            priority=self.rng.randint(0, 2),
            payment=pb.TOP_UP_PAYMENT_IMMEDIATE
            if self.rng.random() < 0.75
            else pb.TOP_UP_PAYMENT_ON_CONFIRMATION,
        )
        if self.rng.random() < 0.7:
            rule.amount = format_amount(self.amount(5, 40))
        else:
            rule.target_balance = format_amount(threshold + self.amount(5, 40))
        if self.rng.random() < 0.3:
            rule.daily_cap = format_amount(self.amount(20, 100))
        result = await self.call(
            "SetTopUpRule", pb.SetTopUpRuleRequest(request_id=self.rid(), rule=rule)
        )
        if not isinstance(result, RpcFailure):
            w.threshold = threshold

    async def setup_allotment(
        self,
        w: WalletModel,
        *,
        end: datetime | None = None,
        expiry: int | None = None,
        amount: Decimal | None = None,
    ) -> None:
        now = self.now()
        schedule = pb.AllotmentSchedule(
            wallet_id=w.id,
            amount=format_amount(amount or self.amount(10, 40)),
            kind=self.rng.choice([pb.GRANT_KIND_PREPAID, pb.GRANT_KIND_PROMOTIONAL]),
            priority=0,
            cadence=self.rng.choice([pb.ALLOTMENT_CADENCE_WEEKLY, pb.ALLOTMENT_CADENCE_MONTHLY]),
            expiry=expiry
            or self.rng.choice(
                [
                    pb.ALLOTMENT_EXPIRY_END_OF_PERIOD,
                    pb.ALLOTMENT_EXPIRY_AFTER_DURATION,
                    pb.ALLOTMENT_EXPIRY_NEVER,
                ]
            ),
        )
        schedule.anchor_time.CopyFrom(
            timestamp(now - timedelta(hours=self.rng.randint(1, 24 * 20)))
        )
        if schedule.expiry == pb.ALLOTMENT_EXPIRY_AFTER_DURATION:
            schedule.expire_after.CopyFrom(duration(timedelta(days=self.rng.randint(1, 40))))
        if self.rng.random() < 0.3:
            schedule.rollover_cap = format_amount(self.amount(5, 30))
        if end is not None:
            schedule.end_time.CopyFrom(timestamp(end))
        result = await self.call(
            "CreateAllotmentSchedule",
            pb.CreateAllotmentScheduleRequest(request_id=self.rid(), schedule=schedule),
        )
        if not isinstance(result, RpcFailure):
            w.schedules.append(result.schedule.schedule_id)

    async def setup_blocks(self, w: WalletModel) -> None:
        """Block top-up pricing as the README composes it: included units (an allotment expiring
        at period end, priority 0) plus blocks of N (threshold 0, IMMEDIATE, priority 1), all
        ending with the subscription."""
        end = self.now() + timedelta(days=self.rng.randint(10, 70))
        await self.setup_allotment(
            w, end=end, expiry=pb.ALLOTMENT_EXPIRY_END_OF_PERIOD, amount=self.amount(10, 30)
        )
        block = Decimal(self.rng.choice([3, 5, 7, 10, 12.5]))
        rule = pb.TopUpRule(
            wallet_id=w.id,
            threshold="0",
            amount=format_amount(block),
            kind=pb.GRANT_KIND_PREPAID,
            priority=1,
            unit_price="0.1",
            currency="USD",
            payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
        )
        rule.expire_time.CopyFrom(timestamp(end))
        if w.schedules and self.rng.random() < 0.5:
            # Bought under the subscription: the blocks end with it, also when it is ended early
            # (EndAllotmentSchedule voids what they still hold).
            rule.schedule_id = w.schedules[-1]
        result = await self.call(
            "SetTopUpRule", pb.SetTopUpRuleRequest(request_id=self.rid(), rule=rule)
        )
        if not isinstance(result, RpcFailure):
            w.blocks = True
            w.blocks_end = end
            w.threshold = Decimal(0)

    # -- operations (all choices made when the op is built, before the wave runs) ------------

    def pick_wallet(self) -> WalletModel:
        return self.rng.choice(self.wallets)

    def op_grant(self, w: WalletModel, setup: bool = False) -> Op:
        now = self.now()
        request = pb.CreateGrantRequest(
            request_id=self.rid(),
            wallet_id=w.id,
            kind=self.rng.choice([pb.GRANT_KIND_PREPAID, pb.GRANT_KIND_PROMOTIONAL]),
            amount=format_amount(self.amount(5, 60) if setup else self.amount(1, 30)),
            priority=self.rng.randint(0, 3),
        )
        if self.rng.random() < 0.25:  # scoped to some of the features debits and holds name
            request.features.extend(self.rng.sample(FEATURES, self.rng.randint(1, 2)))
        roll = self.rng.random()
        effective = None
        if roll < 0.15:
            effective = now + timedelta(seconds=self.rng.randint(1, 3 * 3600))
        elif roll < 0.3:
            effective = now - timedelta(seconds=self.rng.randint(60, 3 * 3600))
        if effective is not None:
            request.effective_time.CopyFrom(timestamp(effective))
        if self.rng.random() < 0.5:
            start = max(effective or now, now)
            request.expire_time.CopyFrom(
                timestamp(start + timedelta(seconds=self.rng.randint(30, 3 * 24 * 3600)))
            )

        async def run() -> None:
            result = await self.call("CreateGrant", request)
            self.ack(request.request_id, "CreateGrant", w.id, result, "GRANT")
            if not isinstance(result, RpcFailure):
                w.grants.append(result.grant.grant_id)
                if effective is None and result.grant.state == pb.GRANT_STATE_PENDING:
                    self.violate(
                        "response_state",
                        f"CreateGrant {request.request_id} effective now answered PENDING",
                    )
            elif result.code not in (UNAVAILABLE, *NEVER) and not (
                # the server chose "now" as effective time after a clock jump passed expire_time
                effective is None and result.reason == "INVALID_TIME_RANGE"
            ):
                self.violate("grant_refused", f"{request.request_id}: {result}")

        return run

    def _occurred(self) -> datetime | None:
        roll = self.rng.random()
        now = self.now()
        if roll < 0.15:  # a moment ago
            return now - timedelta(seconds=self.rng.randint(1, 600))
        if roll < 0.25:  # late: hours or days ago, perhaps before some grant expired
            return now - timedelta(seconds=self.rng.randint(3600, 3 * 24 * 3600))
        return None

    def debit_request(self, w: WalletModel) -> pb.DebitRequest:
        request = pb.DebitRequest(
            request_id=self.rid(),
            wallet_id=w.id,
            amount=format_amount(self.amount(1, 25)),
            feature=self.rng.choice([*FEATURES[:3], ""]),
            member_id=self.member_of(w),
        )
        occurred = self._occurred()
        if occurred is not None:
            request.occurred_time.CopyFrom(timestamp(occurred))
        return request

    def _debited(self, w: WalletModel, request: pb.DebitRequest, result: Any) -> None:
        self.ack(request.request_id, "Debit", w.id, result, "DEBIT")
        if not isinstance(result, RpcFailure):
            w.debits.append((result.entry.entry_id, parse_amount(request.amount, "amount")))
        elif result.code not in (UNAVAILABLE, *NEVER) and not _refused_as_expected(
            w, request.member_id, result
        ):
            self.violate("debit_refused", f"{request.request_id}: {result}")

    def op_debit(self, w: WalletModel) -> Op:
        request = self.debit_request(w)

        async def run() -> None:
            self._debited(w, request, await self.call("Debit", request))

        return run

    def op_batch(self) -> Op:
        items = [
            (w, self.debit_request(w))
            for w in (self.pick_wallet() for _ in range(self.rng.randint(2, 5)))
        ]
        self.touched.update(w.id for w, _ in items)
        request = pb.DebitBatchRequest(debits=[r for _, r in items])

        async def run() -> None:
            result = await self.call("DebitBatch", request)
            if isinstance(result, RpcFailure):
                return  # whole batch unanswered (retries exhausted): outcome unknown
            for (w, item), outcome in zip(items, result.results, strict=True):
                if outcome.HasField("entry"):
                    self._debited(w, item, pb.DebitResponse(entry=outcome.entry))
                    continue
                code = grpc.StatusCode.UNKNOWN
                for c in grpc.StatusCode:
                    if c.value[0] == outcome.error.code:
                        code = c
                failure = RpcFailure(code, outcome.error.reason, outcome.error.message)
                if code in NEVER:
                    self.internal("DebitBatch item", failure)
                self._debited(w, item, failure)

        return run

    def op_hold(self, w: WalletModel) -> Op:
        request = pb.CreateHoldRequest(
            request_id=self.rid(),
            wallet_id=w.id,
            amount=format_amount(self.amount(1, 25)),
            feature="job",
            member_id=self.member_of(w),
        )
        request.timeout.CopyFrom(duration(timedelta(seconds=self.rng.choice([2, 60, 600, 7200]))))

        async def run() -> None:
            result = await self.call("CreateHold", request)
            self.ack(request.request_id, "CreateHold", w.id, result, "HOLD")
            if not isinstance(result, RpcFailure):
                w.holds.append((result.hold.hold_id, parse_amount(request.amount, "amount")))
                if result.hold.state != pb.HOLD_STATE_ACTIVE:
                    self.violate(
                        "response_state",
                        f"CreateHold {request.request_id} answered state"
                        f" {pb.HoldState.Name(result.hold.state)}",
                    )
            elif result.code not in (UNAVAILABLE, *NEVER) and not _refused_as_expected(
                w, request.member_id, result
            ):
                self.violate("hold_refused", f"{request.request_id}: {result}")

        return run

    def op_authorize(self, w: WalletModel) -> Op:
        """Authorize, with a hold (three times in four) or a pure check."""
        amount = self.amount(1, 25)
        request = pb.AuthorizeRequest(
            wallet_id=w.id,
            amount=format_amount(amount),
            feature="job",
            hold=self.rng.random() < 0.75,
            member_id=self.member_of(w),
        )
        if request.hold:
            request.request_id = self.rid()
            seconds = self.rng.choice([2, 60, 600, 7200])
            request.hold_timeout.CopyFrom(duration(timedelta(seconds=seconds)))

        async def run() -> None:
            result = await self.call("Authorize", request)
            if isinstance(result, RpcFailure):
                if result.code not in (UNAVAILABLE, *NEVER):
                    self.violate("authorize_refused", f"{request}: {result}")
                if request.hold:
                    self.ack(request.request_id, "Authorize", w.id, result, None)
                return
            checks.authorize_answer(self, w, amount, result, request.member_id)
            if not request.hold:
                return
            # A denial writes nothing: it must have left no entry, like a refused write.
            allowed = result.allowed
            self.acks[request.request_id] = Ack(
                "Authorize", w.id, allowed, "HOLD" if allowed else None
            )
            if not allowed:
                return
            w.holds.append(
                (result.hold.hold_id, parse_amount(result.hold.amount, "amount", allow_zero=True))
            )
            if result.hold.state != pb.HOLD_STATE_ACTIVE:
                self.violate(
                    "response_state",
                    f"Authorize {request.request_id} answered hold state"
                    f" {pb.HoldState.Name(result.hold.state)}",
                )

        return run

    def op_capture(self, w: WalletModel) -> Op:
        hold_id, held = self.rng.choice(w.holds)
        amount = _part(held, *self.rng.choice([(1, 2), (1, 1), (1, 1), (3, 2)]))
        request = pb.CaptureHoldRequest(
            request_id=self.rid(), hold_id=hold_id, amount=format_amount(amount)
        )

        async def run() -> None:
            result = await self.call("CaptureHold", request)
            self.ack(request.request_id, "CaptureHold", w.id, result, "CAPTURE")
            if (
                isinstance(result, RpcFailure)
                and result.reason == "INSUFFICIENT_CREDITS"
                and amount <= held
            ):
                why = await checks.hold_uncapturable_reason(self, hold_id)
                self.violate(why, f"capture of {amount} of hold {hold_id} (held {held}): {result}")

        return run

    def op_release(self, w: WalletModel) -> Op:
        hold_id, _ = self.rng.choice(w.holds)
        request = pb.ReleaseHoldRequest(request_id=self.rid(), hold_id=hold_id)

        async def run() -> None:
            result = await self.call("ReleaseHold", request)
            self.ack(request.request_id, "ReleaseHold", w.id, result, "RELEASE")

        return run

    def op_refund(self, w: WalletModel) -> Op:
        entry_id, debited = self.rng.choice(w.debits)
        request = pb.RefundDebitRequest(request_id=self.rid(), entry_id=entry_id)
        if self.rng.random() < 0.6:
            request.amount = format_amount(_part(debited, 1, self.rng.choice([2, 4])))

        async def run() -> None:
            result = await self.call("RefundDebit", request)
            self.ack(request.request_id, "RefundDebit", w.id, result, "REFUND")

        return run

    def op_void(self, w: WalletModel) -> Op:
        grant_id = self.rng.choice(w.grants)
        request = pb.VoidGrantRequest(request_id=self.rid(), grant_id=grant_id, reason="sim")

        async def run() -> None:
            result = await self.call("VoidGrant", request)
            self.ack(request.request_id, "VoidGrant", w.id, result, "VOID")

        return run

    def op_expiry(self, w: WalletModel) -> Op:
        async def run() -> None:
            await self.call("RunExpiry", pb.RunExpiryRequest(wallet_id=w.id))

        return run

    def op_settle_topup(self, w: WalletModel) -> Op:
        confirm = self.rng.random() < 0.7
        request_id = self.rid()

        async def run() -> None:
            listed = await self.call("ListTopUps", pb.ListTopUpsRequest(wallet_id=w.id))
            if isinstance(listed, RpcFailure):
                return
            pending = [t for t in listed.top_ups if t.state == pb.TOP_UP_STATE_PENDING]
            if not pending:
                return
            top_up_id = pending[0].top_up_id
            if confirm:
                request = pb.ConfirmTopUpRequest(request_id=request_id, top_up_id=top_up_id)
                result = await self.call("ConfirmTopUp", request)
                self.ack(request_id, "ConfirmTopUp", w.id, result, "GRANT")
            else:
                failed = pb.FailTopUpRequest(
                    request_id=request_id, top_up_id=top_up_id, reason="card"
                )
                result = await self.call("FailTopUp", failed)
                self.ack(request_id, "FailTopUp", w.id, result, None)

        return run

    def op_end_schedule(self, w: WalletModel) -> Op:
        schedule_id = self.rng.choice(w.schedules)
        request = pb.EndAllotmentScheduleRequest(request_id=self.rid(), schedule_id=schedule_id)
        if self.rng.random() < 0.5:
            request.end_time.CopyFrom(
                timestamp(self.now() + timedelta(hours=self.rng.randint(1, 48)))
            )

        async def run() -> None:
            w.silent_rearm = True  # may write nothing to the journal yet run automation
            w.schedule_end_requested = True
            await self.call("EndAllotmentSchedule", request)

        return run

    def op_clear_topup_rule(self, w: WalletModel) -> Op:
        request = pb.ClearTopUpRuleRequest(request_id=self.rid(), wallet_id=w.id)

        async def run() -> None:
            w.silent_rearm = True  # writes no entry, yet runs automation (alert rules re-arm)
            result = await self.call("ClearTopUpRule", request)
            if isinstance(result, RpcFailure):
                return  # NOT_FOUND once cleared; an outage is the harness's to report
            w.rule_cleared = True
            rows = await checks.on_side(
                self, lambda conn: conn.fetch("SELECT id FROM topups WHERE wallet_id = $1", w.id)
            )
            w.topups_when_cleared = {r["id"] for r in rows}

        return run

    def op_alert_rules(self, w: WalletModel) -> Op:
        rules = [
            pb.AlertRule(kind=pb.ALERT_KIND_ABSOLUTE, threshold=format_amount(self.amount(1, 30))),
            pb.AlertRule(kind=pb.ALERT_KIND_PERCENT, threshold=str(self.rng.choice([10, 25, 50]))),
            pb.AlertRule(kind=pb.ALERT_KIND_DEPLETED),
        ]
        request = pb.SetAlertRulesRequest(request_id=self.rid(), wallet_id=w.id, rules=rules)

        async def run() -> None:
            w.silent_rearm = True
            await self.call("SetAlertRules", request)

        return run

    def op_clock_jump(self) -> Op:
        self.touched.update(w.id for w in self.wallets)  # time moves every wallet
        roll = self.rng.random()
        if roll < 0.6:
            delta = timedelta(seconds=self.rng.randint(1, 600))
        elif roll < 0.9:
            delta = timedelta(seconds=self.rng.randint(3600, 2 * 24 * 3600))
        else:  # over a month boundary (allotment periods, caps, subscription ends)
            delta = timedelta(days=self.rng.randint(20, 40))

        async def run() -> None:
            self.clock.advance(delta)

        return run

    def op_signals(self) -> Op:
        """A signal sweep of the seed's wallets, as the sweeper runs it (no RPC does): a
        database fault may cut it (the sweeper runs again at its next tick), nothing else."""
        self.touched.update(w.id for w in self.wallets)
        ids = [w.id for w in self.wallets]

        async def run() -> None:
            await self.service_up.wait()
            service = self.worker.service
            assert service is not None
            task = asyncio.create_task(service.servicer.app.run_signals(ids))
            self._inflight.add(task)
            await asyncio.wait({task})
            self._inflight.discard(task)
            if task.cancelled():  # the service was killed under it
                return
            exc = task.exception()
            if exc is not None and not isinstance(exc, Unavailable):
                self.violate("signal_sweep_failed", repr(exc))

        return run

    def signal_ops(self) -> list[tuple[int, Op]]:
        """None, one or (two ledger processes at once) two signal sweeps for a wave."""
        roll = self.signal_rng.random()
        count = 2 if roll < SIGNAL_RACE_SHARE else 1 if roll < SIGNAL_SWEEP_SHARE else 0
        return [(self.signal_rng.randint(0, 3), self.op_signals()) for _ in range(count)]

    def pick_op(self, focus: WalletModel | None) -> Op:
        w = focus or self.pick_wallet()
        self.touched.add(w.id)
        choices: list[tuple[float, Callable[[], Op]]] = [
            (3, lambda: self.op_debit(w)),
            (1.5, lambda: self.op_hold(w)),
            (1, lambda: self.op_authorize(w)),
            (1, lambda: self.op_grant(w)),
            (0.8, self.op_batch),
            (0.5, lambda: self.op_expiry(w)),
            (0.6, self.op_clock_jump),
        ]
        if w.holds:
            choices += [(2, lambda: self.op_capture(w)), (0.6, lambda: self.op_release(w))]
        if w.debits:
            choices.append((0.7, lambda: self.op_refund(w)))
        if w.grants:
            choices.append((0.3, lambda: self.op_void(w)))
        if w.threshold is not None and not w.blocks:
            choices.append((0.4, lambda: self.op_settle_topup(w)))
        if w.schedules:
            choices.append((0.05, lambda: self.op_end_schedule(w)))
        choices.append((0.05, lambda: self.op_alert_rules(w)))
        if self.rating is not None and self.rating.wallet is not None:
            choices += [(3, self.rating.op_ingest), (1, self.rating.op_forward)]
            if self.rating.plan_end is None:
                choices.append((0.3, self.rating.op_end_plan))
        if w.threshold is not None and not w.blocks and not w.rule_cleared:
            choices.append((0.2, lambda: self.op_clear_topup_rule(w)))
        total = sum(weight for weight, _ in choices)
        pick = self.rng.uniform(0, total)
        for weight, build in choices:
            pick -= weight
            if pick <= 0:
                return build()
        return choices[-1][1]()

    # -- faults -----------------------------------------------------------------------------

    def fault_connection_drop(self) -> Op:
        pick = random.Random(self.rng.random())

        async def run() -> None:
            if await terminate_backends(self.uri, only_one=pick):
                self.faults.append("connection_drop")

        return run

    def fault_service_kill(self) -> Op:
        async def run() -> None:
            self.faults.append("service_kill")
            self.service_up.clear()
            old = self.worker.service
            assert old is not None
            for task in list(self._inflight):
                task.cancel()
            await old.kill()
            await terminate_backends(self.uri)  # what a dead process leaves is closed by PG
            self.worker.service = None
            await self.worker.ensure_service()
            self.service_up.set()

        return run

    def fault_db_restart(self) -> Op:
        async def run() -> None:
            self.faults.append("db_restart")
            await self.db.restart()  # calls in flight fail meanwhile and are retried
            await self.worker.drop_side()
            if self.rating is not None and self.rating.service is not None:
                self.rating.service.drop_side()

        return run

    # -- the run ----------------------------------------------------------------------------

    async def _yielding(self, turns: int, op: Op) -> None:
        for _ in range(turns):
            await asyncio.sleep(0)  # an event-loop turn, chosen by the seed: interleaving
        await op()

    async def wave(self, ops: list[tuple[int, Op]]) -> None:
        await asyncio.gather(*(self._yielding(turns, op) for turns, op in ops))

    async def run(self) -> list[Violation]:
        self.worker.clock.current = self.clock
        await self.worker.ensure_service()
        self.service_up.set()
        restart_at = (
            self.rng.randrange(self.steps)
            if self.db.can_restart and self.rng.random() < self.worker.db_restart_share
            else -1
        )
        try:
            await self.setup()
            if self.rating is not None and not self.stopped:
                await self.rating.setup()
            if not self.stopped:
                await checks.after_step(self)
            for step in range(self.steps):
                if self.stopped:
                    break
                focus = self.rng.choice(self.wallets) if self.rng.random() < 0.6 else None
                ops = [
                    (self.rng.randint(0, 3), self.pick_op(focus))
                    for _ in range(self.rng.randint(1, WAVE_OPS_MAX))
                ]
                roll = self.rng.random()
                faulted = step == restart_at or roll < CONNECTION_DROP_SHARE + SERVICE_KILL_SHARE
                if faulted:
                    self.touched.update(w.id for w in self.wallets)
                if step == restart_at:
                    ops.append((self.rng.randint(0, 3), self.fault_db_restart()))
                elif roll < CONNECTION_DROP_SHARE:
                    ops.append((self.rng.randint(0, 6), self.fault_connection_drop()))
                elif roll < CONNECTION_DROP_SHARE + SERVICE_KILL_SHARE:
                    ops.append((self.rng.randint(0, 6), self.fault_service_kill()))
                await self.wave(ops + self.signal_ops())
                if not self.stopped:
                    await checks.after_step(self, self.touched, verify_rpc=faulted)
                self.touched = set()
            if self.rating is not None and not self.stopped:
                await self.rating.check()
            if not self.stopped:
                await checks.at_end(self)
        finally:
            # Nothing of this seed may run on into the next (its group commits included).
            await asyncio.gather(*self._inflight, return_exceptions=True)
            self.worker.clock.current = None
        return self.violations
