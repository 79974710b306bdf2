-- The pgbench database (bench_pgbench) has the ledger's own schema (migrated by bench/run.py).
-- Seed: 1,000 wallets pgb-w0000..pgb-w0999 and one hot wallet pgb-hot, each with one large grant.
INSERT INTO wallets (id, customer_id, unit, overage_policy, late_event_grace, create_time, last_book_time)
SELECT 'pgb-w' || lpad(g::text, 4, '0'), 'pgb-' || g, 'CREDITS', 'ALLOW_OVERAGE', interval '1 hour', now(), now()
FROM generate_series(0, 999) g
UNION ALL SELECT 'pgb-hot', 'pgb-hot', 'CREDITS', 'ALLOW_OVERAGE', interval '1 hour', now(), now();
INSERT INTO grants (id, wallet_id, kind, amount, remaining, priority, effective_time, create_time)
SELECT replace(id, 'pgb-', 'pgb-g'), id, 'PREPAID', 1e12, 1e12, 0, now() - interval '1 hour', now()
FROM wallets WHERE id LIKE 'pgb-%';
ANALYZE;
