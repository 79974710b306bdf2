"""Every bound of the rating service, in one place: used by validation, settings checks and tests.

Beyond a bound the answer is a clear error (RESOURCE_EXHAUSTED for load, INVALID_ARGUMENT for
input), never a crash or unbounded memory. Defaults here; the ones an operator may tune are
settings (`config.py`), checked against the ranges below at start-up by `check`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing_common import kafka_security, transport
from billing_common import settings as settings_rules
from billing_common.paging import PAGE_SIZE_MAX as PAGE_SIZE_MAX
from billing_common.settings import POOL_SIZE_RANGE as POOL_SIZE_RANGE
from billing_common.transport import ServerLimits

if TYPE_CHECKING:
    from rating_service.config import RatingSettings

# -- transport: the same for both services (billing_common.grpc_server) ----------------------
MESSAGE_BYTES_MAX = transport.MESSAGE_BYTES_MAX
CONCURRENT_RPCS_MAX = transport.CONCURRENT_RPCS_MAX
KEEPALIVE_S = transport.KEEPALIVE_S
CONNECTION_IDLE_S = transport.CONNECTION_IDLE_S


def check(settings: RatingSettings) -> ServerLimits:
    """The settings' bounds, checked (ValueError naming the setting), as server limits."""
    settings_rules.check_common(settings)
    transport.within("forward_batch_size", settings.forward_batch_size, FORWARD_BATCH_RANGE)
    transport.within("kafka_batch_max", settings.kafka_batch_max, KAFKA_BATCH_RANGE)
    if settings.kafka_format not in KAFKA_FORMATS:
        raise ValueError(f"kafka_format must be one of {', '.join(KAFKA_FORMATS)}")
    if settings.kafka_bootstrap_servers:  # the intake on: its connection can be made
        kafka_security.check(settings.kafka_security())
    concurrency = settings.forward_concurrency
    if not 1 <= concurrency <= FORWARD_CONCURRENCY_MAX or concurrency >= settings.pool_size:
        raise ValueError(
            f"forward_concurrency must be 1 to {FORWARD_CONCURRENCY_MAX} and less than pool_size "
            f"({settings.pool_size}): each partition's answer is saved on a pooled connection, "
            f"and the forwarder holds one more; got {concurrency}"
        )
    return transport.server_limits(settings)


# -- the forwarder ----------------------------------------------------------------------------
# DebitBatch calls in flight at once, each on its own wallets (RATING_FORWARD_CONCURRENCY).
FORWARD_CONCURRENCY = 4
FORWARD_CONCURRENCY_MAX = 32
# Charges per DebitBatch call: at most what the ledger takes in one call.
FORWARD_BATCH_RANGE = (1, 1000)

# -- the Kafka intake -------------------------------------------------------------------------
# Messages per batch: at most what one IngestEvents call takes.
KAFKA_BATCH_RANGE = (1, 1000)
KAFKA_FORMATS = ("json", "protobuf")


# -- calls to the ledger ----------------------------------------------------------------------
# Calls to the ledger one request of ours may have in flight at once (e.g. reading the kinds of
# the grants an invoice drew on): a fan-out beyond waits for a free slot.
LEDGER_CALLS_IN_FLIGHT_MAX = 16
