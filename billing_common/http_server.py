"""The HTTP port's server: an ASGI application under uvicorn in the service's event loop, on the
setting `http_listen`, with the gRPC port's TLS; workers share the port (SO_REUSEPORT)."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import uvicorn

from billing_common.tls import ServerTls
from billing_common.transport import ServerLimits


class HttpServer:
    """The ASGI `app` under uvicorn in this event loop, on `listen` (TLS with `tls`; plain text
    only by the development switch). Workers share the port (SO_REUSEPORT) as with gRPC."""

    def __init__(
        self,
        listen: str,
        app: Any,
        limits: ServerLimits,
        tls: ServerTls | None,
        worker: int | None,
    ) -> None:
        self.listen = listen
        self.tls = tls
        self.worker = worker
        self.port = 0
        options: dict[str, Any] = {}
        if tls is not None:
            options = {"ssl_certfile": str(tls.cert_file), "ssl_keyfile": str(tls.key_file)}
            if tls.client_ca_file:
                options |= {
                    "ssl_ca_certs": str(tls.client_ca_file),
                    "ssl_cert_reqs": ssl.CERT_REQUIRED,
                }
        self.config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            http="h11",
            ws="none",
            server_header=False,
            date_header=False,
            timeout_keep_alive=int(limits.connection_idle_s),
            **options,
        )
        self.server = uvicorn.Server(self.config)
        self.sockets: list[socket.socket] = []

    async def start(self) -> int:
        self.config.load()
        # What uvicorn's own `serve` does before `startup` (lifespan is "off": a no-op).
        self.server.lifespan = self.config.lifespan_class(self.config)
        sock = _bind(self.listen, shared=self.worker is not None)
        self.sockets = [sock]
        self.port = int(sock.getsockname()[1])
        try:
            await self.server.startup(sockets=self.sockets)
        except BaseException:
            sock.close()
            raise
        return self.port

    async def stop(self, grace_s: float) -> None:
        """New connections are refused; calls in progress get grace_s to finish."""
        self.config.timeout_graceful_shutdown = max(1, round(grace_s))
        if self.server.started:
            await self.server.shutdown(sockets=self.sockets)


def _bind(listen: str, *, shared: bool) -> socket.socket:
    """A socket bound to `listen` (host:port), or OSError naming the setting."""
    host, _, port = listen.rpartition(":")
    bare = host.strip("[]")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            bare or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as exc:
        raise OSError(f"could not listen on {listen} (setting http_listen): {exc}") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OSError(f"could not listen on {listen} (setting http_listen): {exc}") from exc
    return sock
