"""Command-line spellings of the proto enums (lower case, without the type prefix)."""

from __future__ import annotations

from enum import StrEnum
from typing import cast

from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as rpb

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
