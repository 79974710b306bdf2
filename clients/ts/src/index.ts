// Typed clients for the billing services over gRPC (HTTP/2), on Node.js.
//
// The messages and service descriptors under ./gen are generated from protos/ by protoc-gen-es
// (`make generate-clients`); never edit them by hand. Connect's gRPC transport speaks the plain
// gRPC protocol, so these clients talk to the Python grpc.aio servers as any gRPC client would.

import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

import { LedgerService } from "./gen/billing/ledger/v1/ledger_pb.js";
import { RatingService } from "./gen/billing/rating/v1/rating_pb.js";

export * as ledgerv1 from "./gen/billing/ledger/v1/ledger_pb.js";
export * as ratingv1 from "./gen/billing/rating/v1/rating_pb.js";
export * as typev1 from "./gen/billing/type/v1/types_pb.js";

/** Where a service listens, as "host:port"; the services serve plaintext gRPC. */
export type Address = string;

function transport(address: Address) {
  return createGrpcTransport({ baseUrl: `http://${address}` });
}

/** A client of billing.ledger.v1.LedgerService. Pass `{ timeoutMs }` on every call. */
export function createLedgerClient(address: Address): Client<typeof LedgerService> {
  return createClient(LedgerService, transport(address));
}

/** A client of billing.rating.v1.RatingService. Pass `{ timeoutMs }` on every call. */
export function createRatingClient(address: Address): Client<typeof RatingService> {
  return createClient(RatingService, transport(address));
}
