"""The key management service both servers serve (billing.auth.v1.ApiKeyService, admin scope
only): create (idempotent by request_id; the key is returned once, and a replay says so), list,
revoke. Expiry is set at creation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc
from billing.auth.v1 import api_keys_pb2 as pb
from billing.auth.v1 import api_keys_pb2_grpc

from billing_common import api_keys, paging, principal
from billing_common.api_key_store import ApiKeyStore
from billing_common.api_keys import ApiKey
from billing_common.clock import Clock
from billing_common.errors import InvalidArgument, require
from billing_common.grpc_handlers import Ctx, rpc
from billing_common.idempotency import fingerprint
from billing_common.protoconv import timestamp, to_datetime

SERVICE = pb.DESCRIPTOR.services_by_name["ApiKeyService"]
# Every method of the key management service needs the admin scope.
SCOPES = {method.name: principal.ADMIN for method in SERVICE.methods}


def to_proto(key: ApiKey) -> pb.ApiKey:
    message = pb.ApiKey(
        key_id=key.key_id,
        name=key.name,
        scopes=sorted(key.scopes),
        customer_ids=sorted(key.customers or ()),
        all_customers=key.customers is None,
        create_time=timestamp(key.created_time),
    )
    if key.expires_time is not None:
        message.expire_time.CopyFrom(timestamp(key.expires_time))
    if key.revoked_time is not None:
        message.revoke_time.CopyFrom(timestamp(key.revoked_time))
    return message


def new_record(request: pb.CreateApiKeyRequest, now: datetime) -> tuple[ApiKey, str]:
    """The record a valid CreateApiKeyRequest makes, and the key (InvalidArgument otherwise)."""
    name = require(request.name, "name")
    if len(name) > api_keys.NAME_CHARS_MAX:
        raise InvalidArgument.field("name", f"at most {api_keys.NAME_CHARS_MAX} characters")
    scopes = api_keys.parse_scopes(request.scopes)
    if len(request.customer_ids) > api_keys.CUSTOMERS_MAX:
        raise InvalidArgument.field("customer_ids", f"at most {api_keys.CUSTOMERS_MAX}")
    for i, customer in enumerate(request.customer_ids):
        if not customer or len(customer) > api_keys.ID_CHARS_MAX:
            raise InvalidArgument.field(
                f"customer_ids[{i}]", f"1 to {api_keys.ID_CHARS_MAX} characters", "INVALID_ID"
            )
    if len(request.request_id) > api_keys.ID_CHARS_MAX:
        raise InvalidArgument.field(
            "request_id", f"at most {api_keys.ID_CHARS_MAX} characters", "INVALID_ID"
        )
    customers = frozenset(request.customer_ids) or None
    expires = to_datetime(request, "expire_time")
    if expires is not None and expires <= now:
        raise InvalidArgument.field("expire_time", "must be in the future", "EXPIRE_TIME_PAST")
    key_id, key = api_keys.new_key()
    record = ApiKey(key_id, name, scopes, customers, api_keys.hash_key(key), now, expires)
    return record, key


async def CreateApiKey(
    self: ApiKeyServicer, request: pb.CreateApiKeyRequest, context: Ctx
) -> pb.CreateApiKeyResponse:
    request_id = require(request.request_id, "request_id")
    digest = fingerprint("CreateApiKey", request)
    # A replay first: its answer must not depend on the time (expire_time may have passed).
    stored = await self.store.replay(request_id, digest)
    if stored is None:
        record, key = new_record(request, self.clock.now())
        stored, created = await self.store.create(record, request_id, digest)
        if created:
            return pb.CreateApiKeyResponse(api_key=to_proto(stored), secret=key)
    # Made by an earlier call: its key was never stored, so it cannot be shown again.
    return pb.CreateApiKeyResponse(api_key=to_proto(stored), secret_shown_before=True)


async def ListApiKeys(
    self: ApiKeyServicer, request: pb.ListApiKeysRequest, context: Ctx
) -> pb.ListApiKeysResponse:
    limit = paging.page_size(request.page_size)
    after = request.page_token  # the last key id of the previous page (ids are not secret)
    if after and api_keys.key_id_of(f"{api_keys.PREFIX}_{after}_x") is None:
        raise paging.invalid_token()
    keys = await self.store.list(after, limit + 1)
    return pb.ListApiKeysResponse(
        api_keys=[to_proto(k) for k in keys[:limit]],
        next_page_token=keys[limit - 1].key_id if len(keys) > limit else "",
    )


async def RevokeApiKey(
    self: ApiKeyServicer, request: pb.RevokeApiKeyRequest, context: Ctx
) -> pb.RevokeApiKeyResponse:
    key_id = require(request.key_id, "key_id")
    revoked = await self.store.revoke(key_id, self.clock.now())
    return pb.RevokeApiKeyResponse(api_key=to_proto(revoked))


class ApiKeyServicer:
    """The methods above, each wrapped by `rpc` with the serving service's error domain."""

    def __init__(self, store: ApiKeyStore, clock: Clock, domain: str) -> None:
        self.store = store
        self.clock = clock
        for method in (CreateApiKey, ListApiKeys, RevokeApiKey):
            setattr(self, method.__name__, _bound(self, rpc(domain)(method)))


def _bound(servicer: ApiKeyServicer, handler: Any) -> Any:
    async def call(request: Any, context: Ctx) -> Any:
        return await handler(servicer, request, context)

    call.__name__ = handler.__name__
    return call


def add_to_server(server: grpc.aio.Server, servicer: ApiKeyServicer) -> str:
    api_keys_pb2_grpc.add_ApiKeyServiceServicer_to_server(servicer, server)
    return str(SERVICE.full_name)
