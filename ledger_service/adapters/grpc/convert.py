"""Requests to validated commands, domain values to messages. All input validation lives here, so
bad input is refused before any transaction starts (and so writes nothing)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TypeVar

from billing.ledger.v1 import ledger_pb2 as pb
from google.protobuf.message import Message

from billing_common.enums import EnumMap
from billing_common.errors import InvalidArgument, require
from billing_common.idempotency import fingerprint
from billing_common.money import format_amount, parse_amount
from billing_common.periods import Cadence
from billing_common.protoconv import duration, timestamp, to_datetime, to_timedelta
from ledger_service.app import commands as cmd
from ledger_service.app.ports import StoredEntry
from ledger_service.domain.authorize import AuthorizeReason
from ledger_service.domain.balance import BalanceView
from ledger_service.domain.model import (
    ZERO,
    AlertKind,
    AllotmentExpiry,
    EntryType,
    EventType,
    Grant,
    GrantKind,
    GrantState,
    Hold,
    HoldState,
    OveragePolicy,
    TopUpPayment,
    TopUpState,
    Wallet,
)

T = TypeVar("T")

ID_LENGTH_MAX = 128
HOLD_TIMEOUT_DEFAULT = timedelta(hours=1)
HOLD_TIMEOUT_MAX = timedelta(days=30)
METADATA_ENTRIES_MAX = 64
GRANT_FEATURES_MAX = 32
GRACE_MAX = timedelta(days=31)
# A top-up rule's or an allotment schedule's expire_after at most (now + it must stay a date).
EXPIRE_AFTER_MAX = timedelta(days=36525)  # 100 years
_UNIT = re.compile(r"[A-Z0-9_]{1,16}")
CURRENCY = re.compile(r"[A-Z]{3}")

# Each domain enum paired once with its contract enum (billing_common/enums.py).
POLICY = EnumMap(OveragePolicy, pb.OveragePolicy, "OVERAGE_POLICY_")
KIND = EnumMap(GrantKind, pb.GrantKind, "GRANT_KIND_")
GRANT_STATE = EnumMap(GrantState, pb.GrantState, "GRANT_STATE_")
ENTRY_TYPE = EnumMap(EntryType, pb.EntryType, "ENTRY_TYPE_")
PAYMENT = EnumMap(TopUpPayment, pb.TopUpPayment, "TOP_UP_PAYMENT_")
TOPUP_STATE = EnumMap(TopUpState, pb.TopUpState, "TOP_UP_STATE_")
ALERT = EnumMap(AlertKind, pb.AlertKind, "ALERT_KIND_")
EVENT_TYPE = EnumMap(EventType, pb.WalletEventType, "WALLET_EVENT_TYPE_")
AUTHORIZE_REASON = EnumMap(AuthorizeReason, pb.AuthorizeReason, "AUTHORIZE_REASON_")
# Allotments come weekly to yearly (a daily cadence is the rating service's).
CADENCE = EnumMap(
    Cadence,
    pb.AllotmentCadence,
    "ALLOTMENT_CADENCE_",
    [Cadence.WEEKLY, Cadence.MONTHLY, Cadence.QUARTERLY, Cadence.YEARLY],
)
EXPIRY = EnumMap(AllotmentExpiry, pb.AllotmentExpiry, "ALLOTMENT_EXPIRY_")
HOLD_STATE = EnumMap(HoldState, pb.HoldState, "HOLD_STATE_")


# -- input ------------------------------------------------------------------------------------


def identifier(value: str, field: str) -> str:
    require(value, field)
    if len(value) > ID_LENGTH_MAX:
        raise InvalidArgument.field(field, f"at most {ID_LENGTH_MAX} characters", "INVALID_ID")
    return value


def idem(request: Message, method: str, prefix: str = "") -> cmd.Idem:
    # Every request of a mutating RPC has a request_id (the Message base type declares no field).
    request_id = identifier(request.request_id, prefix + "request_id")  # type: ignore[attr-defined]
    return cmd.Idem(request_id, method, fingerprint(method, request))


def metadata(value: Mapping[str, str], field: str) -> dict[str, str]:
    items = dict(value)
    if len(items) > METADATA_ENTRIES_MAX:
        raise InvalidArgument.field(
            field, f"at most {METADATA_ENTRIES_MAX} entries", "INVALID_METADATA"
        )
    return items


def member(value: str, field: str) -> str:
    """An optional pool member id ("" for none), at most 128 characters."""
    return identifier(value, field) if value else ""


def grant_features(values: Iterable[str], field: str) -> tuple[str, ...]:
    """A grant's scope: at most 32 features, each 1 to 128 characters, no repeats; sorted."""
    given = list(values)
    if len(given) > GRANT_FEATURES_MAX:
        raise InvalidArgument.field(
            field, f"at most {GRANT_FEATURES_MAX} features", "INVALID_FEATURES"
        )
    for i, name in enumerate(given):
        if not name or len(name) > ID_LENGTH_MAX:
            raise InvalidArgument.field(
                f"{field}[{i}]", f"1 to {ID_LENGTH_MAX} characters", "INVALID_FEATURES"
            )
    if len(set(given)) < len(given):
        raise InvalidArgument.field(field, "names a feature twice", "INVALID_FEATURES")
    return tuple(sorted(given))


def _unit(value: str) -> str:
    unit = require(value, "unit")
    if not _UNIT.fullmatch(unit):
        raise InvalidArgument.field(
            "unit", '1 to 16 characters of A-Z, 0-9 and _ ("CREDITS", "USD")', "INVALID_UNIT"
        )
    return unit


def create_wallet(r: pb.CreateWalletRequest) -> cmd.CreateWallet:
    unit = _unit(r.unit)
    policy = POLICY.required(r.overage_policy, "overage_policy")
    grace = to_timedelta(r, "late_event_grace_period")
    if grace is not None and not timedelta(0) <= grace <= GRACE_MAX:
        raise InvalidArgument.field(
            "late_event_grace_period",
            f"must be between 0 and {GRACE_MAX.days} days",
            "INVALID_DURATION",
        )
    return cmd.CreateWallet(
        idem=idem(r, "CreateWallet"),
        customer_id=identifier(r.customer_id, "customer_id"),
        unit=unit,
        overage_policy=policy,
        late_event_grace=grace,
        metadata=metadata(r.metadata, "metadata"),
    )


def create_grant(r: pb.CreateGrantRequest) -> cmd.CreateGrant:
    kind = KIND.required(r.kind, "kind")
    effective = to_datetime(r, "effective_time")
    expire = to_datetime(r, "expire_time")
    if effective is not None and expire is not None and expire <= effective:
        raise InvalidArgument.field(
            "expire_time", "must be after effective_time", "INVALID_TIME_RANGE"
        )
    unit_price, currency = ZERO, ""
    if r.HasField("cost_basis"):
        unit_price = parse_amount(
            r.cost_basis.unit_price or "0", "cost_basis.unit_price", allow_zero=True
        )
        currency = r.cost_basis.currency
        if currency and not CURRENCY.fullmatch(currency):
            raise InvalidArgument.field(
                "cost_basis.currency", "an ISO 4217 code such as USD", "INVALID_CURRENCY"
            )
        if unit_price > 0 and not currency:
            raise InvalidArgument.field(
                "cost_basis.currency", "is required with a unit price", "MISSING_FIELD"
            )
    return cmd.CreateGrant(
        idem=idem(r, "CreateGrant"),
        wallet_id=identifier(r.wallet_id, "wallet_id"),
        kind=kind,
        amount=parse_amount(r.amount, "amount"),
        priority=r.priority,
        effective_time=effective,
        expire_time=expire,
        cost_unit_price=unit_price,
        cost_currency=currency,
        external_reference=r.external_reference,
        description=r.description,
        metadata=metadata(r.metadata, "metadata"),
        features=grant_features(r.features, "features"),
    )


def void_grant(r: pb.VoidGrantRequest) -> cmd.VoidGrant:
    return cmd.VoidGrant(idem(r, "VoidGrant"), identifier(r.grant_id, "grant_id"), r.reason)


def debit(r: pb.DebitRequest, latest: datetime, prefix: str = "") -> cmd.Debit:
    """`latest`: the furthest future occurred_time accepted (now plus the allowed clock skew)."""
    occurred = to_datetime(r, "occurred_time", prefix + "occurred_time")
    if occurred is not None and occurred > latest:
        raise InvalidArgument.field(
            prefix + "occurred_time",
            "is more than 5 minutes in the future",
            "OCCURRED_TIME_IN_FUTURE",
        )
    if r.customer_id:
        identifier(r.customer_id, prefix + "customer_id")
    # Fingerprinted as "Debit" in batches too: a debit retried alone replays its batch result.
    return cmd.Debit(
        idem=idem(debit_content(r), "Debit", prefix),
        wallet_id=identifier(r.wallet_id, prefix + "wallet_id"),
        amount=parse_amount(r.amount, prefix + "amount"),
        occurred_time=occurred,
        feature=r.feature,
        description=r.description,
        source_event_id=r.source_event_id,
        metadata=metadata(r.metadata, prefix + "metadata"),
        member_id=member(r.member_id, prefix + "member_id"),
    )


def debit_content(r: pb.DebitRequest) -> pb.DebitRequest:
    """What a debit's idempotency fingerprint covers: everything but `customer_id`, which is a
    check made on every call (see the servicer), not something booked. So a debit first sent
    without it (by an older caller) and retried with it replays rather than conflicting."""
    if not r.customer_id:
        return r
    content = pb.DebitRequest()
    content.CopyFrom(r)
    content.ClearField("customer_id")
    return content


def refund(r: pb.RefundDebitRequest) -> cmd.Refund:
    return cmd.Refund(
        idem=idem(r, "RefundDebit"),
        entry_id=identifier(r.entry_id, "entry_id"),
        amount=parse_amount(r.amount, "amount") if r.amount else None,
        description=r.description,
    )


def _hold_timeout(r: Message, field: str) -> timedelta:
    given = to_timedelta(r, field)
    timeout = HOLD_TIMEOUT_DEFAULT if given is None else given
    if not timedelta(seconds=1) <= timeout <= HOLD_TIMEOUT_MAX:
        raise InvalidArgument.field(
            field,
            f"must be between 1 second and {HOLD_TIMEOUT_MAX.days} days",
            "INVALID_DURATION",
        )
    return timeout


def create_hold(r: pb.CreateHoldRequest) -> cmd.CreateHold:
    return cmd.CreateHold(
        idem=idem(r, "CreateHold"),
        wallet_id=identifier(r.wallet_id, "wallet_id"),
        amount=parse_amount(r.amount, "amount"),
        timeout=_hold_timeout(r, "timeout"),
        feature=r.feature,
        description=r.description,
        member_id=member(r.member_id, "member_id"),
    )


# A pure check keeps nothing, so it has no idempotency key.
_NO_IDEM = cmd.Idem("", "Authorize", b"")


def authorize(r: pb.AuthorizeRequest) -> cmd.Authorize:
    """The wallet by wallet_id, or by customer_id and unit: exactly one of the two."""
    if r.wallet_id and (r.customer_id or r.unit):
        raise InvalidArgument.field(
            "wallet_id",
            "give wallet_id, or customer_id and unit, not both",
            "INVALID_WALLET_REFERENCE",
        )
    if r.wallet_id:
        ref = cmd.WalletRef(wallet_id=identifier(r.wallet_id, "wallet_id"))
    elif r.customer_id or r.unit:
        ref = cmd.WalletRef(
            customer_id=identifier(r.customer_id, "customer_id"), unit=_unit(r.unit)
        )
    else:
        raise InvalidArgument.field(
            "wallet_id", "give wallet_id, or customer_id and unit", "INVALID_WALLET_REFERENCE"
        )
    if not r.hold and (r.HasField("hold_timeout") or r.description):
        field = "hold_timeout" if r.HasField("hold_timeout") else "description"
        raise InvalidArgument.field(field, "only with hold", "ONLY_WITH_HOLD")
    return cmd.Authorize(
        idem=idem(r, "Authorize") if r.hold else _NO_IDEM,
        wallet=ref,
        amount=parse_amount(r.amount, "amount"),
        feature=r.feature,
        hold=r.hold,
        timeout=_hold_timeout(r, "hold_timeout"),
        description=r.description,
        member_id=member(r.member_id, "member_id"),
    )


def capture_hold(r: pb.CaptureHoldRequest) -> cmd.CaptureHold:
    return cmd.CaptureHold(
        idem=idem(r, "CaptureHold"),
        hold_id=identifier(r.hold_id, "hold_id"),
        amount=parse_amount(require(r.amount, "amount"), "amount", allow_zero=True),
        description=r.description,
    )


def release_hold(r: pb.ReleaseHoldRequest) -> cmd.ReleaseHold:
    return cmd.ReleaseHold(idem(r, "ReleaseHold"), identifier(r.hold_id, "hold_id"), r.reason)


def grant_state(value: int) -> GrantState | None:
    return GRANT_STATE.optional(value, "state")


def entry_types(values: Iterable[int]) -> tuple[EntryType, ...]:
    return ENTRY_TYPE.each(values, "types")


# -- output -----------------------------------------------------------------------------------


def wallet(w: Wallet) -> pb.Wallet:
    return pb.Wallet(
        wallet_id=w.id,
        customer_id=w.customer_id,
        unit=w.unit,
        overage_policy=POLICY.out(w.overage_policy),
        late_event_grace_period=duration(w.late_event_grace),
        metadata=w.metadata,
        create_time=timestamp(w.create_time),
    )


def grant(g: Grant, at: datetime) -> pb.Grant:
    message = pb.Grant(
        grant_id=g.id,
        wallet_id=g.wallet_id,
        kind=KIND.out(g.kind),
        amount=format_amount(g.amount),
        remaining_amount=format_amount(g.remaining),
        priority=g.priority,
        effective_time=timestamp(g.effective_time),
        cost_basis=pb.CostBasis(
            unit_price=format_amount(g.cost_unit_price), currency=g.cost_currency
        ),
        external_reference=g.external_reference,
        metadata=g.metadata,
        state=GRANT_STATE.out(g.state(at)),
        create_time=timestamp(g.create_time),
        expired_amount=format_amount(g.expired_amount),
        voided_amount=format_amount(g.voided_amount),
        features=g.features,
    )
    if g.expire_time is not None:
        message.expire_time.CopyFrom(timestamp(g.expire_time))
    if g.void_time is not None:
        message.void_time.CopyFrom(timestamp(g.void_time))
    return message


def entry(s: StoredEntry) -> pb.Entry:
    e = s.entry
    return pb.Entry(
        entry_id=s.id,
        wallet_id=s.wallet_id,
        type=ENTRY_TYPE.out(e.type),
        amount=format_amount(e.amount),
        occurred_time=timestamp(e.occurred_time),
        book_time=timestamp(s.book_time),
        description=e.description,
        feature=e.feature,
        source_event_id=e.source_event_id,
        request_id=s.request_id,
        allocations=[
            pb.Allocation(
                grant_id=a.grant_id or "",
                amount=format_amount(a.amount),
                overage=a.grant_id is None,
            )
            for a in e.allocations
        ],
        available_after=format_amount(e.available_after),
        overage_after=format_amount(e.overage_after),
        related_id=e.related_id,
        actor=s.actor,
        member_id=e.member_id,
        over_budget=format_amount(e.over_budget),
    )


def balance(w: Wallet, b: BalanceView) -> pb.Balance:
    message = pb.Balance(
        wallet_id=w.id,
        as_of_time=timestamp(b.as_of),
        unit=w.unit,
        available=format_amount(b.available),
        held=format_amount(b.held),
        overage=format_amount(b.overage),
        net=format_amount(b.net),
        pending_expiry=format_amount(b.pending_expiry),
        pending_grants=format_amount(b.pending_grants),
        prepaid_available=format_amount(b.prepaid_available),
        promotional_available=format_amount(b.promotional_available),
        unscoped_available=format_amount(b.unscoped_available),
        features=[
            pb.FeatureBalance(
                feature=f.feature,
                available=format_amount(f.available),
                scoped_available=format_amount(f.scoped),
            )
            for f in b.features
        ],
    )
    for view in b.grants:
        gb = message.grants.add(
            grant_id=view.grant.id,
            kind=KIND.out(view.grant.kind),
            priority=view.grant.priority,
            remaining_amount=format_amount(view.remaining),
            state=GRANT_STATE.out(view.state),
            effective_time=timestamp(view.grant.effective_time),
            features=view.grant.features,
        )
        if view.grant.expire_time is not None:
            gb.expire_time.CopyFrom(timestamp(view.grant.expire_time))
    return message


def hold(h: Hold, at: datetime) -> pb.Hold:
    state = h.state
    if state is HoldState.ACTIVE and at >= h.expire_time:
        state = HoldState.EXPIRED  # timed out; the sweeper has not booked the release yet
    message = pb.Hold(
        hold_id=h.id,
        wallet_id=h.wallet_id,
        amount=format_amount(h.amount),
        state=HOLD_STATE.out(state),
        create_time=timestamp(h.create_time),
        expire_time=timestamp(h.expire_time),
        captured_amount=format_amount(h.captured_amount),
        feature=h.feature,
        description=h.description,
        member_id=h.member_id,
        allocations=[
            pb.Allocation(grant_id=a.grant_id or "", amount=format_amount(a.amount))
            for a in h.allocations
        ],
    )
    end = h.end_time or (h.expire_time if state is HoldState.EXPIRED else None)
    if end is not None:
        message.end_time.CopyFrom(timestamp(end))
    return message
