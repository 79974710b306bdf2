"""Every bound of the rating service, in one place: used by validation, settings checks and tests.

Beyond a bound the answer is a clear error (RESOURCE_EXHAUSTED for load, INVALID_ARGUMENT for
input), never a crash or unbounded memory. Defaults here; the ones an operator may tune are
settings (`config.py`), checked against the ranges below at start-up by `check`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing_common.grpc_server import ServerLimits
from billing_common.paging import PAGE_SIZE_MAX as PAGE_SIZE_MAX

if TYPE_CHECKING:
    from rating_service.config import RatingSettings

MIB = 1024 * 1024

# -- transport (settings; the ranges an operator may choose from) -------------------------------
MESSAGE_BYTES_MAX = 4 * MIB  # largest request: an IngestEvents batch must fit in it
MESSAGE_BYTES_RANGE = (64 * 1024, 64 * MIB)
CONCURRENT_RPCS_MAX = 1000  # calls in our handlers at once
CONCURRENT_RPCS_RANGE = (1, 100_000)
KEEPALIVE_S = 60.0  # ping a silent connection's peer after this long
KEEPALIVE_TIMEOUT_S = 20.0  # and close it if the ping is not answered in this time
CONNECTION_IDLE_S = 300.0  # close a connection without calls after this long
SECONDS_RANGE = (1.0, 86_400.0)


def _within(name: str, value: float, bounds: tuple[float, float]) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"setting {name}={value} is outside {low:g}..{high:g}")


def check(settings: RatingSettings) -> ServerLimits:
    """The settings' bounds, checked (ValueError naming the setting), as server limits."""
    _within("message_bytes_max", settings.message_bytes_max, MESSAGE_BYTES_RANGE)
    _within("concurrent_rpcs_max", settings.concurrent_rpcs_max, CONCURRENT_RPCS_RANGE)
    _within("keepalive_s", settings.keepalive_s, SECONDS_RANGE)
    _within("connection_idle_s", settings.connection_idle_s, SECONDS_RANGE)
    return ServerLimits(
        message_bytes_max=settings.message_bytes_max,
        concurrent_rpcs_max=settings.concurrent_rpcs_max,
        keepalive_s=settings.keepalive_s,
        keepalive_timeout_s=KEEPALIVE_TIMEOUT_S,
        connection_idle_s=settings.connection_idle_s,
    )


# -- calls to the ledger ----------------------------------------------------------------------
# Calls to the ledger one request of ours may have in flight at once (e.g. reading the kinds of
# the grants an invoice drew on): a fan-out beyond waits for a free slot.
LEDGER_CALLS_IN_FLIGHT_MAX = 16
