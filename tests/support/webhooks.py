"""Webhooks as a receiver sees them: a minimal HTTP/1.1 server on 127.0.0.1:<free port> in the
test's event loop (any status, or shut down and started again on the same port), and the ledger's
endpoint and delivery calls. The `receiver` fixture (tests/e2e/conftest.py) starts one."""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime

from billing.ledger.v1 import ledger_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

from tests.support.ledger import rid

# The test receivers listen on loopback, which webhooks may reach only when the operator allows it
# (webhook_allow_networks): the tests' ledgers do.
RECEIVER_NETWORKS = "127.0.0.1/32"
# The secrets key of the tests' ledgers (base64 of 32 bytes; tests/conftest.py sets it).
TEST_SECRETS_KEY = "dGVzdHMtb25seS1zZWNyZXRzLWtleS0zMi1ieXRlcyE="


class NameTable:
    """A resolver that answers from a table the test changes (IP literals give themselves)."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names

    async def resolve(self, host: str) -> list[str]:
        return list(self.names.get(host, [host]))


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    """Records every POST; answers `status` (200 unless told otherwise), with `answer_headers`.
    `received` keeps the requests answered with a success, `requests` counts them all."""

    port: int = 0
    status: int = 200
    received: list[Received] = field(default_factory=list)
    server: asyncio.Server | None = None
    host: str = "127.0.0.1"  # any address of 127.0.0.0/8 is this machine's loopback
    answer_headers: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    tls: ssl.SSLContext | None = None  # serve https with this context

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, self.host, self.port, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        self.server = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests += 1
            if self.status < 300:  # a failed delivery is not "received"
                self.received.append(Received(headers, body))
            status_line = f"HTTP/1.1 {self.status} X\r\n"
            extra = "".join(f"{k}: {v}\r\n" for k, v in self.answer_headers.items())
            writer.write(
                (status_line + extra).encode() + b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
        finally:
            writer.close()


async def endpoint(stub, url: str, wallet_id: str = "", types=()) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    created = await stub.CreateWebhookEndpoint(
        pb.CreateWebhookEndpointRequest(request_id=rid(), wallet_id=wallet_id, url=url, types=types)
    )
    return created.endpoint.endpoint_id, created.secret


async def deliveries(stub, endpoint_id: str) -> list[pb.WebhookDelivery]:  # type: ignore[no-untyped-def]
    response = await stub.ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(endpoint_id=endpoint_id, page_size=500)
    )
    return list(response.deliveries)


def when(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)
