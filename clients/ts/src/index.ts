// Typed clients for the billing services over gRPC (HTTP/2), on Node.js.
//
// The messages and service descriptors under ./gen are generated from protos/ by protoc-gen-es
// (`make generate-clients`); never edit them by hand. Connect's gRPC transport speaks the plain
// gRPC protocol, so these clients talk to the Python grpc.aio servers as any gRPC client would.

import { readFileSync } from "node:fs";

import { type Client, type Interceptor, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

import { LedgerService } from "./gen/billing/ledger/v1/ledger_pb.js";
import { RatingService } from "./gen/billing/rating/v1/rating_pb.js";

export * as ledgerv1 from "./gen/billing/ledger/v1/ledger_pb.js";
export * as ratingv1 from "./gen/billing/rating/v1/rating_pb.js";
export * as typev1 from "./gen/billing/type/v1/types_pb.js";

/** Where a service listens, as "host:port"; the services serve gRPC over TLS. */
export type Address = string;

/** How a client connects. */
export interface ConnectOptions {
  /** CA certificate (PEM file) the server's certificate is checked against; a development
   * deployment's is .data/tls/ca.pem. Unset: Node's trusted roots. */
  caFile?: string | undefined;
  /** Sent as `authorization: Bearer <apiKey>` on every call (only over TLS). */
  apiKey?: string | undefined;
  /** No TLS: only for servers started with their development switch `plaintext=true`. */
  plaintext?: boolean | undefined;
}

function transport(address: Address, options: ConnectOptions) {
  if (options.plaintext && options.apiKey) {
    throw new Error("an API key is only sent over TLS");
  }
  const interceptors: Interceptor[] = [];
  const apiKey = options.apiKey;
  if (apiKey) {
    interceptors.push((next) => async (request) => {
      request.header.set("authorization", `Bearer ${apiKey}`);
      return next(request);
    });
  }
  if (options.plaintext) {
    return createGrpcTransport({ baseUrl: `http://${address}`, interceptors });
  }
  const ca = options.caFile ? readFileSync(options.caFile) : undefined;
  return createGrpcTransport({
    baseUrl: `https://${address}`,
    nodeOptions: ca ? { ca } : {},
    interceptors,
  });
}

/** A client of billing.ledger.v1.LedgerService. Pass `{ timeoutMs }` on every call. */
export function createLedgerClient(
  address: Address,
  options: ConnectOptions = {},
): Client<typeof LedgerService> {
  return createClient(LedgerService, transport(address, options));
}

/** A client of billing.rating.v1.RatingService. Pass `{ timeoutMs }` on every call. */
export function createRatingClient(
  address: Address,
  options: ConnectOptions = {},
): Client<typeof RatingService> {
  return createClient(RatingService, transport(address, options));
}
