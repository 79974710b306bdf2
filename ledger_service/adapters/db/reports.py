"""The reports' reads: the journal's allocations summed in SQL per bucket, entry type, grant kind,
cost basis and feature (or customer), so a report costs one statement however long the journal
is, and Python only sees the sums (ledger_service/domain/reports.py turns them into reports).

A sum is timed at the start of its UTC bucket (`date_trunc(bucket, time, 'UTC')`: weeks start on
Monday), cut by the range's start, which is what the domain expects of pre-summed movements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from ledger_service.adapters.db.tables import allocations, entries, grants, wallets
from ledger_service.domain.model import EntryType, GrantKind
from ledger_service.domain.reports import CONSUMING, Bucket, Movement

_TRUNC = {Bucket.DAY: "day", Bucket.WEEK: "week", Bucket.MONTH: "month"}


def _at(time: Any, start: datetime, bucket: Bucket) -> ColumnElement[Any]:
    """The start of `time`'s UTC bucket, not before the range's start."""
    return func.greatest(func.date_trunc(_TRUNC[bucket], time, literal("UTC")), start)


async def consumption_movements(
    conn: AsyncConnection,
    wallet_ids: Sequence[str],
    start: datetime,
    end: datetime,
    bucket: Bucket,
) -> list[Movement]:
    """Consuming allocations of these wallets that occurred in [start, end), summed per bucket.

    A refund counts for the feature of the debit it refunds (refund entries carry none)."""
    if not wallet_ids:
        return []
    refunded = entries.alias("refunded")
    at = _at(entries.c.occurred_time, start, bucket).label("at")
    feature = func.coalesce(refunded.c.feature, entries.c.feature).label("feature")
    query = (
        select(
            entries.c.wallet_id,
            at,
            entries.c.type,
            grants.c.kind,
            feature,
            func.sum(allocations.c.amount).label("amount"),
        )
        .select_from(
            entries.join(allocations, allocations.c.entry_id == entries.c.id)
            .outerjoin(grants, grants.c.id == allocations.c.grant_id)
            .outerjoin(
                refunded,
                and_(
                    entries.c.type == EntryType.REFUND.value,
                    refunded.c.id == entries.c.related_id,
                ),
            )
        )
        .where(
            entries.c.wallet_id.in_(sorted(set(wallet_ids))),
            entries.c.type.in_(sorted(t.value for t in CONSUMING)),
            entries.c.occurred_time >= start,
            entries.c.occurred_time < end,
        )
        .group_by(entries.c.wallet_id, at, entries.c.type, grants.c.kind, feature)
    )
    return [
        Movement(
            wallet_id=row.wallet_id,
            time=row.at,
            entry_type=EntryType(row.type),
            kind=None if row.kind is None else GrantKind(row.kind),
            amount=row.amount,
            feature=row.feature,
        )
        for row in await conn.execute(query)
    ]


async def revenue_customers(
    conn: AsyncConnection, after_seq: int, limit: int, customers: frozenset[str] | None
) -> list[tuple[int, str]]:
    """Customers with a wallet, in the order of their first wallet, after a cursor (that
    wallet's seq); only `customers` when not None: (first wallet's seq, customer)."""
    first = func.min(wallets.c.seq).label("first")
    query = select(first, wallets.c.customer_id).group_by(wallets.c.customer_id)
    if customers is not None:
        query = query.where(wallets.c.customer_id.in_(sorted(customers)))
    rows = await conn.execute(query.having(first > after_seq).order_by(first).limit(limit))
    return [(row.first, row.customer_id) for row in rows]


async def revenue_movements(
    conn: AsyncConnection,
    customers: Sequence[str] | None,
    start: datetime,
    end: datetime,
    bucket: Bucket,
    *,
    together: bool = False,
) -> list[tuple[str, Movement, str, bool]]:
    """Allocations on grants of these customers' wallets (None: every customer's; `together`:
    summed over the customers, under customer "") booked before `end`, summed per bucket of
    their book time, entry type, grant kind and cost basis: (customer, movement, wallet unit,
    booked before `start`).
    Those booked before `start` are summed into one row per kind and cost basis: they only make
    the unused balance the range starts with."""
    if customers is not None and not customers:
        return []
    before = entries.c.book_time < start
    at = case((before, None), else_=_at(entries.c.book_time, start, bucket)).label("at")
    customer = (literal("") if together else wallets.c.customer_id).label("customer")
    query = (
        select(
            customer,
            wallets.c.unit,
            at,
            entries.c.type,
            grants.c.kind,
            grants.c.cost_unit_price,
            grants.c.cost_currency,
            func.sum(allocations.c.amount).label("amount"),
        )
        .select_from(
            entries.join(wallets, wallets.c.id == entries.c.wallet_id)
            .join(allocations, allocations.c.entry_id == entries.c.id)
            .join(grants, grants.c.id == allocations.c.grant_id)
        )
        .where(entries.c.book_time < end)
        .group_by(
            *(() if together else (wallets.c.customer_id,)),
            wallets.c.unit,
            at,
            entries.c.type,
            grants.c.kind,
            grants.c.cost_unit_price,
            grants.c.cost_currency,
        )
    )
    if customers is not None:
        query = query.where(wallets.c.customer_id.in_(sorted(set(customers))))
    return [
        (
            row.customer,
            Movement(
                wallet_id="",
                time=start if row.at is None else row.at,
                entry_type=EntryType(row.type),
                kind=GrantKind(row.kind),
                amount=row.amount,
                unit_price=row.cost_unit_price,
                currency=row.cost_currency,
            ),
            row.unit,
            row.at is None,
        )
        for row in await conn.execute(query)
    ]
