"""Start a service as a child process and learn its port from its `server_started` log line.
Used by the demo and by the tests that need real processes."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

STARTUP_TIMEOUT_S = 60.0
STARTUP_LINES_KEPT = 80  # of its stderr, told when a service exits before it started
STOP_TIMEOUT_S = 30.0


@dataclass
class ServiceProcess:
    process: asyncio.subprocess.Process
    port: int
    http_port: int | None = None  # the HTTP/JSON port, when it serves one

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self) -> int:
        """SIGTERM, then wait for the graceful exit; returns the exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def start_service(
    module: str, env: dict[str, str], *, cwd: Path | None = None, log_path: Path | None = None
) -> ServiceProcess:
    """Run `python -m <module> serve`; its JSON logs on stderr are copied to log_path if given.
    Its metrics endpoint and HTTP/JSON port get free ports unless `env` names them, so runs never
    collide."""
    prefix = module.split("_")[0].upper()
    defaults = {f"{prefix}_METRICS_LISTEN": "127.0.0.1:0", f"{prefix}_HTTP_LISTEN": "127.0.0.1:0"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        "serve",
        cwd=cwd,
        env={**os.environ, **defaults, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    log = log_path.open("ab") if log_path else None
    seen: collections.deque[bytes] = collections.deque(maxlen=STARTUP_LINES_KEPT)
    try:
        while True:
            line = await asyncio.wait_for(process.stderr.readline(), STARTUP_TIMEOUT_S)
            if not line:
                said = b"".join(seen).decode(errors="replace")
                raise RuntimeError(
                    f"{module} exited before it started (exit code {await process.wait()}); "
                    f"its last lines:\n{said}"
                )
            seen.append(line)
            if log:
                log.write(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == "server_started":
                break
    except BaseException:
        if process.returncode is None:
            process.kill()
        raise
    asyncio.get_running_loop().create_task(_drain(process.stderr, log))
    http_port = record.get("http_port")
    return ServiceProcess(
        process, int(record["port"]), None if http_port is None else int(http_port)
    )


async def _drain(stream: asyncio.StreamReader, log: BinaryIO | None) -> None:
    """Keep reading the child's logs so its pipe never fills up; the log file closes with it."""
    try:
        while line := await stream.readline():
            if log is not None:
                log.write(line)
                log.flush()
    finally:
        if log is not None:
            log.close()
