"""Several processes per service (`--workers N`).

With N > 1 the process started by `serve` is a supervisor: it starts (or joins) the embedded
PostgreSQL once, applies migrations once, then starts N worker processes with the `spawn` method (a
fresh interpreter each: no event loop, gRPC state or connection pool is ever inherited across a
fork). Every worker builds its own app, pool and gRPC server, and the servers share the port with
SO_REUSEPORT, so the kernel spreads new connections over them (a connection stays with the worker
that accepted it).

The supervisor's rules:
- it logs `server_started` (port, worker pids) once every worker serves;
- SIGTERM or SIGINT: it sends SIGTERM to every worker, waits for their graceful stop (the
  shutdown grace plus a margin), kills one that is still running, and exits 0 if all stopped
  cleanly; the embedded PostgreSQL stops as it leaves, if no other process uses it;
- a worker that exits by itself (a crash, a failed start) is not restarted: the supervisor logs
  `worker_exited`, stops the others and exits 1, so the process manager (systemd, Kubernetes, the
  container runtime) sees the failure and restarts the whole service;
- a worker dies with its supervisor (Linux's parent-death signal), so none is ever orphaned.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import structlog

from billing_common import listening, paging, tls
from billing_common.grpc_server import exit_on_stop_signals
from billing_common.listening import PortInUse, is_address_in_use
from billing_common.logs import configure_logging

log = structlog.get_logger(__name__)

S = TypeVar("S")

STOP_MARGIN_S = 5.0  # beyond the shutdown grace, before a worker that does not stop is killed


# --- workers ---------------------------------------------------------------------------------

# A worker's entry: the service's `run(settings, worker=, started=)`, a module-level coroutine
# function (the spawn method pickles it by name).
WorkerMain = Callable[..., Coroutine[Any, Any, None]]


def worker_metrics_listen(listen: str, worker: int) -> str:
    """Each worker's /metrics address: the configured port plus the worker's index (port 0
    stays 0: a free port each; empty stays off)."""
    if not listen:
        return listen
    host, _, port = listen.rpartition(":")
    return listen if int(port) == 0 else f"{host}:{int(port) + worker}"


def shared_page_token_secret(configured: str, embedded_data_dir: Path | None) -> str:
    """The page-token secret every worker signs with, so a token from one works on all: the
    configured one; with the embedded PostgreSQL, the one kept in its data folder; else one made
    now, for the supervisor's lifetime (tokens die with it; configure one)."""
    if configured:
        return configured
    if embedded_data_dir is not None:
        return paging.load_secret("", embedded_data_dir.resolve()).decode()
    log.warning(
        "page_token_secret_generated",
        detail="no page-token secret configured: page tokens stop working when the service "
        "stops and are refused by other replicas; configure one shared secret",
    )
    return secrets.token_hex(32)


def _reserve_port(listen: str) -> tuple[socket.socket, str]:
    """Bind (without listening) the address the workers will share, with SO_REUSEPORT, and
    return the socket and the address with its port: port 0 becomes the free port the kernel
    chose, and it stays ours until the workers listen on it."""
    host, _, port = listen.rpartition(":")
    bare = host.strip("[]")
    family, kind, proto, _, address = socket.getaddrinfo(
        bare or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    reserved = socket.socket(family, kind, proto)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        reserved.bind(address)
    except OSError as exc:
        reserved.close()
        if is_address_in_use(exc):
            raise PortInUse("listen", listen) from None
        raise
    return reserved, f"{host}:{reserved.getsockname()[1]}"


def _die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its supervisor dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() == 1:  # the supervisor died before the call: nothing would signal us
            os.kill(os.getpid(), signal.SIGTERM)


def _worker(main: WorkerMain, settings: Any, index: int, ready: Connection) -> None:
    """A worker process's body (spawned: a fresh interpreter)."""
    _die_with_parent()

    def started() -> None:
        ready.send(os.getpid())
        ready.close()

    try:
        asyncio.run(main(settings, worker=index, started=started))
    except PortInUse as exc:  # its own metrics port: one line, then the supervisor stops all
        sys.exit(listening.report(exc, main.__module__.split("_")[0].upper()))


@dataclass
class _Worker:
    index: int
    process: multiprocessing.process.BaseProcess
    ready: Connection | None  # None once it reported that it serves


class ServiceSettings(tls.TlsSettings, Protocol):
    """What `serve` reads of a service's (frozen dataclass) settings: the transport security's
    (tls.TlsSettings, which has database_url and data_dir too) and these."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def workers(self) -> int: ...

    @property
    def log_level(self) -> str: ...

    @property
    def migrate(self) -> bool: ...

    @property
    def page_token_secret(self) -> str: ...

    @property
    def listen(self) -> str: ...

    @property
    def metrics_listen(self) -> str: ...

    @property
    def http_listen(self) -> str: ...

    @property
    def shutdown_grace_s(self) -> float: ...


Settings = TypeVar("Settings", bound=ServiceSettings)


def serve(
    settings: Settings,
    run: Callable[[Settings], Coroutine[Any, Any, None]],
    database_uri: Callable[[Settings], Coroutine[Any, Any, str]],
    upgrade: Callable[[str], Coroutine[Any, Any, None]],
) -> int:
    """A service's `serve` command: `run` in this process, or `settings.workers` processes
    sharing the port; returns the exit code. With workers, the supervisor starts (or joins) the
    embedded PostgreSQL and migrates once; every worker joins the embedded server (or connects
    to the configured one) without migrating, and gets one page-token secret, the same TLS files
    (the development CA is made once, here), a metrics port of its own and the shared HTTP port
    (its port 0 chosen here, like the gRPC port's)."""
    if settings.workers == 1:
        asyncio.run(run(settings))
        return 0
    configure_logging(settings.log_level)
    exit_on_stop_signals()
    settings = tls.with_files(settings, tls.server_tls(settings))
    uri = asyncio.run(database_uri(settings))  # the embedded server starts once, here
    if settings.migrate:
        asyncio.run(upgrade(uri))
    secret = shared_page_token_secret(
        settings.page_token_secret, None if settings.database_url else settings.data_dir
    )

    http_reserved, http_listen = (
        _reserve_port(settings.http_listen) if settings.http_listen else (None, "")
    )

    def settings_for(listen: str, index: int) -> Settings:
        # A worker keeps the configured database_url: with the embedded database it joins the
        # server started here, and decides what the embedded mode decides (key files in .data/,
        # the secrets key) exactly as a single process would.
        return replace(
            settings,
            migrate=False,
            page_token_secret=secret,
            listen=listen,
            metrics_listen=worker_metrics_listen(settings.metrics_listen, index),
            http_listen=http_listen,
        )

    try:
        return supervise(
            run,
            settings.listen,
            settings_for,
            settings.workers,
            settings.shutdown_grace_s,
            http_listen=http_listen,
        )
    finally:
        if http_reserved is not None:
            http_reserved.close()


def supervise(
    main: WorkerMain,
    listen: str,
    settings_for: Callable[[str, int], S],
    count: int,
    grace_s: float,
    *,
    http_listen: str = "",
) -> int:
    """Run `count` workers serving `listen` until SIGTERM/SIGINT or until one exits; returns
    the exit code (see the module's docstring). `settings_for(listen, index)` is a worker's
    settings, `listen` with the port chosen."""
    wake_r, wake_w = socket.socketpair()
    wake_w.setblocking(False)
    stop: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)

    signal.set_wakeup_fd(wake_w.fileno())
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)

    reserved, listen = _reserve_port(listen)
    context = multiprocessing.get_context("spawn")
    workers: list[_Worker] = []
    code = 0
    try:
        for index in range(count):
            if stop:
                break
            ours, theirs = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker,
                args=(main, settings_for(listen, index), index, theirs),
                name=f"worker-{index}",
                daemon=False,
            )
            process.start()
            theirs.close()
            workers.append(_Worker(index, process, ours))
        code = _watch(workers, stop, wake_r, listen, http_listen)
    finally:
        reserved.close()
        code = max(code, _stop_all(workers, grace_s))
        signal.set_wakeup_fd(-1)
        wake_r.close()
        wake_w.close()
    log.info("server_stopped", workers=count, exit_code=code)
    return code


def _watch(
    workers: Sequence[_Worker],
    stop: list[int],
    wake: socket.socket,
    listen: str,
    http_listen: str = "",
) -> int:
    """Wait for a stop signal or a worker's exit; log `server_started` once all serve.
    0 after a signal, 1 after a worker's exit."""
    announced = False
    while not stop:
        waiting: list[Any] = [w.ready for w in workers if w.ready is not None]
        sentinels = {w.process.sentinel: w for w in workers}
        ready = wait([*waiting, *sentinels, wake])
        if wake in ready:
            wake.recv(4096)
        for w in workers:
            if w.ready is not None and w.ready in ready:
                try:
                    w.ready.recv()
                except EOFError:  # it exited before it served
                    w.process.join()
                    _exited(w)
                    return 1
                w.ready.close()
                w.ready = None
        exited = [w for s, w in sentinels.items() if s in ready]
        if exited and not stop:
            for w in exited:
                w.process.join()
                _exited(w)
            return 1
        if not announced and all(w.ready is None for w in workers) and not stop:
            announced = True
            log.info(
                "server_started",
                listen=listen,
                port=int(listen.rpartition(":")[2]),
                http_port=int(http_listen.rpartition(":")[2]) if http_listen else None,
                workers=len(workers),
                pids=[w.process.pid for w in workers],
            )
    log.info("server_stopping", signal=signal.Signals(stop[0]).name, workers=len(workers))
    return 0


def _exited(w: _Worker) -> None:
    log.error(
        "worker_exited",
        worker=w.index,
        pid=w.process.pid,
        exit_code=w.process.exitcode,
        detail="a worker stopped by itself: stopping the others and exiting 1",
    )


# How a worker may end once it was sent SIGTERM: a graceful stop, or a stop during its start-up
# (before its server handled signals).
_STOPPED = (0, -signal.SIGTERM, 128 + signal.SIGTERM)


def _stop_all(workers: Sequence[_Worker], grace_s: float) -> int:
    """SIGTERM every worker still running, wait for them, kill the ones that outlast the grace.
    1 if one did not stop cleanly, else 0."""
    for w in workers:
        if w.process.exitcode is None and w.process.pid is not None:
            os.kill(w.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s + STOP_MARGIN_S
    code = 0
    for w in workers:
        w.process.join(max(0.0, deadline - time.monotonic()))
        if w.process.exitcode is None:
            log.error("worker_killed", worker=w.index, pid=w.process.pid, grace_s=grace_s)
            w.process.kill()
            w.process.join()
        if w.process.exitcode not in _STOPPED:
            code = 1
        if w.ready is not None:
            w.ready.close()
    return code
