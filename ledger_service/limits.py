"""Every bound of the ledger, in one place: used by validation, settings checks and tests.

Beyond a bound the answer is a clear error (RESOURCE_EXHAUSTED for load, INVALID_ARGUMENT for
input), never a crash or unbounded memory. Defaults here; the ones an operator may tune are
settings (`config.py`), checked against the ranges below at start-up by `check`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing_common import settings as settings_rules
from billing_common import transport
from billing_common.paging import PAGE_SIZE_MAX as PAGE_SIZE_MAX
from billing_common.settings import POOL_SIZE_RANGE as POOL_SIZE_RANGE
from billing_common.transport import ServerLimits
from ledger_service.domain import reports

if TYPE_CHECKING:
    from ledger_service.config import LedgerSettings

# -- transport: the same for both services (billing_common.grpc_server) ----------------------
MESSAGE_BYTES_MAX = transport.MESSAGE_BYTES_MAX
CONCURRENT_RPCS_MAX = transport.CONCURRENT_RPCS_MAX
KEEPALIVE_S = transport.KEEPALIVE_S
CONNECTION_IDLE_S = transport.CONNECTION_IDLE_S

# -- queues ---------------------------------------------------------------------------------
# Writes waiting for the process's write pipeline (app/pipeline.py); one more is
# RESOURCE_EXHAUSTED / WRITE_QUEUE_FULL.
WRITE_QUEUE_MAX = 10_000
WRITE_QUEUE_RANGE = (1, 1_000_000)
# Writes booked per pipeline transaction.
WRITE_BATCH_MAX = 1000
# Pipeline transactions running at once (each holds a pooled connection). One measured best on
# two cores (docs/benchmarks.md): the next transaction takes everything that arrived meanwhile,
# while two or four split the callers into smaller transactions that contend for the same locks.
WRITE_TRANSACTIONS_IN_FLIGHT = 1
WRITE_IN_FLIGHT_RANGE = (1, 64)

# -- webhooks -------------------------------------------------------------------------------
# Delivery attempts per event and endpoint (LEDGER_WEBHOOK_ATTEMPTS_MAX) at most.
WEBHOOK_ATTEMPTS_LIMIT = 1000
# Deliveries purged per round (LEDGER_WEBHOOK_PURGE_BATCH_SIZE) at most.
WEBHOOK_PURGE_BATCH_LIMIT = 100_000

# -- insight (domain/burn.py, app/signals.py) -----------------------------------------------
# GetDepletionForecast's horizon in days (default, most); also the most a signal policy's
# depletion_days may be.
FORECAST_HORIZON_DAYS_DEFAULT = 90
FORECAST_HORIZON_DAYS_MAX = 366
# Wallets whose signals one sweeper transaction evaluates, and transactions per sweeper tick
# (the rest wait for the next tick).
SIGNAL_WALLETS_PER_ROUND = 100
SIGNAL_ROUNDS_PER_TICK = 10

# -- requests -------------------------------------------------------------------------------
DEBIT_BATCH_MAX = 1000  # debits per DebitBatch
POOL_MEMBERS_MAX = 1000  # members of one pooled wallet (ListPoolMembers answers them all)
# Buckets in one GetConsumptionReport / GetRevenueReport (declared beside the rule that cuts them).
REPORT_BUCKETS_MAX = reports.BUCKETS_MAX


def check(settings: LedgerSettings) -> ServerLimits:
    """The settings' bounds, checked (ValueError naming the setting), as server limits."""
    settings_rules.check_common(settings)
    transport.within("write_queue_max", settings.write_queue_max, WRITE_QUEUE_RANGE)
    transport.within("write_in_flight", settings.write_in_flight, WRITE_IN_FLIGHT_RANGE)
    return transport.server_limits(settings)
