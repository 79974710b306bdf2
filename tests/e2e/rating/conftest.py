"""Rating e2e fixtures: the real ledger (tests/conftest.py `ledger_server`) and a rating server on
its own database, both over gRPC on port 0, sharing one fake clock. The rating service talks to
the ledger through its real gRPC client; its forwarder is driven by hand (`drain`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from billing.rating.v1 import rating_pb2_grpc

from rating_service import main as rating_main
from rating_service.config import RatingSettings
from tests.integration.rating.helpers import migrated_template


@pytest.fixture(scope="session")
async def rating_template(pg_server_uri: str) -> str:
    return await migrated_template(pg_server_uri)


@dataclass
class RatingOverLedger:
    stub: rating_pb2_grpc.RatingServiceStub
    rating: rating_main.Rating
    ledger: object  # tests/conftest.py RunningLedger

    async def drain(self, rounds_max: int = 50) -> None:
        for _ in range(rounds_max):
            if await self.rating.forwarder.run_once() == 0:
                return
        raise AssertionError("the forwarder kept finding due charges")


@pytest.fixture
async def both(
    new_database, rating_template: str, ledger_server
) -> AsyncIterator[RatingOverLedger]:  # type: ignore[no-untyped-def]
    uri = await new_database("rating", rating_template)
    settings = RatingSettings(
        database_url=uri,
        listen="127.0.0.1:0",
        migrate=False,
        pool_size=5,
        forward=False,
        ledger_target=ledger_server.target,
    )
    built = await rating_main.build(settings, ledger_server.clock)
    port = await built.server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield RatingOverLedger(rating_pb2_grpc.RatingServiceStub(channel), built, ledger_server)
    finally:
        await channel.close()
        await built.close()
