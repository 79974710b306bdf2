"""Bounded retries of UNAVAILABLE with capped, jittered exponential backoff.

Only UNAVAILABLE is retried: it means the request did not get an answer (the server was down,
restarting or unreachable). The very same request message is sent again, so a mutation keeps its
request_id and the service replays the original result if the first attempt did land. Every other
code is an answer and is raised at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    attempts_max: int = 4
    """Attempts in all, the first one included; 1 disables retries."""
    backoff_initial_s: float = 0.05
    """Upper bound of the wait before the first retry."""
    backoff_max_s: float = 2.0
    """Upper bound of any single wait."""
    backoff_multiplier: float = 2.0
    """How much the bound grows per retry."""

    def __post_init__(self) -> None:
        if not 1 <= self.attempts_max <= 20:
            raise ValueError(f"attempts_max must be 1..20, got {self.attempts_max}")
        if not 0 <= self.backoff_initial_s <= self.backoff_max_s:
            raise ValueError("need 0 <= backoff_initial_s <= backoff_max_s")
        if self.backoff_multiplier < 1:
            raise ValueError("backoff_multiplier must be at least 1")

    def backoff_s(self, retry: int, rng: random.Random) -> float:
        """Wait before retry number `retry` (1-based): "full jitter", uniform in [0, bound], so
        clients that failed together do not come back together."""
        bound = self.backoff_initial_s * self.backoff_multiplier ** (retry - 1)
        return rng.uniform(0, min(bound, self.backoff_max_s))


NO_RETRY = RetryPolicy(attempts_max=1)
