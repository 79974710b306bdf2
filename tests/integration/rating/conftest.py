"""Rating integration fixtures: a migrated rating database per test (copied from a template) and
a rating gRPC server on a real port, wired to a fake ledger and a fake clock. The forwarder is
driven by hand (`drain`), so tests never wait on timers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from billing.rating.v1 import rating_pb2_grpc

from billing_common.clock import FakeClock
from rating_service import main as rating_main
from rating_service.config import RatingSettings
from tests.integration.rating.fakes import FakeLedger
from tests.integration.rating.helpers import migrated_template


@pytest.fixture(scope="session")
async def rating_template(pg_server_uri: str) -> str:
    return await migrated_template(pg_server_uri)


@dataclass
class RunningRating:
    stub: rating_pb2_grpc.RatingServiceStub
    rating: rating_main.Rating
    ledger: FakeLedger
    clock: FakeClock
    uri: str

    async def drain(self, rounds_max: int = 50) -> None:
        """Run the forwarder until nothing is due (bounded, so a bug cannot hang the test)."""
        for _ in range(rounds_max):
            if await self.rating.forwarder.run_once() == 0:
                return
        raise AssertionError("the forwarder kept finding due charges")


@pytest.fixture
async def rating(
    new_database, rating_template: str, clock: FakeClock
) -> AsyncIterator[RunningRating]:  # type: ignore[no-untyped-def]
    uri = await new_database("rating", rating_template)
    fake = FakeLedger()
    settings = RatingSettings(
        database_url=uri, listen="127.0.0.1:0", migrate=False, pool_size=5, forward=False
    )
    built = await rating_main.build(settings, clock, fake)
    port = await built.server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield RunningRating(rating_pb2_grpc.RatingServiceStub(channel), built, fake, clock, uri)
    finally:
        await channel.close()
        await built.close()
