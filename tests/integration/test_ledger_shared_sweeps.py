"""Replicas share the periodic work: a sweep (expiry, signals) passes over the wallets another
process's sweep has claimed and takes the others, and two processes sweeping at once book every
write-off exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import text

from billing_common import database
from ledger_service import main as ledger_main
from ledger_service.adapters.db import claims
from ledger_service.config import LedgerSettings
from ledger_service.domain.model import EntryType
from tests.support.ledger import make_grant, make_wallet
from tests.support.servers import START, RunningLedger

HOLD_CLAIM = "SELECT pg_advisory_xact_lock(:job, hashtext(:wallet))"
EXPIRE = START + timedelta(hours=1)
PAST_GRACE = timedelta(days=1)


async def _expiring_wallets(stub, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    ids = []
    for _ in range(count):
        wallet = (await make_wallet(stub, grace=timedelta(0))).wallet_id
        await make_grant(stub, wallet, "10", expire=EXPIRE)
        ids.append(wallet)
    return ids


async def test_a_sweep_passes_over_a_wallet_another_process_is_sweeping(
    ledger_server: RunningLedger,
) -> None:
    claimed, free = await _expiring_wallets(ledger_server.stub, 2)
    ledger_server.clock.advance(PAST_GRACE)
    engine = ledger_server.ledger.engine
    async with engine.connect() as other:
        await other.execute(text(HOLD_CLAIM), {"job": claims.SWEEP, "wallet": claimed})
        swept = await ledger_server.app.run_expiry()
        assert [(s.wallet_id, s.entry.type) for s in swept] == [(free, EntryType.EXPIRY)]
        await other.rollback()
    swept = await ledger_server.app.run_expiry()
    assert [(s.wallet_id, s.entry.type) for s in swept] == [(claimed, EntryType.EXPIRY)]


async def test_a_signal_sweep_passes_over_a_wallet_another_process_is_evaluating(
    ledger_server: RunningLedger,
) -> None:
    claimed, free = await _expiring_wallets(ledger_server.stub, 2)
    engine = ledger_server.ledger.engine
    evaluated = "SELECT wallet_id FROM wallet_signals WHERE evaluate_time IS NOT NULL"
    async with engine.connect() as other:
        await other.execute(text(HOLD_CLAIM), {"job": claims.SIGNALS, "wallet": claimed})
        await ledger_server.app.run_signals()
        async with engine.connect() as reader:
            assert set((await reader.execute(text(evaluated))).scalars()) == {free}
        await other.rollback()
    await ledger_server.app.run_signals()
    async with engine.connect() as reader:
        assert set((await reader.execute(text(evaluated))).scalars()) == {free, claimed}


async def test_two_processes_sweeping_at_once_book_each_write_off_once(
    ledger_server: RunningLedger, ledger_db: str
) -> None:
    wallets = await _expiring_wallets(ledger_server.stub, 30)
    ledger_server.clock.advance(PAST_GRACE)
    settings = LedgerSettings(database_url=ledger_db, migrate=False, pool_size=4)
    engine = database.create_engine(ledger_db, pool_size=4, pre_ping=False)
    try:
        other = ledger_main.make_app(settings, engine, ledger_server.clock)
        first, second = await asyncio.gather(ledger_server.app.run_expiry(), other.run_expiry())
    finally:
        await engine.dispose()
    booked = [s.wallet_id for s in first + second if s.entry.type == EntryType.EXPIRY]
    assert sorted(booked) == sorted(wallets)
    async with ledger_server.ledger.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT wallet_id, count(*) FROM entries WHERE type = 'EXPIRY' GROUP BY 1")
        )
        assert dict(rows.all()) == dict.fromkeys(wallets, 1)
