"""Every bound of the rating service, in one place: used by validation, settings checks and tests.

Beyond a bound the answer is a clear error (RESOURCE_EXHAUSTED for load, INVALID_ARGUMENT for
input), never a crash or unbounded memory. Defaults here; the ones an operator may tune are
settings (`config.py`), checked against the ranges below at start-up by `check`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing_common import grpc_server
from billing_common.grpc_server import ServerLimits
from billing_common.paging import PAGE_SIZE_MAX as PAGE_SIZE_MAX

if TYPE_CHECKING:
    from rating_service.config import RatingSettings

# -- transport: the same for both services (billing_common.grpc_server) ----------------------
MESSAGE_BYTES_MAX = grpc_server.MESSAGE_BYTES_MAX
CONCURRENT_RPCS_MAX = grpc_server.CONCURRENT_RPCS_MAX
KEEPALIVE_S = grpc_server.KEEPALIVE_S
CONNECTION_IDLE_S = grpc_server.CONNECTION_IDLE_S


# DebitBatch calls the forwarder has in flight at once (each on its own wallets).
FORWARD_CONCURRENCY = 4
FORWARD_CONCURRENCY_RANGE = (1, 32)
# Charges per DebitBatch call: at most what the ledger takes in one call.
FORWARD_BATCH_RANGE = (1, 1000)


def check(settings: RatingSettings) -> ServerLimits:
    """The settings' bounds, checked (ValueError naming the setting), as server limits."""
    grpc_server.within(
        "forward_concurrency", settings.forward_concurrency, FORWARD_CONCURRENCY_RANGE
    )
    grpc_server.within("forward_batch_size", settings.forward_batch_size, FORWARD_BATCH_RANGE)
    return grpc_server.server_limits(settings)


# -- calls to the ledger ----------------------------------------------------------------------
# Calls to the ledger one request of ours may have in flight at once (e.g. reading the kinds of
# the grants an invoice drew on): a fan-out beyond waits for a free slot.
LEDGER_CALLS_IN_FLIGHT_MAX = 16
