"""A charge (or an undo refund) the ledger refused for good is FAILED: never sent again, shown on
the invoice. Each one is also logged and counted here, in one place, so an operator sees it."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import structlog

from billing_common import metrics

log = structlog.get_logger(__name__)


def report_failed(
    kind: str, failed: Mapping[int, tuple[str, str, str]], recorded: Collection[int]
) -> None:
    """`failed`: id -> (event id, ledger reason, error text) of what this caller decided to fail;
    `recorded`: the ids it actually moved to FAILED (another forwarder may have been first)."""
    for row_id, (event_id, reason, error) in failed.items():
        if row_id not in recorded:
            continue
        metrics.CHARGES_FAILED.labels(kind=kind, reason=reason).inc()
        log.error(
            f"{kind}_failed" if kind == "undo" else "charge_failed",
            id=row_id,
            event_id=event_id,
            reason=reason,
            error=error,
        )
