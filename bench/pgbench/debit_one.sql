-- One Debit per transaction on the hot wallet: the statements the ledger runs for a Debit
-- (claim the request id, lock the wallet, load grants/holds/rules, update the grant, write the
-- entry and its allocation, store the response).
BEGIN;
INSERT INTO idempotency_keys (request_id, method, fingerprint, create_time)
  VALUES (gen_random_uuid()::text, 'Debit', '\x00', now())
  ON CONFLICT DO NOTHING RETURNING request_id AS rid \gset
SELECT * FROM wallets WHERE id = 'pgb-hot' FOR UPDATE;
SELECT * FROM grants WHERE wallet_id = 'pgb-hot' AND (remaining > 0 OR overage_paid > overage_returned);
SELECT * FROM holds WHERE wallet_id = 'pgb-hot' AND state = 'ACTIVE';
SELECT * FROM alert_rules WHERE wallet_id = 'pgb-hot' ORDER BY position;
SELECT * FROM topup_rules WHERE wallet_id = 'pgb-hot';
UPDATE grants SET remaining = remaining - 1 WHERE id = 'pgb-ghot';
INSERT INTO entries (id, wallet_id, type, amount, occurred_time, book_time, description,
                     feature, request_id, available_after, overage_after)
  VALUES (gen_random_uuid()::text, 'pgb-hot', 'DEBIT', -1, now(), now(),
          '-1 credits for bench', 'bench', ':rid', 0, 0) RETURNING id AS eid \gset
INSERT INTO allocations (entry_id, position, grant_id, amount) VALUES (':eid', 0, 'pgb-ghot', -1);
UPDATE idempotency_keys SET response = '\x0a00' WHERE request_id = ':rid';
END;
