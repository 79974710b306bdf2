"""The hot path's SQL, on the asyncpg connection under the SQLAlchemy unit of work.

Every write and balance read runs these statements; a profile of the unary Debit showed about
40% of the ledger's CPU in SQLAlchemy building, caching and compiling statements and wrapping
their results. Here the SQL is text written once, asyncpg prepares each statement once per
connection (its statement cache), arrays carry many rows per statement (`unnest`), and rows map
straight to the domain's dataclasses. The statements run inside the transaction SQLAlchemy
began (`LedgerRepository._pg` makes sure it has), so the cold paths can keep using SQLAlchemy
Core in the same transaction.

Types: NUMERIC in and out as Decimal, timestamptz as aware datetimes, jsonb as a JSON string in
and a dict out (SQLAlchemy's codec on the connection), never a float.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from asyncpg import Record

# -- idempotency -------------------------------------------------------------------------------

CLAIM = """
INSERT INTO idempotency_keys (request_id, method, fingerprint, create_time)
SELECT r, m, f, $4 FROM unnest($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY AS t(r, m, f, n)
ORDER BY n
ON CONFLICT (request_id) DO NOTHING
RETURNING request_id
"""
CLAIMED = """
SELECT request_id, method, fingerprint, response FROM idempotency_keys
WHERE request_id = ANY($1::text[])
"""
STORE_RESPONSES = """
UPDATE idempotency_keys k SET response = t.b
FROM unnest($1::text[], $2::bytea[]) AS t(r, b) WHERE k.request_id = t.r
"""
RELEASE = "DELETE FROM idempotency_keys WHERE request_id = ANY($1::text[])"

# -- locked state ------------------------------------------------------------------------------

LOCK_WALLETS = "SELECT * FROM wallets WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"
WALLET = "SELECT * FROM wallets WHERE id = $1"
# Live grants, plus consumed grants still in force at $2 (percent alerts measure against
# everything granted in force, used up or not).
LIVE_GRANTS = """
SELECT * FROM grants WHERE wallet_id = ANY($1::text[])
AND (remaining > 0 OR overage_paid > overage_returned
     OR (void_time IS NULL AND effective_time <= $2 AND (expire_time IS NULL OR expire_time > $2)))
"""
# Live grants only (a balance now).
LIVE_GRANTS_NOW = """
SELECT * FROM grants WHERE wallet_id = $1 AND (remaining > 0 OR overage_paid > overage_returned)
"""
_HOLD_COLUMNS = """
SELECT h.*,
  array(SELECT a.grant_id FROM hold_allocations a WHERE a.hold_id = h.id ORDER BY a.position)
    AS alloc_grants,
  array(SELECT a.amount FROM hold_allocations a WHERE a.hold_id = h.id ORDER BY a.position)
    AS alloc_amounts
FROM holds h
"""
ACTIVE_HOLDS = _HOLD_COLUMNS + "WHERE h.wallet_id = ANY($1::text[]) AND h.state = 'ACTIVE'"
HOLD = _HOLD_COLUMNS + "WHERE h.id = $1"
ALERT_RULES = """
SELECT * FROM alert_rules WHERE wallet_id = ANY($1::text[]) ORDER BY wallet_id, position
"""
TOPUP_RULES = "SELECT * FROM topup_rules WHERE wallet_id = ANY($1::text[])"
PENDING_TOPUPS = "SELECT * FROM topups WHERE wallet_id = ANY($1::text[]) AND state = 'PENDING'"
# Credits topped up (failed ones aside) since the start of the day ($2) and of the month ($3).
TOPPED_UP = """
SELECT wallet_id, coalesce(sum(amount) FILTER (WHERE create_time >= $2), 0) AS in_day,
       sum(amount) AS in_month
FROM topups WHERE wallet_id = ANY($1::text[]) AND state <> 'FAILED' AND create_time >= $3
GROUP BY wallet_id
"""
SCHEDULES = "SELECT * FROM allotment_schedules WHERE wallet_id = ANY($1::text[]) ORDER BY seq"
GRANTS_BY_ID = "SELECT * FROM grants WHERE id = ANY($1::text[])"
WALLET_OWNERS = "SELECT id, customer_id FROM wallets WHERE id = ANY($1::text[])"

# -- writes ------------------------------------------------------------------------------------

INSERT_ENTRIES = """
INSERT INTO entries (id, wallet_id, type, amount, occurred_time, book_time, description, feature,
  source_event_id, request_id, related_id, available_after, overage_after, metadata)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::timestamptz[],
  $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
  $12::numeric[], $13::numeric[], $14::jsonb[])
"""
INSERT_ALLOCATIONS = """
INSERT INTO allocations (entry_id, position, grant_id, amount)
SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::numeric[])
"""
INSERT_GRANTS = """
INSERT INTO grants (id, wallet_id, kind, amount, remaining, priority, effective_time, expire_time,
  create_time, void_time, expired_amount, voided_amount, overage_paid, overage_returned,
  cost_unit_price, cost_currency, external_reference, metadata)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::int[],
  $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::numeric[],
  $12::numeric[], $13::numeric[], $14::numeric[], $15::numeric[], $16::text[], $17::text[],
  $18::jsonb[])
"""
UPDATE_GRANTS = """
UPDATE grants g SET remaining = t.remaining, void_time = t.void_time,
  expired_amount = t.expired, voided_amount = t.voided, overage_paid = t.paid,
  overage_returned = t.returned
FROM unnest($1::text[], $2::numeric[], $3::timestamptz[], $4::numeric[], $5::numeric[],
  $6::numeric[], $7::numeric[]) AS t(id, remaining, void_time, expired, voided, paid, returned)
WHERE g.id = t.id
"""
UPDATE_WALLETS = """
UPDATE wallets w SET overage = t.overage, last_book_time = greatest(w.last_book_time, t.book)
FROM unnest($1::text[], $2::numeric[], $3::timestamptz[]) AS t(id, overage, book)
WHERE w.id = t.id
"""
INSERT_HOLDS = """
INSERT INTO holds (id, wallet_id, amount, state, create_time, expire_time, end_time,
  captured_amount, feature, description)
SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[], $5::timestamptz[],
  $6::timestamptz[], $7::timestamptz[], $8::numeric[], $9::text[], $10::text[])
"""
INSERT_HOLD_ALLOCATIONS = """
INSERT INTO hold_allocations (hold_id, position, grant_id, amount)
SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::numeric[])
"""
UPDATE_HOLDS = """
UPDATE holds h SET state = t.state, end_time = t.end_time, captured_amount = t.captured
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::numeric[])
  AS t(id, state, end_time, captured)
WHERE h.id = t.id
"""
INSERT_EVENTS = """
INSERT INTO wallet_events (id, wallet_id, type, occurred_time, book_time, data)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
  $6::jsonb[])
"""


class Row:
    """Attribute access over an asyncpg record, for the row mappers SQLAlchemy rows also feed."""

    __slots__ = ("_record",)

    def __init__(self, record: Record | Mapping[str, Any]) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        try:
            return self._record[name]
        except KeyError:
            raise AttributeError(name) from None


def columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as one list per column: the arrays `unnest` takes."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def as_json(value: Any) -> str:
    """A jsonb parameter (the connection's codec takes JSON text)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
