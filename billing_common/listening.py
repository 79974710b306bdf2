"""A listen address another process holds: an operating error, told in one line that names the
setting (`listen`, `metrics_listen`, ...), and exit code 2 like every setting that cannot work;
never a traceback."""

from __future__ import annotations

import errno
import socket
import sys

import structlog

log = structlog.get_logger(__name__)

EXIT_PORT_IN_USE = 2


class PortInUse(Exception):
    """`setting`'s address (host:port) is held by another process."""

    def __init__(self, setting: str, address: str) -> None:
        super().__init__(f"{setting} {address}: address already in use")
        self.setting = setting
        self.address = address


def is_address_in_use(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE


def check_free(setting: str, listen: str) -> None:
    """Raise PortInUse if another socket listens on `listen` (host:port; port 0 is always free).

    Binds and closes a probe socket with SO_REUSEADDR, as servers bind: a port left in TIME_WAIT
    by a previous run counts as free, a port another process listens on does not. Checked before
    gRPC binds, because a failed gRPC bind tells only "failed to bind" (and logs in C, not JSON).
    """
    host, _, port = listen.rpartition(":")
    if int(port) == 0:
        return
    try:
        addresses = socket.getaddrinfo(
            host.strip("[]") or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError:
        return  # an unresolvable host: the bind itself reports it
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if is_address_in_use(exc):
                    raise PortInUse(setting, listen) from None
                return


def report(exc: PortInUse, prefix: str) -> int:
    """Log the one line (JSON, like every log line) and return the exit code."""
    env = f"{prefix}_{exc.setting.upper()}"
    message = (
        f"{exc.setting} {exc.address}: address already in use by another process; "
        f"set {env} (or --{exc.setting.replace('_', '-')}) to a free host:port"
    )
    log.error("port_in_use", setting=exc.setting, env=env, address=exc.address, message=message)
    sys.stderr.flush()
    return EXIT_PORT_IN_USE
