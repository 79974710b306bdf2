"""Command-line spellings of the proto enums (lower case, without the type prefix)."""

from __future__ import annotations

from enum import StrEnum
from typing import cast

from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as rpb
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

# (The stubs type a generated enum's `Value` as a bare int: the casts below name its enum.)


class Overage(StrEnum):
    deny = "deny"
    allow = "allow"

    @property
    def proto(self) -> lpb.OveragePolicy:
        return {
            Overage.deny: lpb.OVERAGE_POLICY_DENY,
            Overage.allow: lpb.OVERAGE_POLICY_ALLOW_OVERAGE,
        }[self]


class Kind(StrEnum):
    prepaid = "prepaid"
    promotional = "promotional"

    @property
    def proto(self) -> lpb.GrantKind:
        return {Kind.prepaid: lpb.GRANT_KIND_PREPAID, Kind.promotional: lpb.GRANT_KIND_PROMOTIONAL}[
            self
        ]


class GrantState(StrEnum):
    active = "active"
    pending = "pending"
    expired = "expired"
    voided = "voided"
    consumed = "consumed"

    @property
    def proto(self) -> lpb.GrantState:
        return cast(lpb.GrantState, lpb.GrantState.Value(f"GRANT_STATE_{self.value.upper()}"))


class EntryType(StrEnum):
    grant = "grant"
    debit = "debit"
    refund = "refund"
    expiry = "expiry"
    void = "void"
    adjustment = "adjustment"
    hold = "hold"
    capture = "capture"
    release = "release"
    overage_settlement = "overage_settlement"

    @property
    def proto(self) -> lpb.EntryType:
        return cast(lpb.EntryType, lpb.EntryType.Value(f"ENTRY_TYPE_{self.value.upper()}"))


class InvoiceStatus(StrEnum):
    draft = "draft"
    final = "final"

    @property
    def proto(self) -> rpb.InvoiceStatus:
        status = rpb.InvoiceStatus.Value(f"INVOICE_STATUS_{self.value.upper()}")
        return cast(rpb.InvoiceStatus, status)


# --- a proto enum from a choice -----------------------------------------------------------------
# The choices below are spelled as the enum value without its prefix, lower case, "_" as "-".


def _value(enum_type: EnumTypeWrapper, prefix: str, choice: StrEnum) -> int:
    return int(enum_type.Value(prefix + choice.value.upper().replace("-", "_")))


class Aggregation(StrEnum):
    sum = "sum"
    event_count = "count"  # (a member named count would hide str.count)
    unique_count = "unique-count"
    max = "max"
    latest = "latest"

    @property
    def proto(self) -> rpb.Aggregation:
        return cast(rpb.Aggregation, _value(rpb.Aggregation, "AGGREGATION_", self))


class Model(StrEnum):
    per_unit = "per-unit"
    package = "package"
    graduated = "graduated"
    volume = "volume"
    stair_step = "stair-step"

    @property
    def proto(self) -> rpb.PricingModel:
        return cast(rpb.PricingModel, _value(rpb.PricingModel, "PRICING_MODEL_", self))


class Cadence(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    quarterly = "quarterly"
    yearly = "yearly"

    @property
    def proto(self) -> rpb.Cadence:
        return cast(rpb.Cadence, _value(rpb.Cadence, "CADENCE_", self))


class FixedChargeCollection(StrEnum):
    invoice = "invoice"
    debit = "debit"

    @property
    def proto(self) -> rpb.FixedChargeCollection:
        return cast(
            rpb.FixedChargeCollection,
            _value(rpb.FixedChargeCollection, "FIXED_CHARGE_COLLECTION_", self),
        )


class CommitmentPeriod(StrEnum):
    per_period = "per-period"
    annual = "annual"

    @property
    def proto(self) -> rpb.CommitmentPeriod:
        return cast(
            rpb.CommitmentPeriod,
            _value(rpb.CommitmentPeriod, "COMMITMENT_PERIOD_", self),
        )


class AlertKind(StrEnum):
    absolute = "absolute"
    percent = "percent"
    depleted = "depleted"

    @property
    def proto(self) -> lpb.AlertKind:
        return cast(lpb.AlertKind, _value(lpb.AlertKind, "ALERT_KIND_", self))


class AllotmentCadence(StrEnum):
    weekly = "weekly"
    monthly = "monthly"
    quarterly = "quarterly"
    yearly = "yearly"

    @property
    def proto(self) -> lpb.AllotmentCadence:
        return cast(lpb.AllotmentCadence, _value(lpb.AllotmentCadence, "ALLOTMENT_CADENCE_", self))


class AllotmentExpiry(StrEnum):
    end_of_period = "end-of-period"
    after_duration = "after-duration"
    never = "never"

    @property
    def proto(self) -> lpb.AllotmentExpiry:
        return cast(lpb.AllotmentExpiry, _value(lpb.AllotmentExpiry, "ALLOTMENT_EXPIRY_", self))


class Payment(StrEnum):
    immediate = "immediate"
    on_confirmation = "on-confirmation"

    @property
    def proto(self) -> lpb.TopUpPayment:
        return cast(lpb.TopUpPayment, _value(lpb.TopUpPayment, "TOP_UP_PAYMENT_", self))


class WalletEventType(StrEnum):
    grant_created = "grant-created"
    credits_expired = "credits-expired"
    alert_fired = "alert-fired"
    alert_recovered = "alert-recovered"
    top_up_created = "top-up-created"
    top_up_completed = "top-up-completed"
    top_up_failed = "top-up-failed"
    burn_spike = "burn-spike"
    slowdown = "slowdown"
    depletion_expected = "depletion-expected"

    @property
    def proto(self) -> lpb.WalletEventType:
        return cast(lpb.WalletEventType, _value(lpb.WalletEventType, "WALLET_EVENT_TYPE_", self))


class DeliveryState(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def proto(self) -> lpb.WebhookDeliveryState:
        value = _value(lpb.WebhookDeliveryState, "WEBHOOK_DELIVERY_STATE_", self)
        return cast(lpb.WebhookDeliveryState, value)


class BudgetPeriod(StrEnum):
    none = "none"
    day = "day"
    week = "week"
    month = "month"

    @property
    def proto(self) -> lpb.BudgetPeriod:
        if self is BudgetPeriod.none:
            return lpb.BUDGET_PERIOD_UNSPECIFIED
        return cast(lpb.BudgetPeriod, lpb.BudgetPeriod.Value(f"BUDGET_PERIOD_{self.value.upper()}"))


class BudgetPolicy(StrEnum):
    deny = "deny"
    allow = "allow"

    @property
    def proto(self) -> lpb.BudgetPolicy:
        return {
            BudgetPolicy.deny: lpb.BUDGET_POLICY_DENY,
            BudgetPolicy.allow: lpb.BUDGET_POLICY_ALLOW,
        }[self]
