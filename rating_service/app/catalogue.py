"""The catalogue use cases: meters, prices (versioned), plans and plan assignments. Each write
is one transaction, idempotent by request_id (`Context.idempotent`)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from billing_common.errors import InvalidArgument, RequestIdConflict, Violation
from rating_service.app import commands as cmd
from rating_service.app.context import Context
from rating_service.app.ports import LedgerUnavailable
from rating_service.app.records import StoredPlan, StoredPrice
from rating_service.app.stores import RatingStore
from rating_service.domain import tenancy
from rating_service.domain.aggregation import NEEDS_PROPERTY, Aggregation
from rating_service.domain.errors import (
    AssignmentAlreadyEnded,
    AssignmentOverlap,
    CustomerNotFound,
    EffectiveTimeInPast,
    MeterKeyAlreadyExists,
    MeterNotFound,
    PlanNotFound,
    PriceNotFound,
    PriceVersionOverlap,
    RequestInProgress,
    WalletCustomerMismatch,
    WalletNotFound,
)
from rating_service.domain.events import ID_CHARS_MAX
from rating_service.domain.meters import Meter
from rating_service.domain.model import (
    Assignment,
    CommitmentPeriod,
    Plan,
    PriceVersion,
    assignment_at,
)
from rating_service.domain.pricing import validate

# What these use cases can raise (tests/unit/test_use_case_errors.py checks it against the code).
RAISES = (
    InvalidArgument,
    RequestIdConflict,
    RequestInProgress,
    MeterKeyAlreadyExists,
    MeterNotFound,
    PriceNotFound,
    PriceVersionOverlap,
    EffectiveTimeInPast,
    PlanNotFound,
    AssignmentOverlap,
    AssignmentAlreadyEnded,
    WalletNotFound,
    WalletCustomerMismatch,
    LedgerUnavailable,  # the wallet of a new assignment is asked of the ledger
    CustomerNotFound,  # a plan assigned to a customer outside the caller's tenant binding
)

PLAN_PRICES_MAX = 100
FILTERS_MAX = 20
FILTER_CHARS_MAX = 1000
_KEY = re.compile(r"[a-z0-9_.\-]{1,64}")
_UNIT = re.compile(r"[A-Z0-9_]{1,16}")


def new_id() -> str:
    return str(uuid.uuid4())


def not_in_past(when: datetime, now: datetime, field: str, *, backfill: bool = False) -> None:
    """Price versions and plan assignments take effect now or later, never in the past: charges
    already made are never rewritten (and events of the past are not priced differently from
    the ones next to them that were rated before the change). Backfill (an admin importing
    history) skips this rule only: a version or assignment must still start after every event
    already rated by the price or of the customer, so no charge made is ever re-priced."""
    if when < now and not backfill:
        raise EffectiveTimeInPast(
            f"{field} is before now ({now.isoformat()})",
            violations=[Violation(field, "must not be in the past")],
        )


def _no_assignment(customer_id: str) -> CustomerNotFound:
    """A customer with no plan assignment to end: as a customer the caller may not see."""
    return CustomerNotFound(
        f"customer {customer_id!r} has no plan assignment",
        violations=[Violation("customer_id", "no plan assignment")],
    )


def require_unit(unit: str, field: str) -> str:
    if not _UNIT.fullmatch(unit):
        raise InvalidArgument.field(field, "1 to 16 characters of A-Z, 0-9 and _", "INVALID_UNIT")
    return unit


def _check_meter(c: cmd.NewMeter) -> None:
    """A new meter's rules (InvalidArgument naming the field): its key, event type, property and
    filters."""
    if not _KEY.fullmatch(c.key):
        raise InvalidArgument.field(
            "key", "1 to 64 characters of a-z, 0-9, _, - and .", "INVALID_METER_KEY"
        )
    if not c.event_type:
        raise InvalidArgument.field("event_type", "is required", "MISSING_FIELD")
    if len(c.event_type) > ID_CHARS_MAX:
        # The same limit as an event's type: a longer one could never match an event.
        raise InvalidArgument.field(
            "event_type", f"at most {ID_CHARS_MAX} characters", "INVALID_ID"
        )
    if c.aggregation in NEEDS_PROPERTY and not c.value_property:
        raise InvalidArgument.field(
            "value_property", f"{c.aggregation} needs a property", "MISSING_FIELD"
        )
    if c.aggregation == Aggregation.COUNT and c.value_property:
        raise InvalidArgument.field(
            "value_property", "COUNT aggregates no property", "INVALID_ARGUMENT"
        )
    if len(c.filters) > FILTERS_MAX:
        raise InvalidArgument.field("filters", f"at most {FILTERS_MAX}", "INVALID_FILTER")
    for k, v in c.filters.items():
        if not k or len(k) > FILTER_CHARS_MAX or len(v) > FILTER_CHARS_MAX:
            raise InvalidArgument.field(
                "filters",
                f"property names of 1 to {FILTER_CHARS_MAX} characters, values up to as many",
                "INVALID_FILTER",
            )


class Catalogue:
    def __init__(self, context: Context) -> None:
        self.context = context

    # -- meters -----------------------------------------------------------------------------

    async def create_meter(
        self,
        idem: cmd.Idem,
        c: cmd.NewMeter,
        encode: Callable[[Meter, datetime], bytes],
        actor: str,
    ) -> bytes:
        _check_meter(c)
        meter = Meter(
            new_id(),
            c.key,
            c.event_type,
            c.aggregation,
            c.value_property,
            dict(c.filters),
            c.description or c.key,
        )

        async def work(repo: RatingStore) -> bytes:
            now = self.context.clock.now()
            if not await repo.insert_meter(meter, now, actor):
                raise MeterKeyAlreadyExists(f"a meter with key {c.key!r} exists")
            return encode(meter, now)

        return await self.context.idempotent(idem, work)

    async def get_meter(self, meter_id: str) -> tuple[Meter, datetime, int]:
        found = await self.context.read(lambda repo: repo.get_meter(meter_id))
        if found is None:
            raise MeterNotFound(f"meter {meter_id!r} does not exist")
        return found

    async def list_meters(self, after_seq: int, limit: int) -> list[tuple[Meter, datetime, int]]:
        return await self.context.read(lambda repo: repo.list_meters(after_seq, limit))

    # -- prices -----------------------------------------------------------------------------

    async def create_price(
        self,
        idem: cmd.Idem,
        c: cmd.NewPrice,
        encode: Callable[[StoredPrice], bytes],
        actor: str,
    ) -> bytes:
        validate(c.pricing)
        require_unit(c.unit, "unit")

        async def work(repo: RatingStore) -> bytes:
            now = self.context.clock.now()
            effective = c.effective_time or now
            not_in_past(effective, now, "effective_time", backfill=c.backfill)
            if c.price_id:
                await repo.lock("price", c.price_id)
                versions = (await repo.versions_of([c.price_id]))[c.price_id]
                if not versions:
                    raise PriceNotFound(f"price {c.price_id!r} does not exist")
                last = versions[-1]
                if c.meter_id and c.meter_id != last.version.meter_id:
                    raise InvalidArgument.field(
                        "meter_id", "a new version prices the same meter", "PRICE_METER_MISMATCH"
                    )
                if c.unit != last.unit:
                    raise InvalidArgument.field(
                        "unit", f"the price is in {last.unit}", "PRICE_UNIT_MISMATCH"
                    )
                if effective <= max(v.version.effective_time for v in versions):
                    raise PriceVersionOverlap(
                        "effective_time must be after every existing version's",
                        violations=[Violation("effective_time", "overlaps an existing version")],
                    )
                # Events up to future_skew ahead of now are accepted: one already rated at or
                # after `effective` would now fall under the new version.
                if await repo.rated_since("price_id", c.price_id, effective):
                    raise EffectiveTimeInPast(
                        "events at or after effective_time were already rated by this price",
                        violations=[Violation("effective_time", "events after it are rated")],
                    )
                version = PriceVersion(
                    c.price_id,
                    last.version.version + 1,
                    last.version.meter_id,
                    effective,
                    c.pricing,
                )
            else:
                if not c.meter_id:
                    raise InvalidArgument.field("meter_id", "is required", "MISSING_FIELD")
                if await repo.get_meter(c.meter_id) is None:
                    raise MeterNotFound(
                        f"meter {c.meter_id!r} does not exist",
                        violations=[Violation("meter_id", "unknown meter")],
                    )
                version = PriceVersion(new_id(), 1, c.meter_id, effective, c.pricing)
            await repo.insert_price_version(version, c.unit, now, actor)
            return encode(StoredPrice(version, c.unit, now, 0))

        return await self.context.idempotent(idem, work)

    async def list_prices(
        self, meter_id: str, price_id: str, after_seq: int, limit: int
    ) -> list[StoredPrice]:
        return await self.context.read(
            lambda repo: repo.list_prices(meter_id, price_id, after_seq, limit)
        )

    # -- plans ------------------------------------------------------------------------------

    async def create_plan(
        self,
        idem: cmd.Idem,
        c: cmd.NewPlan,
        encode: Callable[[StoredPlan], bytes],
        actor: str,
    ) -> bytes:
        require_unit(c.unit, "unit")
        if len(c.prices) > PLAN_PRICES_MAX:
            raise InvalidArgument.field("prices", f"at most {PLAN_PRICES_MAX}", "TOO_MANY_PRICES")
        if c.billing_anchor is not None and c.billing_anchor.tzinfo is None:
            raise AssertionError("timestamps are converted to aware UTC datetimes")
        if c.commitment_period != CommitmentPeriod.PER_PERIOD and c.minimum_commitment <= 0:
            raise InvalidArgument.field(
                "minimum_commitment",
                f"commitment_period {c.commitment_period} needs a minimum_commitment",
                "MISSING_FIELD",
            )
        plan = Plan(
            new_id(),
            c.name,
            c.cadence,
            c.billing_anchor,
            c.fixed_charge,
            c.prices,
            c.fixed_charge_collection,
            c.minimum_commitment,
            c.commitment_period,
            c.prorate_fixed_charge,
        )

        async def work(repo: RatingStore) -> bytes:
            versions = await repo.versions_of([p.price_id for p in c.prices])
            seen_meters: set[str] = set()
            for i, p in enumerate(c.prices):
                found = versions.get(p.price_id) or []
                if not found:
                    raise PriceNotFound(
                        f"price {p.price_id!r} does not exist",
                        violations=[Violation(f"prices[{i}].price_id", "unknown price")],
                    )
                if found[0].unit != c.unit:
                    raise InvalidArgument.field(
                        f"prices[{i}].price_id",
                        f"the price is in {found[0].unit}, not {c.unit}",
                        "PRICE_UNIT_MISMATCH",
                    )
                meter_id = found[0].version.meter_id
                if meter_id in seen_meters:
                    raise InvalidArgument.field(
                        f"prices[{i}].price_id", "at most one price per meter", "DUPLICATE_METER"
                    )
                seen_meters.add(meter_id)
            now = self.context.clock.now()
            await repo.insert_plan(plan, c.unit, now, actor)
            return encode(StoredPlan(plan, c.unit, now))

        return await self.context.idempotent(idem, work)

    async def get_plan(self, plan_id: str) -> StoredPlan:
        found = await self.context.read(lambda repo: repo.plans_by_ids([plan_id]))
        if plan_id not in found:
            raise PlanNotFound(f"plan {plan_id!r} does not exist")
        return found[plan_id]

    async def assign_plan(
        self,
        idem: cmd.Idem,
        c: cmd.NewAssignment,
        encode: Callable[[Assignment, datetime], bytes],
        customers: tenancy.Customers,
        actor: str,
    ) -> bytes:
        """Assign a plan. A customer outside `customers` does not exist for the caller
        (CUSTOMER_NOT_FOUND, nothing claimed or written); nor does a wallet of one
        (WALLET_NOT_FOUND, as for a wallet the ledger does not have)."""
        if not tenancy.may_see(customers, c.customer_id):
            raise CustomerNotFound(
                f"customer {c.customer_id!r} does not exist",
                violations=[Violation("customer_id", "unknown customer")],
            )

        async def work(repo: RatingStore) -> bytes:
            now = self.context.clock.now()
            start = c.start_time or now
            not_in_past(start, now, "start_time", backfill=c.backfill)
            found = await repo.plans_by_ids([c.plan_id])
            if c.plan_id not in found:
                raise PlanNotFound(
                    f"plan {c.plan_id!r} does not exist",
                    violations=[Violation("plan_id", "unknown plan")],
                )
            # A wrong wallet would make every charge fail at the ledger (or, another customer's,
            # spend someone else's credits): check it once, here.
            wallet = await self.context.ledger.wallet(c.wallet_id)
            if wallet is None or not tenancy.may_see(customers, wallet.customer_id):
                raise WalletNotFound(
                    f"the ledger has no wallet {c.wallet_id!r}",
                    violations=[Violation("wallet_id", "unknown wallet")],
                )
            if wallet.customer_id != c.customer_id:
                raise WalletCustomerMismatch(
                    f"wallet {c.wallet_id!r} does not belong to customer {c.customer_id!r}",
                    violations=[Violation("wallet_id", "belongs to another customer")],
                )
            if wallet.unit != found[c.plan_id].unit:
                raise InvalidArgument.field(
                    "wallet_id",
                    f"the wallet is in {wallet.unit}, the plan in {found[c.plan_id].unit}",
                    "WALLET_UNIT_MISMATCH",
                )
            await repo.lock("customer", c.customer_id)
            existing = (await repo.assignments_of([c.customer_id]))[c.customer_id]
            if existing and start <= existing[-1].start_time:
                raise AssignmentOverlap(
                    "start_time must be after the customer's latest assignment "
                    f"({existing[-1].start_time.isoformat()})"
                )
            ended = existing[-1].end_time if existing else None
            if ended is not None and start < ended:
                # The ended plan's last period (and its invoice) runs to its end: a new plan
                # starts at or after it, never inside it.
                raise AssignmentOverlap(
                    f"start_time must not be before the end of the customer's plan "
                    f"({ended.isoformat()})"
                )
            if await repo.rated_since("customer_id", c.customer_id, start):
                raise EffectiveTimeInPast(
                    "events at or after start_time were already rated under the current plan",
                    violations=[Violation("start_time", "events after it are rated")],
                )
            assignment = Assignment(new_id(), c.customer_id, c.plan_id, c.wallet_id, start)
            await repo.insert_assignment(assignment, now, actor)
            return encode(assignment, now)

        return await self.context.idempotent(idem, work)

    async def list_plans(self, after_seq: int, limit: int) -> list[tuple[StoredPlan, int]]:
        return await self.context.read(lambda repo: repo.list_plans(after_seq, limit))

    async def plan_assignment(
        self, customer_id: str, at: datetime | None, customers: tenancy.Customers
    ) -> tuple[Assignment, datetime]:
        """The customer's assignment in force at `at` (now when None) and when it was created.
        No plan then is CUSTOMER_NOT_FOUND, as for GetUsage and invoices; a customer outside
        `customers` has none."""

        async def work(repo: RatingStore) -> tuple[Assignment, datetime]:
            when = at or self.context.clock.now()
            visible = tenancy.may_see(customers, customer_id)
            assigned = (await repo.assignments_of([customer_id]))[customer_id] if visible else []
            found = assignment_at(assigned, when)
            if found is None:
                raise CustomerNotFound(
                    f"customer {customer_id!r} has no plan at {when.isoformat()}",
                    violations=[Violation("customer_id", "no plan assignment at that time")],
                )
            created = await repo.assignment_create_times([found.id])
            return found, created[found.id]

        return await self.context.read(work)

    async def end_assignment(
        self,
        idem: cmd.Idem,
        customer_id: str,
        end_time: datetime | None,
        encode: Callable[[Assignment, datetime], bytes],
        customers: tenancy.Customers,
        actor: str,
    ) -> bytes:
        """End the customer's latest assignment at `end_time` (now when None). From then on the
        customer has no plan: usage at or after it is rejected (CUSTOMER_NOT_FOUND), as for a
        customer never assigned one, and the plan's last billing period (its invoice) ends there.
        The end is never in the past nor at or before the assignment's start, and no event at
        or after it may have been rated (EFFECTIVE_TIME_IN_PAST): no charge made is undone. An
        assignment ends once (ASSIGNMENT_ALREADY_ENDED). A customer outside `customers` has no
        assignment (nothing claimed or written)."""
        if not tenancy.may_see(customers, customer_id):
            raise _no_assignment(customer_id)

        async def work(repo: RatingStore) -> bytes:
            await repo.lock("customer", customer_id)
            now = self.context.clock.now()  # under the lock
            end = end_time or now
            not_in_past(end, now, "end_time")
            assigned = (await repo.assignments_of([customer_id]))[customer_id]
            if not assigned:
                raise _no_assignment(customer_id)
            latest = assigned[-1]
            if latest.end_time is not None:
                raise AssignmentAlreadyEnded(
                    f"the customer's plan already ends at {latest.end_time.isoformat()}"
                )
            if end <= latest.start_time:
                raise AssignmentOverlap(
                    "end_time must be after the start of the customer's latest assignment "
                    f"({latest.start_time.isoformat()})",
                    violations=[Violation("end_time", "not after the assignment's start")],
                )
            if await repo.rated_since("customer_id", customer_id, end):
                raise EffectiveTimeInPast(
                    "events at or after end_time were already rated under the plan",
                    violations=[Violation("end_time", "events after it are rated")],
                )
            await repo.end_assignment(latest.id, end, actor)
            await repo.shorten_invoices(latest.id, end)
            created = await repo.assignment_create_times([latest.id])
            return encode(replace(latest, end_time=end), created[latest.id])

        return await self.context.idempotent(idem, work)
