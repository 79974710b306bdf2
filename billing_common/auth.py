"""Authentication and authorization of every call: the server interceptor that reads a call's
credential, verifies it, checks the scope its method is listed under, and binds the principal
for the handler.

Credentials: an API key in the metadata `authorization: Bearer <key>`, or, with mutual TLS, the
verified client certificate's common name as `cert:<name>`, given scopes by the setting
`mtls_identities`. A key, when present, wins over the certificate.

Exempt: gRPC health checking (load balancers and orchestrators probe it without credentials; it
tells only whether the service serves). Server reflection needs a valid credential of any scope
(the schema is public, but an anonymous caller has no business exploring the server).

Verified keys are cached in memory for CACHE_TTL_S seconds at most: a revoked key is refused
within that time on every process; expiry is checked on every call against the service's clock.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
import structlog

from billing_common import api_keys, metrics, principal
from billing_common.api_key_store import ApiKeyStore
from billing_common.api_keys import ApiKey
from billing_common.clock import Clock
from billing_common.errors import BillingError, CredentialMissing, ScopeMissing
from billing_common.grpc_errors import classify, to_grpc_status
from billing_common.grpc_handlers import Ctx, Req, Resp, as_billing_error
from billing_common.grpc_server import rewrap

log = structlog.get_logger(__name__)

# Seconds a verified key's record is reused without reading the database again; the longest a
# revocation may take to be obeyed.
CACHE_TTL_S = 5.0
# Records cached at most (the cache is emptied when full: a bound, not an eviction policy).
CACHE_ENTRIES_MAX = 10_000

EXEMPT = ("/grpc.health.",)
# Methods that need a valid credential, whatever its scopes.
ANY_SCOPE = ("/grpc.reflection.",)
# The scope value for such a method in a service's map.
AUTHENTICATED = ""


def method_scopes(service: str, scopes: Mapping[str, str]) -> dict[str, str]:
    """A service's map of method name -> scope, keyed by full method path."""
    return {f"/{service}/{method}": scope for method, scope in scopes.items()}


class Authentication(grpc.aio.ServerInterceptor):
    """Admit a call with the principal of its credential and the scope of its method, or end it
    with UNAUTHENTICATED / PERMISSION_DENIED and a reason. A method missing from `scopes` is
    refused to everyone: nothing is open by default."""

    def __init__(
        self,
        store: ApiKeyStore,
        clock: Clock,
        scopes: Mapping[str, str],
        domain: str,
        identities: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.scopes = dict(scopes)
        self.domain = domain
        self.identities = dict(identities or {})
        self._cache: dict[str, tuple[ApiKey | None, float]] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Req, Resp] | None]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Req, Resp] | None:
        handler = await continuation(details)
        if handler is None or details.method.startswith(EXEMPT):
            return handler
        path = details.method
        return rewrap(handler, lambda behavior: self._guarded(behavior, path))

    def guard(self, path: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        """`behavior` of the method at `path` behind this check (the HTTP port's calls:
        billing_common/connect.py)."""
        return self._guarded(behavior, path)

    async def admit(self, path: str, context: Ctx) -> principal.Principal:
        """The principal a call runs as, or the BillingError that refuses it."""
        who = await self.authenticate(context)
        scope = AUTHENTICATED if path.startswith(ANY_SCOPE) else self.scopes.get(path)
        method = path.rsplit("/", 1)[-1]
        if scope is None:
            raise ScopeMissing(f"{method} is not open to any credential")
        if scope != AUTHENTICATED:
            api_keys.require_scope(who, scope, method)
        return who

    async def authenticate(self, context: Ctx) -> principal.Principal:
        key = bearer(context.invocation_metadata() or ())
        if key is not None:
            return api_keys.verify(key, await self._record(key), self.clock.now())
        common_name = _certificate_name(context)
        if common_name is not None:
            return api_keys.certificate_principal(common_name, self.identities)
        raise CredentialMissing(
            "this call needs a credential: metadata 'authorization: Bearer <API key>' "
            "(or a client certificate where mutual TLS is on)"
        )

    async def _record(self, key: str) -> ApiKey | None:
        key_id = api_keys.key_id_of(key)
        if key_id is None:
            return None
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        record = await self.store.get(key_id)
        if record is not None:  # unknown ids are not cached: a caller cannot fill the cache
            if len(self._cache) >= CACHE_ENTRIES_MAX:
                self._cache.clear()
            self._cache[key_id] = (record, now + CACHE_TTL_S)
        return record

    async def _refuse(self, path: str, error: BillingError, context: Ctx) -> None:
        log.info("rpc_unauthorized", rpc=path, reason=error.reason, message=error.message)
        metrics.RPC_REQUESTS.labels(path.rsplit("/", 1)[-1], classify(error)[0].name).inc()
        await context.abort_with_status(to_grpc_status(error, self.domain))

    def _guarded(self, behavior: Callable[..., Any], path: str) -> Callable[..., Any]:
        async def admitted(context: Ctx) -> principal.Principal | None:
            try:
                return await self.admit(path, context)
            except Exception as exc:  # an unreachable database is UNAVAILABLE, not INTERNAL
                await self._refuse(path, as_billing_error(exc), context)
                return None

        if inspect.isasyncgenfunction(behavior):

            async def stream(request: Any, context: Ctx) -> Any:
                who = await admitted(context)
                if who is None:
                    return
                token = principal.bind(who)
                try:
                    async for message in behavior(request, context):
                        yield message
                finally:
                    principal.unbind(token)

            return stream

        async def unary(request: Any, context: Ctx) -> Any:
            who = await admitted(context)
            if who is None:
                return None
            token = principal.bind(who)
            try:
                return await behavior(request, context)
            finally:
                principal.unbind(token)

        return unary


def bearer(metadata: Any) -> str | None:
    """The key of an `authorization: Bearer <key>` metadata entry, or None."""
    for name, value in metadata:
        if name.lower() == "authorization" and isinstance(value, str):
            scheme, _, key = value.strip().partition(" ")
            if scheme.lower() == "bearer" and key.strip():
                return key.strip()
    return None


def _certificate_name(context: Ctx) -> str | None:
    """The common name of the peer's verified client certificate (mutual TLS), or None."""
    names = list(context.auth_context().get("x509_common_name") or ())
    return names[0].decode() if names else None
