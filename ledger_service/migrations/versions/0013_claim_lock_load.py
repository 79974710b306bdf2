"""ledger_claim_lock_load(): a write transaction's claims, wallet locks and locked state in one call

The write pipeline's transaction read its locked state in three statements (claim the request ids,
lock the wallets, load their rows), each a round trip. In one SQL statement they cannot be joined:
the statement's snapshot is taken before it waits for a lock, so rows committed by the
transaction it waited on would be missed. In a PL/pgSQL function each statement takes a fresh
snapshot (READ COMMITTED), so the order of today is kept, in one round trip:

1. claim the request ids (inserted in the order given, sorted by the caller): a key another
   transaction holds makes this wait until it ends;
2. read the stored requests among them (after the wait: a replay sees the committed response);
3. lock the wallets, in id order: those given, and the wallet of each request claimed here;
4. read the locked wallets' rows and everything their state needs (the same columns as
   `LOAD_STATES` in adapters/db/hot.py, which the caller uses when its time falls on another day
   than `since`): grants live or, consumed, still in force after `since` (the caller keeps those
   in force at its time, taken after this returns), active holds and their allocations, alert
   rules, the top-up rule, pending top-ups, the credits topped up since `day_start` and
   `month_start`, allotment schedules.

Rows: one per claimed request id (`claimed`), one per stored request (`stored`), one per locked
wallet (`wallet` and its state).

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION ledger_claim_lock_load(
            request_ids text[], methods text[], fingerprints bytea[], claim_time timestamptz,
            wallet_of text[], more_wallets text[],
            since timestamptz, day_start timestamptz, month_start timestamptz)
        RETURNS TABLE (
            claimed text, stored idempotency_keys, wallet wallets, grants grants[],
            holds holds[], hold_allocations hold_allocations[], alert_rules alert_rules[],
            topup_rule topup_rules, pending topups[], in_day numeric, in_month numeric,
            schedules allotment_schedules[])
        LANGUAGE plpgsql VOLATILE AS $$
        #variable_conflict use_column
        DECLARE
            claimed_ids text[];
            stored_ids text[];
            locked_ids text[];
        BEGIN
            WITH inserted AS (
                INSERT INTO idempotency_keys (request_id, method, fingerprint, create_time)
                SELECT r, m, f, claim_time
                FROM unnest(request_ids, methods, fingerprints) WITH ORDINALITY AS t(r, m, f, n)
                ORDER BY n
                ON CONFLICT (request_id) DO NOTHING
                RETURNING request_id
            )
            SELECT coalesce(array_agg(i.request_id), '{}') INTO claimed_ids FROM inserted i;

            RETURN QUERY SELECT c, NULL::idempotency_keys, NULL::wallets, NULL::grants[],
                NULL::holds[], NULL::hold_allocations[], NULL::alert_rules[], NULL::topup_rules,
                NULL::topups[], NULL::numeric, NULL::numeric, NULL::allotment_schedules[]
            FROM unnest(claimed_ids) AS c;

            -- Set operations and joins, not `= ANY(claimed_ids)` per row: a batch claims 1,000.
            IF cardinality(claimed_ids) < cardinality(request_ids) THEN  -- some were stored
                stored_ids := ARRAY(
                    SELECT unnest(request_ids) EXCEPT SELECT unnest(claimed_ids)
                );
                RETURN QUERY SELECT NULL::text, k, NULL::wallets, NULL::grants[], NULL::holds[],
                    NULL::hold_allocations[], NULL::alert_rules[], NULL::topup_rules,
                    NULL::topups[], NULL::numeric, NULL::numeric, NULL::allotment_schedules[]
                FROM idempotency_keys k WHERE k.request_id = ANY(stored_ids);
            END IF;

            locked_ids := ARRAY(
                SELECT unnest(more_wallets)
                UNION
                SELECT t.w FROM unnest(request_ids, wallet_of) AS t(r, w)
                JOIN unnest(claimed_ids) AS c(r) ON c.r = t.r WHERE t.w IS NOT NULL
            );
            PERFORM 1 FROM wallets w WHERE w.id = ANY(locked_ids) ORDER BY w.id FOR UPDATE;

            RETURN QUERY SELECT NULL::text, NULL::idempotency_keys, w,
              ARRAY(SELECT g FROM grants g WHERE g.wallet_id = w.id
                AND (g.remaining > 0 OR g.overage_paid > g.overage_returned
                     OR (g.void_time IS NULL
                         AND (g.expire_time IS NULL OR g.expire_time > since)))),
              ARRAY(SELECT h FROM holds h WHERE h.wallet_id = w.id AND h.state = 'ACTIVE'),
              ARRAY(SELECT a FROM hold_allocations a JOIN holds h ON h.id = a.hold_id
                WHERE h.wallet_id = w.id AND h.state = 'ACTIVE' ORDER BY a.hold_id, a.position),
              ARRAY(SELECT r FROM alert_rules r WHERE r.wallet_id = w.id ORDER BY r.position),
              (SELECT t FROM topup_rules t WHERE t.wallet_id = w.id),
              ARRAY(SELECT p FROM topups p WHERE p.wallet_id = w.id AND p.state = 'PENDING'),
              (SELECT coalesce(sum(p.amount) FILTER (WHERE p.create_time >= day_start), 0)
                FROM topups p WHERE p.wallet_id = w.id AND p.state <> 'FAILED'
                AND p.create_time >= month_start)::numeric,
              (SELECT coalesce(sum(p.amount), 0) FROM topups p
                WHERE p.wallet_id = w.id AND p.state <> 'FAILED'
                AND p.create_time >= month_start)::numeric,
              ARRAY(SELECT s FROM allotment_schedules s WHERE s.wallet_id = w.id ORDER BY s.seq)
            FROM wallets w WHERE w.id = ANY(locked_ids);
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION ledger_claim_lock_load(text[], text[], bytea[], timestamptz, text[],"
        " text[], timestamptz, timestamptz, timestamptz)"
    )
