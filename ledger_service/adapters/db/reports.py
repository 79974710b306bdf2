"""The reports' reads: the journal's allocations summed in SQL per bucket, entry type, grant kind,
cost basis and feature (or customer), so a report costs two statements however long the journal
is, and Python only sees the sums (ledger_service/domain/reports.py turns them into reports).

A sum is timed at the start of its UTC bucket (`date_trunc(bucket, time, 'UTC')`: weeks start on
Monday), cut by the range's start, which is what the domain expects of pre-summed movements.

SQL text on the asyncpg connection, as the hot path's (`hot.py`): prepared once per connection,
and outside any transaction when the read has not begun one, so a report's round trips are its
statements alone (tests/integration/test_ledger_round_trips.py counts them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from ledger_service.domain.model import EntryType, GrantKind
from ledger_service.domain.reports import CONSUMING, Bucket, Movement, ReportWallet

_TRUNC = {Bucket.DAY: "day", Bucket.WEEK: "week", Bucket.MONTH: "month"}
_CONSUMING = sorted(t.value for t in CONSUMING)

WALLET = "SELECT seq, id, customer_id, unit FROM wallets WHERE id = $1"
WALLETS = """
SELECT seq, id, customer_id, unit FROM wallets
WHERE seq > $1 AND ($3 = '' OR customer_id = $3)
  AND ($4::text[] IS NULL OR customer_id = ANY($4::text[]))
ORDER BY seq LIMIT $2
"""

# A refund counts for the feature of the debit it refunds (refund entries carry none).
CONSUMPTION = """
SELECT e.wallet_id,
       greatest(date_trunc($2, e.occurred_time, 'UTC'), $3::timestamptz) AS at,
       e.type, g.kind, coalesce(r.feature, e.feature) AS feature, sum(a.amount) AS amount
FROM entries e
JOIN allocations a ON a.entry_id = e.id
LEFT JOIN grants g ON g.id = a.grant_id
LEFT JOIN entries r ON e.type = 'REFUND' AND r.id = e.related_id
WHERE e.wallet_id = ANY($1::text[]) AND e.type = ANY($5::text[])
  AND e.occurred_time >= $3 AND e.occurred_time < $4
GROUP BY 1, 2, 3, 4, 5
"""

CUSTOMERS = """
SELECT min(seq) AS first, customer_id FROM wallets
WHERE ($3::text[] IS NULL OR customer_id = ANY($3::text[]))
GROUP BY customer_id HAVING min(seq) > $1
ORDER BY first LIMIT $2
"""

# Allocations on grants booked before the end, of the customers the caller may see ($5; NULL:
# every one): summed per customer of the page ($1), and (when $6) over all of them, under a
# NULL customer. Those booked before the start ($3) have no bucket (NULL): they only make the
# unused balance the range starts with. The CTE is scanned once for both.
REVENUE = """
WITH moved AS (
  SELECT w.customer_id, w.unit,
         CASE WHEN e.book_time < $3 THEN NULL
              ELSE greatest(date_trunc($2, e.book_time, 'UTC'), $3::timestamptz) END AS at,
         e.type, g.kind, g.cost_unit_price, g.cost_currency, a.amount
  FROM entries e
  JOIN wallets w ON w.id = e.wallet_id
  JOIN allocations a ON a.entry_id = e.id
  JOIN grants g ON g.id = a.grant_id
  WHERE e.book_time < $4 AND ($5::text[] IS NULL OR w.customer_id = ANY($5::text[]))
)
SELECT customer_id, unit, at, type, kind, cost_unit_price, cost_currency, sum(amount) AS amount
FROM moved WHERE customer_id = ANY($1::text[])
GROUP BY 1, 2, 3, 4, 5, 6, 7
UNION ALL
SELECT NULL, unit, at, type, kind, cost_unit_price, cost_currency, sum(amount)
FROM moved WHERE $6
GROUP BY 2, 3, 4, 5, 6, 7
"""


def _customers(customers: frozenset[str] | None) -> list[str] | None:
    return None if customers is None else sorted(customers)


async def report_wallets(
    pg: asyncpg.Connection,
    wallet_id: str,
    customer_id: str,
    after_seq: int,
    limit: int,
    customers: frozenset[str] | None,
) -> list[ReportWallet]:
    """The wallet `wallet_id` (whoever owns it: the caller checks), or a page of wallets after a
    cursor: of `customer_id` ("": every customer), only of `customers` when not None."""
    if wallet_id:
        rows = [row] if (row := await pg.fetchrow(WALLET, wallet_id)) else []
    else:
        rows = await pg.fetch(WALLETS, after_seq, limit, customer_id, _customers(customers))
    return [ReportWallet(r["seq"], r["id"], r["customer_id"], r["unit"]) for r in rows]


async def consumption_movements(
    pg: asyncpg.Connection,
    wallet_ids: Sequence[str],
    start: datetime,
    end: datetime,
    bucket: Bucket,
) -> list[Movement]:
    """Consuming allocations of these wallets that occurred in [start, end), summed per bucket."""
    if not wallet_ids:
        return []
    rows = await pg.fetch(
        CONSUMPTION, sorted(set(wallet_ids)), _TRUNC[bucket], start, end, _CONSUMING
    )
    return [
        Movement(
            wallet_id=r["wallet_id"],
            time=r["at"],
            entry_type=EntryType(r["type"]),
            kind=None if r["kind"] is None else GrantKind(r["kind"]),
            amount=r["amount"],
            feature=r["feature"],
        )
        for r in rows
    ]


async def revenue_customers(
    pg: asyncpg.Connection, after_seq: int, limit: int, customers: frozenset[str] | None
) -> list[tuple[int, str]]:
    """Customers with a wallet, in the order of their first wallet, after a cursor (that
    wallet's seq); only `customers` when not None: (first wallet's seq, customer)."""
    rows = await pg.fetch(CUSTOMERS, after_seq, limit, _customers(customers))
    return [(r["first"], r["customer_id"]) for r in rows]


async def revenue_movements(
    pg: asyncpg.Connection,
    page: Sequence[str],
    customers: frozenset[str] | None,
    start: datetime,
    end: datetime,
    bucket: Bucket,
    *,
    total: bool,
) -> list[tuple[str | None, Movement, str, bool]]:
    """Allocations on grants booked before `end`, summed per bucket of their book time, entry
    type, grant kind and cost basis, for each customer of `page`, and with `total` over every
    customer of `customers` (None: every one) under customer None: (customer, movement, wallet
    unit, booked before `start`, so only part of the opening balance)."""
    rows = await pg.fetch(
        REVENUE, sorted(set(page)), _TRUNC[bucket], start, end, _customers(customers), total
    )
    return [
        (
            r["customer_id"],
            Movement(
                wallet_id="",
                time=start if r["at"] is None else r["at"],
                entry_type=EntryType(r["type"]),
                kind=GrantKind(r["kind"]),
                amount=r["amount"],
                unit_price=r["cost_unit_price"],
                currency=r["cost_currency"],
            ),
            r["unit"],
            r["at"] is None,
        )
        for r in rows
    ]
