"""The `billing` CLI run in-process against real servers, as the e2e tests use it."""

from __future__ import annotations

import asyncio
import io
import json
import re
from dataclasses import dataclass
from typing import Any

from billing.rating.v1 import rating_pb2_grpc
from rich.console import Console

from billing_cli.app import run
from billing_cli.state import State
from rating_service import main as rating_main
from tests.support.channels import admin_key
from tests.support.servers import RunningLedger

UUID = re.compile(r"request id: ([0-9a-f-]{36})")


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error(self) -> Any:
        """The JSON error of a --json run: the last line of stderr."""
        return json.loads(self.stderr.splitlines()[-1])["error"]


@dataclass
class Cli:
    """Runs the CLI's entry point (`billing_cli.app.run`) in a worker thread, with its consoles
    writing to buffers (not to sys.stdout, where the in-process servers log)."""

    ledger: str
    rating: str = "127.0.0.1:1"
    width: int = 200

    async def __call__(self, *args: str, expect: int = 0, api_key: str | None = None) -> Result:
        argv = ["--ledger", self.ledger, "--rating", self.rating, "--timeout", "20", *args]
        key = admin_key() if api_key is None else api_key
        state = State(out=self.console(), err=self.console(), api_key=key)

        def go() -> Result:
            code = run(argv, state)
            return Result(
                code,
                state.out.file.getvalue(),  # type: ignore[attr-defined]
                state.err.file.getvalue(),  # type: ignore[attr-defined]
            )

        out = await asyncio.to_thread(go)
        assert out.exit_code == expect, (args, out)
        return out

    def console(self) -> Console:
        return Console(file=io.StringIO(), width=self.width, highlight=False)


@dataclass
class Services:
    cli: Cli
    ledger: RunningLedger
    rating: rating_main.Rating
    rating_stub: rating_pb2_grpc.RatingServiceStub


def rows(table: str) -> dict[str, list[str]]:
    """A Rich table's body rows keyed by their first cell."""
    found = {}
    for line in table.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if cells and cells[0]:
            found[cells[0]] = cells[1:]
    return found
