"""Calls made as a tenant: a real API key bound to some customers, created through the service's
ApiKeyService with the session's admin key, and a channel presenting it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import grpc
from billing.auth.v1 import api_keys_pb2 as kpb
from billing.auth.v1 import api_keys_pb2_grpc

from billing_common import principal
from tests.support.channels import open_channel


async def tenant_channel(
    admin: grpc.aio.Channel, target: str, customers: Sequence[str], name: str = "tenant"
) -> tuple[str, grpc.aio.Channel]:
    """A key bound to `customers` with every scope (so only the tenant rule can refuse a call),
    made over `admin` (a channel with the admin key to the service at `target`): its actor
    ("key:<key id>", what the service records) and a channel to `target` presenting it."""
    made = await api_keys_pb2_grpc.ApiKeyServiceStub(admin).CreateApiKey(
        kpb.CreateApiKeyRequest(
            request_id=str(uuid.uuid4()),
            name=name,
            scopes=sorted(principal.SCOPES),
            customer_ids=list(customers),
        )
    )
    return f"key:{made.api_key.key_id}", open_channel(target, key=made.secret)
