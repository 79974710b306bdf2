"""What a transaction attempt booked, counted into the metrics once it commits (a retried attempt
counts once, a rolled-back one not at all)."""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar

from billing_common import metrics
from ledger_service.domain.errors import InsufficientCredits
from ledger_service.domain.model import EntryType, EventType, WalletEvent

# What the current transaction attempt booked, counted into metrics once it commits.
BOOKED: ContextVar[list[object] | None] = ContextVar("booked", default=None)


def observe(
    entries: Iterable[object], events: Iterable[object], refused: Iterable[object] = ()
) -> None:
    buffer = BOOKED.get()
    if buffer is not None:
        buffer.extend(entries)
        buffer.extend(events)
        buffer.extend(r for r in refused if isinstance(r, InsufficientCredits))


def count_committed(booked: list[object]) -> None:
    for item in booked:
        if isinstance(item, InsufficientCredits):
            metrics.DENIALS.inc()
        elif isinstance(item, WalletEvent):
            if item.type is EventType.TOP_UP_CREATED:
                metrics.TOP_UPS.inc()
        # Anything else `observe` buffered is an Entry.
        elif item.type in (EntryType.DEBIT, EntryType.CAPTURE):  # type: ignore[attr-defined]
            metrics.DEBITS.inc()
        elif item.type is EntryType.EXPIRY:  # type: ignore[attr-defined]
            metrics.EXPIRIES.inc()
