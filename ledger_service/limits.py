"""Every bound of the ledger, in one place: used by validation, settings checks and tests.

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
    from ledger_service.config import LedgerSettings

# -- transport: the same for both services (billing_common.grpc_server) ----------------------
MESSAGE_BYTES_MAX = grpc_server.MESSAGE_BYTES_MAX
CONCURRENT_RPCS_MAX = grpc_server.CONCURRENT_RPCS_MAX
KEEPALIVE_S = grpc_server.KEEPALIVE_S
CONNECTION_IDLE_S = grpc_server.CONNECTION_IDLE_S

# -- queues ---------------------------------------------------------------------------------
# Unary debits of one wallet waiting for the group commit (app/combiner.py); one more is
# RESOURCE_EXHAUSTED / WALLET_QUEUE_FULL.
COMBINER_QUEUE_MAX = 1000
COMBINER_QUEUE_RANGE = (1, 100_000)

# -- requests -------------------------------------------------------------------------------
DEBIT_BATCH_MAX = 1000  # debits per DebitBatch, and per group-commit transaction


def check(settings: LedgerSettings) -> ServerLimits:
    """The settings' bounds, checked (ValueError naming the setting), as server limits."""
    grpc_server.within("combiner_queue_max", settings.combiner_queue_max, COMBINER_QUEUE_RANGE)
    return grpc_server.server_limits(settings)
