"""What the forwarder's deliveries share: its policy, the backoff and retry rule applied to a
charge or undo refund, and the grant kinds the ledger's allocations are split by."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from rating_service.app.context import Context
from rating_service.app.ports import Booked, Refused
from rating_service.app.records import ChargeRow, FixedCharge, UndoRow
from rating_service.domain.status import Next, after_refusal

GRANT_KINDS_CACHED_MAX = 100_000


@dataclass(frozen=True, slots=True)
class ForwarderPolicy:
    batch_size_max: int = 500
    backoff_base_s: float = 0.5
    backoff_max_s: float = 60.0
    idle_s: float = 0.5
    # INTERNAL (UNKNOWN, DATA_LOSS) answers to one charge before it is FAILED: with the default
    # backoff, about a minute of retries, enough to ride out a passing fault of the ledger.
    internal_answers_max: int = 8
    # DebitBatch calls in flight at once (partitions by wallet).
    concurrency: int = 4


def retry_at(policy: ForwarderPolicy, record: ChargeRow | UndoRow | FixedCharge) -> timedelta:
    """How long until the next attempt: exponential backoff from `backoff_base_s`, doubling per
    attempt, capped at `backoff_max_s`, jittered (so retries of many charges spread out)."""
    delay = min(policy.backoff_max_s, policy.backoff_base_s * 2 ** min(record.attempts, 20))
    return timedelta(seconds=delay * random.uniform(0.5, 1.0))


def next_step(
    policy: ForwarderPolicy,
    refused: Refused,
    record: ChargeRow | UndoRow | FixedCharge,
    *,
    deniable: bool,
) -> Next:
    """What the refusal does to the record (`domain/status.py: after_refusal`)."""
    return after_refusal(
        refused.refusal, record.internal_errors, policy.internal_answers_max, deniable=deniable
    )


class GrantKinds:
    """The kind (PREPAID, PROMOTIONAL) of each grant the ledger's bookings drew on, asked once
    per grant: grants are immutable, so the cache never goes stale (bounded, cleared when
    full)."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.known: dict[str, str] = {}

    async def of(self, results: Sequence[Booked | Refused]) -> dict[str, str]:
        wanted = sorted(
            {
                a.grant_id
                for r in results
                if isinstance(r, Booked)
                for a in r.allocations
                if a.grant_id and a.grant_id not in self.known
            }
        )
        if wanted:
            if len(self.known) + len(wanted) > GRANT_KINDS_CACHED_MAX:
                self.known.clear()
            self.known.update(await self.context.ledger.grant_kinds(wanted))
        return self.known
