-- One batch of 1,000 debits (one per wallet pgb-w0000..0999) per transaction, with set-based
-- statements: the best the database can do for what DebitBatch writes. Rows/s = tps x 1,000.
BEGIN;
SELECT gen_random_uuid()::text AS b \gset
INSERT INTO idempotency_keys (request_id, method, fingerprint, create_time)
  SELECT ':b' || g, 'Debit', '\x00', now() FROM generate_series(0, 999) g
  ON CONFLICT DO NOTHING RETURNING request_id;
SELECT * FROM wallets WHERE id >= 'pgb-w' AND id < 'pgb-x' ORDER BY id FOR UPDATE;
SELECT * FROM grants WHERE wallet_id >= 'pgb-w' AND wallet_id < 'pgb-x'
  AND (remaining > 0 OR overage_paid > overage_returned);
SELECT * FROM holds WHERE wallet_id >= 'pgb-w' AND wallet_id < 'pgb-x' AND state = 'ACTIVE';
SELECT * FROM alert_rules WHERE wallet_id >= 'pgb-w' AND wallet_id < 'pgb-x';
SELECT * FROM topup_rules WHERE wallet_id >= 'pgb-w' AND wallet_id < 'pgb-x';
UPDATE grants SET remaining = remaining - 1 WHERE wallet_id >= 'pgb-w' AND wallet_id < 'pgb-x';
INSERT INTO entries (id, wallet_id, type, amount, occurred_time, book_time, description,
                     feature, request_id, available_after, overage_after)
  SELECT ':b' || 'e' || g, 'pgb-w' || lpad(g::text, 4, '0'), 'DEBIT', -1, now(), now(),
         '-1 credits for bench', 'bench', ':b' || g, 0, 0
  FROM generate_series(0, 999) g;
INSERT INTO allocations (entry_id, position, grant_id, amount)
  SELECT ':b' || 'e' || g, 0, 'pgb-gw' || lpad(g::text, 4, '0'), -1 FROM generate_series(0, 999) g;
UPDATE idempotency_keys SET response = '\x0a00'
  WHERE request_id = ANY (ARRAY(SELECT ':b' || g FROM generate_series(0, 999) g));
END;
