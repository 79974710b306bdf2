"""Who may listen on a port: servers of one service's workers share it (SO_REUSEPORT); a lone
server refuses a port another process holds, rather than silently splitting its traffic."""

from __future__ import annotations

import pytest

from billing_common.grpc_server import GrpcServer
from billing_common.listening import PortInUse
from billing_common.transport import (
    CONCURRENT_RPCS_MAX,
    CONNECTION_IDLE_S,
    KEEPALIVE_S,
    KEEPALIVE_TIMEOUT_S,
    MESSAGE_BYTES_MAX,
    ServerLimits,
)

LIMITS = ServerLimits(
    MESSAGE_BYTES_MAX, CONCURRENT_RPCS_MAX, KEEPALIVE_S, KEEPALIVE_TIMEOUT_S, CONNECTION_IDLE_S
)


def _server(listen: str, worker: int | None = None) -> GrpcServer:
    # Plain text: who may listen on a port does not depend on the transport security.
    return GrpcServer(listen, lambda server: [], LIMITS, "test.billing.dev", worker, tls=None)


async def test_a_lone_server_refuses_a_port_another_server_holds() -> None:
    first = _server("127.0.0.1:0")
    port = await first.start()
    second = _server(f"127.0.0.1:{port}")
    try:
        with pytest.raises(PortInUse, match=f"listen 127.0.0.1:{port}: address already in use"):
            await second.start()
    finally:
        await second.stop(0)
        await first.stop(0)


async def test_workers_share_a_port() -> None:
    first = _server("127.0.0.1:0", worker=0)
    port = await first.start()
    second = _server(f"127.0.0.1:{port}", worker=1)
    try:
        assert await second.start() == port
    finally:
        await second.stop(0)
        await first.stop(0)
