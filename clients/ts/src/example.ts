// Calls the ledger through the generated TypeScript client: creates a wallet, grants credits,
// debits twice with the same request_id (the second call is an idempotent replay), reads the
// balance and prints stable key=value lines that the interop test checks.
//
// With --rating it also creates a meter in the rating service and reads it back.
//
// The services serve TLS: --ca-file (env BILLING_CA_FILE) is the CA that signed their
// certificates (a development deployment's is .data/tls/ca.pem); --api-key (env BILLING_API_KEY)
// is sent as `authorization: Bearer <key>`; --plaintext only for development servers.
//
//   npm run build && node dist/example.js --addr 127.0.0.1:50051 --rating 127.0.0.1:50052 \
//     --ca-file .data/tls/ca.pem

import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";

import { createLedgerClient, createRatingClient, ledgerv1, ratingv1 } from "./index.js";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      addr: { type: "string", default: "127.0.0.1:50051" },
      rating: { type: "string" },
      customer: { type: "string" },
      "timeout-ms": { type: "string", default: "10000" },
      "ca-file": { type: "string", default: process.env.BILLING_CA_FILE },
      "api-key": { type: "string", default: process.env.BILLING_API_KEY },
      plaintext: { type: "boolean", default: process.env.BILLING_PLAINTEXT === "true" },
    },
  });
  const connect = {
    caFile: values["ca-file"] || undefined,
    apiKey: values["api-key"] || undefined,
    plaintext: values.plaintext,
  };
  const timeoutMs = Number(values["timeout-ms"]);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new Error(`--timeout-ms must be a positive integer, got ${values["timeout-ms"]}`);
  }
  // Every call gets a deadline; request ids are chosen by the caller and make mutations idempotent.
  const call = { timeoutMs };
  const run = randomBytes(8).toString("hex");
  const customerId = values.customer ?? `ts-example-${run}`;
  const ledger = createLedgerClient(values.addr, connect);

  const { wallet } = await ledger.createWallet(
    {
      requestId: `wallet-${run}`,
      customerId,
      unit: "CREDITS",
      overagePolicy: ledgerv1.OveragePolicy.DENY,
    },
    call,
  );
  if (wallet === undefined) throw new Error("CreateWallet returned no wallet");
  console.log(`unit=${wallet.unit}`);

  const { grant } = await ledger.createGrant(
    {
      requestId: `grant-${run}`,
      walletId: wallet.walletId,
      kind: ledgerv1.GrantKind.PREPAID,
      amount: "100",
    },
    call,
  );
  console.log(`granted=${grant?.amount}`);

  const debit = {
    requestId: `debit-${run}`,
    walletId: wallet.walletId,
    amount: "12.5",
    feature: "interop",
  };
  const first = await ledger.debit(debit, call);
  const replay = await ledger.debit(debit, call);
  console.log(`debit_amount=${first.entry?.amount}`);
  console.log(`available_after=${first.entry?.availableAfter}`);
  console.log(`replay_same_entry=${first.entry?.entryId === replay.entry?.entryId}`);

  const { balance } = await ledger.getBalance({ walletId: wallet.walletId }, call);
  console.log(`available=${balance?.available}`);
  console.log(`prepaid_available=${balance?.prepaidAvailable}`);
  console.log(`overage=${balance?.overage}`);
  console.log(`net=${balance?.net}`);

  if (values.rating !== undefined) {
    const rating = createRatingClient(values.rating, connect);
    const key = `ts-example-${run}`;
    const { meter } = await rating.createMeter(
      {
        requestId: `meter-${key}`,
        key,
        eventType: "example.call",
        aggregation: ratingv1.Aggregation.COUNT,
      },
      call,
    );
    const got = await rating.getMeter({ meterId: meter?.meterId ?? "" }, call);
    console.log(`meter_aggregation=AGGREGATION_${ratingv1.Aggregation[got.meter?.aggregation ?? 0]}`);
    console.log(`meter_read_back=${got.meter?.key === key}`);
  }
}

main().catch((err: unknown) => {
  console.error("example:", err);
  process.exitCode = 1;
});
