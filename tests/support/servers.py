"""What the shared fixtures (tests/conftest.py) hand to the tests: the servers they started, and
the time the fake clock starts at."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from billing.ledger.v1 import ledger_pb2_grpc
from billing.rating.v1 import rating_pb2_grpc

from billing_common.clock import FakeClock
from ledger_service import main as ledger_main
from rating_service import main as rating_main

START = datetime(2026, 1, 1, tzinfo=UTC)

NewDatabase = Callable[..., Awaitable[str]]


@dataclass
class RunningLedger:
    target: str
    clock: FakeClock
    ledger: ledger_main.Ledger
    channel: grpc.aio.Channel
    stub: ledger_pb2_grpc.LedgerServiceStub

    @property
    def app(self):  # type: ignore[no-untyped-def]
        return self.ledger.app


@dataclass
class RatingOverLedger:
    stub: rating_pb2_grpc.RatingServiceStub
    rating: rating_main.Rating
    ledger: RunningLedger
    target: str  # the rating server's host:port

    async def drain(self, rounds_max: int = 50) -> None:
        for _ in range(rounds_max):
            if await self.rating.forwarder.run_once() == 0:
                return
        raise AssertionError("the forwarder kept finding due charges")
