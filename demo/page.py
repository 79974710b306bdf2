"""The customer page's address for the demo's customer: a read key bound to that customer on
each service (ApiKeyService; keys are per service), in the address's fragment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import grpc
from billing.auth.v1 import api_keys_pb2 as kpb
from billing.auth.v1 import api_keys_pb2_grpc

from billing_common.process import ServiceProcess
from demo.show import heading


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str
    wallet_id: str


async def read_key(channel: grpc.aio.Channel, customer_id: str) -> str:
    """A new read-only key that sees only `customer_id` (shown once: this is its only copy)."""
    made = await api_keys_pb2_grpc.ApiKeyServiceStub(channel).CreateApiKey(
        kpb.CreateApiKeyRequest(
            request_id=str(uuid.uuid4()),
            name=f"customer page of {customer_id}",
            scopes=["read"],
            customer_ids=[customer_id],
        )
    )
    return str(made.secret)


async def url(
    ledger: ServiceProcess,
    rating: ServiceProcess,
    ledger_channel: grpc.aio.Channel,
    rating_channel: grpc.aio.Channel,
    customer: Customer,
) -> str:
    fragment = urlencode(
        {
            "wallet": customer.wallet_id,
            "key": await read_key(ledger_channel, customer.customer_id),
            "rating_key": await read_key(rating_channel, customer.customer_id),
            "rating": f"https://127.0.0.1:{rating.http_port}",
        }
    )
    return f"https://127.0.0.1:{ledger.http_port}/portal/#{fragment}"


def show(address: str, ca: Path) -> None:
    print(heading("The customer page"))
    print(address)
    print(
        f"(served by the ledger over TLS with the development CA {ca.name} in {ca.parent.name}/: "
        "trust it in the browser, or accept the warning, for both ports)"
    )
