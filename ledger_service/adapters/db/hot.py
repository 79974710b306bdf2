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
from collections.abc import Sequence
from datetime import datetime
from typing import Any

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

# -- locked state ------------------------------------------------------------------------------

LOCK_WALLETS = "SELECT * FROM wallets WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"
WALLETS_BY_ID = "SELECT * FROM wallets WHERE id = ANY($1::text[])"
# A wallet now, in one statement: its row, live grants, active holds and their allocations, and
# its allotment schedules (a balance counts the period grants that are due but not booked).
STATE_NOW = """
SELECT w.*,
  ARRAY(SELECT g FROM grants g WHERE g.wallet_id = w.id
    AND (g.remaining > 0 OR g.overage_paid > g.overage_returned)) AS live_grants,
  ARRAY(SELECT h FROM holds h WHERE h.wallet_id = w.id AND h.state = 'ACTIVE') AS active_holds,
  ARRAY(SELECT a FROM hold_allocations a JOIN holds h ON h.id = a.hold_id
    WHERE h.wallet_id = w.id AND h.state = 'ACTIVE' ORDER BY a.hold_id, a.position)
    AS active_hold_allocations,
  ARRAY(SELECT s FROM allotment_schedules s WHERE s.wallet_id = w.id ORDER BY s.seq)
    AS wallet_schedules
FROM wallets w WHERE w.id = $1
"""
# The same, for a customer's wallet in a unit (Authorize by customer_id and unit).
STATE_NOW_OF_CUSTOMER = STATE_NOW.replace(
    "WHERE w.id = $1", "WHERE w.customer_id = $1 AND w.unit = $2"
)


def cap_periods(now: datetime) -> tuple[datetime, datetime]:
    """The start of `now`'s day and month: the top-up caps' periods, the parameters of
    LOAD_STATES and AUTHORIZE_STATE_NOW."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return day_start, day_start.replace(day=1)


# Authorize's check: STATE_NOW and what a top-up needs to be decided (the rule, pending
# top-ups, the credits topped up since the start of the day, $2, and of the month, $3), still one
# statement; the customer variant names the wallet by customer ($1) and unit ($4).
AUTHORIZE_STATE_NOW = STATE_NOW.replace(
    "\nFROM wallets w WHERE w.id = $1",
    """,
  (SELECT t FROM topup_rules t WHERE t.wallet_id = w.id) AS topup_rule,
  ARRAY(SELECT p FROM topups p WHERE p.wallet_id = w.id AND p.state = 'PENDING') AS pending,
  (SELECT coalesce(sum(p.amount) FILTER (WHERE p.create_time >= $2), 0) FROM topups p
    WHERE p.wallet_id = w.id AND p.state <> 'FAILED' AND p.create_time >= $3) AS in_day,
  (SELECT coalesce(sum(p.amount), 0) FROM topups p
    WHERE p.wallet_id = w.id AND p.state <> 'FAILED' AND p.create_time >= $3) AS in_month
FROM wallets w WHERE w.id = $1""",
)
AUTHORIZE_STATE_NOW_OF_CUSTOMER = AUTHORIZE_STATE_NOW.replace(
    "WHERE w.id = $1", "WHERE w.customer_id = $1 AND w.unit = $4"
)
_HOLD_COLUMNS = """
SELECT h.*,
  array(SELECT a.grant_id FROM hold_allocations a WHERE a.hold_id = h.id ORDER BY a.position)
    AS alloc_grants,
  array(SELECT a.amount FROM hold_allocations a WHERE a.hold_id = h.id ORDER BY a.position)
    AS alloc_amounts
FROM holds h
"""
HOLD = _HOLD_COLUMNS + "WHERE h.id = $1"
# Everything a locked wallet's state needs beyond its row, for many wallets in one statement,
# each table's rows as an array of its composite type: live grants plus consumed grants still in
# force at $2 (percent alerts measure against everything granted in force, used up or not),
# active holds and their allocations, alert rules, the top-up rule, pending top-ups, the credits
# topped up (failed ones aside) since the start of the day ($3) and of the month ($4), and the
# allotment schedules.
LOAD_STATES = """
SELECT w.id,
  ARRAY(SELECT g FROM grants g WHERE g.wallet_id = w.id
    AND (g.remaining > 0 OR g.overage_paid > g.overage_returned
         OR (g.void_time IS NULL AND g.effective_time <= $2
             AND (g.expire_time IS NULL OR g.expire_time > $2)))) AS grants,
  ARRAY(SELECT h FROM holds h WHERE h.wallet_id = w.id AND h.state = 'ACTIVE') AS holds,
  ARRAY(SELECT a FROM hold_allocations a JOIN holds h ON h.id = a.hold_id
    WHERE h.wallet_id = w.id AND h.state = 'ACTIVE' ORDER BY a.hold_id, a.position)
    AS hold_allocations,
  ARRAY(SELECT r FROM alert_rules r WHERE r.wallet_id = w.id ORDER BY r.position) AS alert_rules,
  (SELECT t FROM topup_rules t WHERE t.wallet_id = w.id) AS topup_rule,
  ARRAY(SELECT p FROM topups p WHERE p.wallet_id = w.id AND p.state = 'PENDING') AS pending,
  (SELECT coalesce(sum(p.amount) FILTER (WHERE p.create_time >= $3), 0) FROM topups p
    WHERE p.wallet_id = w.id AND p.state <> 'FAILED' AND p.create_time >= $4) AS in_day,
  (SELECT coalesce(sum(p.amount), 0) FROM topups p
    WHERE p.wallet_id = w.id AND p.state <> 'FAILED' AND p.create_time >= $4) AS in_month,
  ARRAY(SELECT s FROM allotment_schedules s WHERE s.wallet_id = w.id ORDER BY s.seq)
    AS schedules
FROM unnest($1::text[]) AS w(id)
"""
# A write transaction's claims, wallet locks and locked state in one round trip: the PL/pgSQL
# function of migration 0010 (each of its statements takes a fresh snapshot, so what a claim or a
# lock waited for is seen). Rows: a claimed request id (`claimed`), a stored request (`stored`),
# or a locked wallet (`wallet` and the columns of LOAD_STATES, its consumed grants those still in
# force after $7: the caller keeps those in force at its time).
CLAIM_LOCK_LOAD = """
SELECT * FROM ledger_claim_lock_load($1::text[], $2::text[], $3::bytea[], $4::timestamptz,
  $5::text[], $6::text[], $7::timestamptz, $8::timestamptz, $9::timestamptz)
"""
GRANTS_BY_ID = "SELECT * FROM grants WHERE id = ANY($1::text[])"
# Pool members of a wallet ($1) by id ($2) with their spend in their current period (which
# starts at $3, $4 or $5 for a DAY, WEEK or MONTH budget; no period: all time): the debits and
# captures naming them booked since, less the refunds of those. Read under the wallet's lock.
MEMBER_USAGES = """
SELECT m.*, p.start AS period_start,
  (SELECT coalesce(-sum(e.amount), 0) FROM entries e
    WHERE e.wallet_id = m.wallet_id AND e.member_id = m.member_id
      AND e.type IN ('DEBIT', 'CAPTURE') AND e.book_time >= coalesce(p.start, '-infinity'))
  - (SELECT coalesce(sum(r.amount), 0) FROM entries r JOIN entries d ON d.id = r.related_id
    WHERE r.wallet_id = m.wallet_id AND r.member_id = m.member_id AND r.type = 'REFUND'
      AND d.book_time >= coalesce(p.start, '-infinity')) AS spent
FROM pool_members m,
  LATERAL (SELECT CASE m.budget_period WHEN 'DAY' THEN $3::timestamptz
    WHEN 'WEEK' THEN $4::timestamptz WHEN 'MONTH' THEN $5::timestamptz END AS start) p
WHERE m.wallet_id = $1 AND m.member_id = ANY($2::text[])
ORDER BY m.member_id
"""
WALLET_OWNERS = "SELECT id, customer_id FROM wallets WHERE id = ANY($1::text[])"

# -- writes ------------------------------------------------------------------------------------


def _params(first: int, types: list[str]) -> str:
    return ", ".join(f"${first + i}::{t}" for i, t in enumerate(types))


_EVENT_TYPES = ["text[]", "text[]", "text[]", "timestamptz[]", "timestamptz[]", "jsonb[]"]
_GRANT_TYPES = (
    ["text[]"] * 3
    + ["numeric[]"] * 2
    + ["int[]"]
    + ["timestamptz[]"] * 4
    + ["numeric[]"] * 5
    + ["text[]"] * 2
    + ["jsonb[]"] * 2  # metadata, features (a JSON array each: unnest flattens a text[][])
)
_GRANT_COLUMNS = (
    "id, wallet_id, kind, amount, remaining, priority, effective_time, expire_time, create_time,"
    " void_time, expired_amount, voided_amount, overage_paid, overage_returned, cost_unit_price,"
    " cost_currency, external_reference, metadata"
)
_GRANT_CHANGE_TYPES = ["text[]", "numeric[]", "timestamptz[]"] + ["numeric[]"] * 4
_HOLD_TYPES = (
    ["text[]"] * 2
    + ["numeric[]", "text[]"]
    + ["timestamptz[]"] * 3
    + ["numeric[]"]
    + ["text[]"] * 3
)
_ALLOCATION_TYPES = ["text[]", "int[]", "text[]", "numeric[]"]
_HOLD_END_TYPES = ["text[]", "text[]", "timestamptz[]", "numeric[]"]
_WALLET_TYPES = ["text[]", "numeric[]", "timestamptz[]"]
_ENTRY_TYPES = (
    ["text[]"] * 3
    + ["numeric[]"]
    + ["timestamptz[]"] * 2
    + ["text[]"] * 6
    + ["numeric[]"] * 2
    + ["jsonb[]"]
    + ["text[]", "numeric[]"]  # member_id, over_budget
)


def _save() -> str:
    """Every write of a transaction in one statement: data-modifying CTEs, one per table, each
    taking its rows as arrays (empty arrays write nothing), then the responses stored with their
    request ids and the claims of refused requests released. Foreign keys between them (an
    allocation of a grant bought in the same write) are checked at the end of the statement."""
    n = 1
    parts = []
    for name, types, sql in [
        (
            "events",
            _EVENT_TYPES,
            "INSERT INTO wallet_events (id, wallet_id, type, occurred_time, book_time, data)"
            " SELECT * FROM unnest({})",
        ),
        (
            "new_grants",
            _GRANT_TYPES,
            f"INSERT INTO grants ({_GRANT_COLUMNS}, features) SELECT {_GRANT_COLUMNS},"
            " ARRAY(SELECT f FROM jsonb_array_elements_text(t.features) WITH ORDINALITY"
            " AS x(f, n) ORDER BY n) FROM unnest({})"
            f" AS t({_GRANT_COLUMNS}, features)",
        ),
        (
            "changed_grants",
            _GRANT_CHANGE_TYPES,
            "UPDATE grants g SET remaining = t.remaining, void_time = t.void_time,"
            " expired_amount = t.expired, voided_amount = t.voided, overage_paid = t.paid,"
            " overage_returned = t.returned FROM unnest({}) AS t(id, remaining, void_time,"
            " expired, voided, paid, returned) WHERE g.id = t.id",
        ),
        (
            "new_holds",
            _HOLD_TYPES,
            "INSERT INTO holds (id, wallet_id, amount, state, create_time, expire_time, end_time,"
            " captured_amount, feature, description, member_id) SELECT * FROM unnest({})",
        ),
        (
            "held",
            _ALLOCATION_TYPES,
            "INSERT INTO hold_allocations (hold_id, position, grant_id, amount)"
            " SELECT * FROM unnest({})",
        ),
        (
            "ended_holds",
            _HOLD_END_TYPES,
            "UPDATE holds h SET state = t.state, end_time = t.end_time,"
            " captured_amount = t.captured FROM unnest({}) AS t(id, state, end_time, captured)"
            " WHERE h.id = t.id",
        ),
        (
            "wallets_booked",
            _WALLET_TYPES,
            "UPDATE wallets w SET overage = t.overage,"
            " last_book_time = greatest(w.last_book_time, t.book)"
            " FROM unnest({}) AS t(id, overage, book) WHERE w.id = t.id",
        ),
        (
            "new_entries",
            _ENTRY_TYPES,
            "INSERT INTO entries (id, wallet_id, type, amount, occurred_time, book_time,"
            " description, feature, source_event_id, request_id, actor, related_id,"
            " available_after, overage_after, metadata, member_id, over_budget)"
            " SELECT * FROM unnest({})",
        ),
        (
            "allocated",
            _ALLOCATION_TYPES,
            "INSERT INTO allocations (entry_id, position, grant_id, amount)"
            " SELECT * FROM unnest({})",
        ),
    ]:
        parts.append(f"{name} AS ({sql.format(_params(n, types))})")
        n += len(types)
    parts.append(
        f"responses AS (UPDATE idempotency_keys k SET response = t.b FROM unnest(${n}::text[],"
        f" ${n + 1}::bytea[]) AS t(r, b) WHERE k.request_id = t.r)"
    )
    parts.append(
        f"released AS (DELETE FROM idempotency_keys WHERE request_id = ANY(${n + 2}::text[]))"
    )
    return "WITH " + ",\n".join(parts) + "\nSELECT 1"


SAVE = _save()


def columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as one list per column: the arrays `unnest` takes."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def as_json(value: Any) -> str:
    """A jsonb parameter (the connection's codec takes JSON text)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
