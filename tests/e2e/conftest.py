"""Fixtures of the e2e tests (the shared ones are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.cli import Cli, Services
from tests.support.webhooks import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    try:
        yield r
    finally:
        if r.server is not None:
            await r.stop()


@pytest.fixture
def services(both) -> Services:  # type: ignore[no-untyped-def]
    """Both services over gRPC (tests/conftest.py `both`), and the CLI pointed at them."""
    return Services(Cli(both.ledger.target, both.target), both.ledger, both.rating, both.stub)
