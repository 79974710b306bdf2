"""The transport's bounds, the same for both services: defaults, the ranges an operator may
choose from, and the checked limits a server is built with (each service's `limits` module
re-exports them beside its own). No gRPC and no database here: the app layers may import it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# The transport's bounds, the same for both services: defaults, and the ranges an operator may
# choose from (each service's `limits` module re-exports them beside its own).
MIB = 1024 * 1024
MESSAGE_BYTES_MAX = 4 * MIB  # largest request; a batch of 1,000 items is well under 1 MiB
MESSAGE_BYTES_RANGE = (64 * 1024, 64 * MIB)
CONCURRENT_RPCS_MAX = 1000  # calls in our handlers at once
CONCURRENT_RPCS_RANGE = (1, 100_000)
KEEPALIVE_S = 60.0  # ping a silent connection's peer after this long
KEEPALIVE_TIMEOUT_S = 20.0  # and close it if the ping is not answered in this time
CONNECTION_IDLE_S = 300.0  # close a connection without calls after this long
SECONDS_RANGE = (1.0, 86_400.0)


class TransportSettings(Protocol):
    """The transport settings of a service's (frozen) settings."""

    @property
    def message_bytes_max(self) -> int: ...

    @property
    def concurrent_rpcs_max(self) -> int: ...

    @property
    def keepalive_s(self) -> float: ...

    @property
    def connection_idle_s(self) -> float: ...


def within(name: str, value: float, bounds: tuple[float, float]) -> None:
    """A setting inside its range, or ValueError naming it."""
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"setting {name}={value} is outside {low:g}..{high:g}")


def server_limits(settings: TransportSettings) -> ServerLimits:
    """The transport settings checked against their ranges, as server limits."""
    within("message_bytes_max", settings.message_bytes_max, MESSAGE_BYTES_RANGE)
    within("concurrent_rpcs_max", settings.concurrent_rpcs_max, CONCURRENT_RPCS_RANGE)
    within("keepalive_s", settings.keepalive_s, SECONDS_RANGE)
    within("connection_idle_s", settings.connection_idle_s, SECONDS_RANGE)
    return ServerLimits(
        message_bytes_max=settings.message_bytes_max,
        concurrent_rpcs_max=settings.concurrent_rpcs_max,
        keepalive_s=settings.keepalive_s,
        keepalive_timeout_s=KEEPALIVE_TIMEOUT_S,
        connection_idle_s=settings.connection_idle_s,
    )


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """The transport's bounds (defaults and ranges above; each service's `limits` checks them)."""

    # Largest request message accepted; a larger one is RESOURCE_EXHAUSTED before it is read.
    message_bytes_max: int
    # Calls of our services handled at once; more are RESOURCE_EXHAUSTED (health checks and
    # reflection are not counted, so an overloaded server still answers them).
    concurrent_rpcs_max: int
    # Ping a connection's peer after this long without traffic, and close the connection if
    # the ping is not answered within keepalive_timeout_s (half-open connections).
    keepalive_s: float
    keepalive_timeout_s: float
    # Close a connection that has had no call for this long.
    connection_idle_s: float

    @property
    def pending_rpcs_max(self) -> int:
        """Calls gRPC core may hold before our code picks them up. Its default (1,000) cancels
        calls silently beyond it (CANCELLED, nothing logged, the handler never runs); above our
        cap, every call reaches the concurrency check and gets a logged RESOURCE_EXHAUSTED."""
        return 4 * self.concurrent_rpcs_max

    def options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.max_receive_message_length", self.message_bytes_max),
            ("grpc.keepalive_time_ms", int(self.keepalive_s * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.keepalive_timeout_s * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.max_connection_idle_ms", int(self.connection_idle_s * 1000)),
            ("grpc.server.max_pending_requests", self.pending_rpcs_max),
            ("grpc.server.max_pending_requests_hard_limit", 2 * self.pending_rpcs_max),
        ]
