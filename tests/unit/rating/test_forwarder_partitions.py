"""The forwarder's partitions: a wallet's charges always land in one partition, in charge order,
whatever the number of partitions; the number is a checked setting."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from rating_service import limits
from rating_service.adapters.db.repository import ChargeRow
from rating_service.app.forwarder import partition_of, partitioned
from rating_service.config import RatingSettings

AT = datetime(2026, 1, 1, tzinfo=UTC)


def charge(charge_id: int, wallet_id: str) -> ChargeRow:
    return ChargeRow(
        id=charge_id,
        event_id=f"e{charge_id}",
        meter_id="m",
        meter_key="m",
        meter_description="",
        price_id="p",
        price_version=1,
        assignment_id="a",
        customer_id="c",
        wallet_id=wallet_id,
        period_start=AT,
        period_end=AT,
        occurred_time=AT,
        amount=Decimal(1),
        quantity_before=Decimal(0),
        quantity_after=Decimal(1),
        status="PENDING",
        ledger_request_id=f"r{charge_id}",
        ledger_entry_id="",
        refunded=Decimal(0),
        attempts=0,
        internal_errors=0,
    )


@pytest.mark.parametrize("partitions", [1, 2, 4, 7])
def test_each_wallet_lands_in_one_partition_in_charge_order(partitions: int) -> None:
    wallets = [f"w{i}" for i in range(10)]
    # Out of order on purpose: the rounds' charges come sorted, but nothing relies on it.
    charges = [charge(i, wallets[i * 7 % 10]) for i in reversed(range(100))]
    parts = partitioned(charges, partitions)
    assert 1 <= len(parts) <= partitions
    assert sorted(c.id for p in parts for c in p) == list(range(100))
    for part in parts:
        assert [c.id for c in part] == sorted(c.id for c in part)
    for wallet in wallets:
        holding = [i for i, p in enumerate(parts) if any(c.wallet_id == wallet for c in p)]
        assert len(holding) == 1
        assert partition_of(wallet, partitions) == partition_of(wallet, partitions)


def test_partition_of_is_the_same_in_every_process() -> None:
    # Not Python's `hash`, which is salted per process: another process with another salt
    # puts every wallet in the same partition.
    wallets = [f"wallet-{i}" for i in range(20)]
    code = (
        "from rating_service.app.forwarder import partition_of; "
        f"print([partition_of(w, 4) for w in {wallets!r}])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str([partition_of(w, 4) for w in wallets])


@pytest.mark.parametrize("concurrency", [0, -1, limits.FORWARD_CONCURRENCY_MAX + 1, 10])
def test_forward_concurrency_out_of_range_is_refused_with_its_name(concurrency: int) -> None:
    with pytest.raises(ValueError, match="forward_concurrency"):
        limits.check(replace(RatingSettings(), pool_size=10, forward_concurrency=concurrency))


def test_forward_concurrency_default_is_four() -> None:
    assert RatingSettings().forward_concurrency == 4
    limits.check(RatingSettings())
