"""Fixtures of the rating e2e tests: a migrated rating database per test (copied from a template)
and a rating gRPC server on a real port, wired over real gRPC to the real ledger
(tests/conftest.py `ledger_server`, its own database) through a TCP proxy that tests can pause
for an outage. Both services share one fake clock. The forwarder is driven by hand (`drain`),
so tests never wait on timers."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2_grpc

from billing_common.clock import FakeClock
from ledger_service.adapters.db import tables as ledger_tables
from rating_service import main as rating_main
from rating_service.adapters.ledger_client import LedgerClient
from rating_service.config import RatingSettings
from tests.support.channels import admin_key_file, open_channel
from tests.support.ledger import balance, make_grant, make_wallet
from tests.support.proxy import TcpProxy
from tests.support.rating import Setup, setup_customer
from tests.support.tls import rating_settings

BOOKINGS = (lpb.ENTRY_TYPE_DEBIT, lpb.ENTRY_TYPE_REFUND)


@dataclass
class LedgerView:
    """The real ledger as the tests see it: wallets and grants made over its gRPC API, balances
    and the journal read back from it (directly, never through the proxy), and the proxy the
    rating service reaches it through."""

    running: object  # tests/conftest.py RunningLedger
    proxy: TcpProxy
    client: LedgerClient  # the rating service's own client (its channel goes through the proxy)
    wallets: list[str] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)  # wallet id -> customer id

    @property
    def stub(self):  # type: ignore[no-untyped-def]
        return self.running.stub  # type: ignore[attr-defined]

    async def wallet(
        self,
        *,
        deny: bool = False,
        credits: str | None = None,
        kind: int = lpb.GRANT_KIND_PREPAID,
        unit: str = "CREDITS",
        customer_id: str | None = None,
    ) -> str:
        """A new wallet (ALLOW_OVERAGE unless `deny`), with one grant of `credits` if given, of
        `customer_id` (a new customer by default; see `owners`)."""
        policy = lpb.OVERAGE_POLICY_DENY if deny else lpb.OVERAGE_POLICY_ALLOW_OVERAGE
        wallet = await make_wallet(self.stub, policy=policy, unit=unit, customer_id=customer_id)
        self.wallets.append(wallet.wallet_id)
        self.owners[wallet.wallet_id] = wallet.customer_id
        if credits is not None:
            await self.grant(wallet.wallet_id, credits, kind=kind)
        return wallet.wallet_id

    async def grant(
        self, wallet_id: str, amount: str, *, kind: int = lpb.GRANT_KIND_PREPAID
    ) -> None:
        await make_grant(self.stub, wallet_id, amount, kind=kind)

    async def remove_wallet(self, wallet_id: str) -> None:
        """Delete a wallet (made here, with no grants or entries yet) from the ledger's database,
        as an operator would: from then on the real ledger answers WALLET_NOT_FOUND for it. The
        ledger API has no call for this."""
        engine = self.running.ledger.engine  # type: ignore[attr-defined]
        async with engine.begin() as conn:
            for table in reversed(ledger_tables.metadata.sorted_tables):
                if table.name != "wallets" and "wallet_id" in table.c:
                    await conn.execute(table.delete().where(table.c.wallet_id == wallet_id))
            wallets = ledger_tables.wallets
            deleted = await conn.execute(wallets.delete().where(wallets.c.id == wallet_id))
            assert deleted.rowcount == 1

    async def balance(self, wallet_id: str) -> Decimal:
        """Available minus overage, as the ledger reports it now."""
        return Decimal((await balance(self.stub, wallet_id)).net)

    async def entries(
        self, wallet_ids: Sequence[str] | None = None, types: Sequence[int] = BOOKINGS
    ) -> list[lpb.Entry]:
        """Journal entries of the given wallets (default: every wallet made here), all pages."""
        found: list[lpb.Entry] = []
        for wallet_id in self.wallets if wallet_ids is None else wallet_ids:
            token = ""
            while True:
                page = await self.stub.ListEntries(
                    lpb.ListEntriesRequest(
                        wallet_id=wallet_id, types=types, page_size=500, page_token=token
                    )
                )
                found += page.entries
                token = page.next_page_token
                if not token:
                    break
        return found

    async def bookings(self) -> Counter[str]:
        """How many DEBIT and REFUND entries each request id booked (must never exceed 1)."""
        return Counter(e.request_id for e in await self.entries())

    async def amounts(self) -> dict[str, Decimal]:
        """Signed amount of each debit (negative) and refund (positive), by request id."""
        return {e.request_id: Decimal(e.amount) for e in await self.entries()}

    async def descriptions(self) -> dict[str, str]:
        return {e.request_id: e.description for e in await self.entries()}

    def pause(self) -> None:
        """Ledger outage: the rating service's connections to the ledger drop and fail."""
        self.proxy.pause()

    async def resume(self) -> None:
        """End the outage and wait until the rating service's channel is connected again."""
        self.proxy.resume()
        await asyncio.wait_for(self.client.channel.channel_ready(), 15)


@dataclass
class RunningRating:
    stub: rating_pb2_grpc.RatingServiceStub
    rating: rating_main.Rating
    ledger: LedgerView
    clock: FakeClock
    uri: str

    async def drain(self, rounds_max: int = 50) -> None:
        """Run the forwarder until nothing is due (bounded, so a bug cannot hang the test)."""
        for _ in range(rounds_max):
            if await self.rating.forwarder.run_once() == 0:
                return
        raise AssertionError("the forwarder kept finding due charges")

    async def setup_customer(self, *, wallet_id: str = "", **kw) -> Setup:  # type: ignore[no-untyped-def]
        """helpers.setup_customer with a real wallet (a new ALLOW_OVERAGE one by default), for
        the customer who owns it (a plan's wallet must belong to its customer)."""
        wallet_id = wallet_id or await self.ledger.wallet()
        return await setup_customer(
            self.stub, wallet_id=wallet_id, customer_id=self.ledger.owners[wallet_id], **kw
        )


@pytest.fixture
async def rating(
    new_database, rating_template: str, ledger_server, clock: FakeClock
) -> AsyncIterator[RunningRating]:  # type: ignore[no-untyped-def]
    assert ledger_server.clock is clock  # one time for both services
    uri = await new_database("rating", rating_template)
    host, port = ledger_server.target.rsplit(":", 1)
    proxy = await TcpProxy(host, int(port)).start()
    settings = RatingSettings(
        admin_key_file=admin_key_file(),
        ledger_api_key_file=admin_key_file(),
        database_url=uri,
        listen="127.0.0.1:0",
        migrate=False,
        pool_size=5,
        forward=False,
        ledger_target=proxy.target,
        **rating_settings(),
    )
    built = await rating_main.build(settings, clock)
    assert isinstance(built.ledger, LedgerClient)
    rating_port = await built.server.start()
    channel = open_channel(f"127.0.0.1:{rating_port}")
    view = LedgerView(ledger_server, proxy, built.ledger)
    try:
        yield RunningRating(rating_pb2_grpc.RatingServiceStub(channel), built, view, clock, uri)
    finally:
        await channel.close()
        await built.close()
        await proxy.close()
