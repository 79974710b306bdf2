"""Webhook use cases: manage endpoints, turn wallet events into deliveries, send due deliveries.

`dispatch()` and `deliver()` are what the background job runs (`run_once`); tests call them
directly with a fake clock to drive the backoff. Transactions go through the ledger's plumbing
(deadlock retries, idempotency by request_id); storage is the `WebhookStore` port the ledger's
store hands out (`LedgerStore.webhooks`), in the same transaction.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

import structlog

from billing_common.errors import InvalidArgument, RequestIdConflict
from ledger_service.app import commands as cmd
from ledger_service.app.ports import (
    Claimed,
    LedgerStore,
    Resolver,
    Sealer,
    SecretUnavailable,
    new_id,
)
from ledger_service.app.service import LedgerApp
from ledger_service.domain import egress, tenancy
from ledger_service.domain import webhooks as rules
from ledger_service.domain.errors import (
    InsecureWebhookUrl,
    TooManyWebhookEndpoints,
    WalletNotFound,
    WebhookAddressRefused,
    WebhookEndpointNotFound,
)
from ledger_service.domain.model import EventType
from ledger_service.domain.webhooks import (
    Delivery,
    DeliveryState,
    RetentionPolicy,
    RetryPolicy,
    WebhookEndpoint,
)

# What these use cases can raise (tests/unit/test_use_case_errors.py checks it against the code).
RAISES = (
    InvalidArgument,  # an every-wallet endpoint asked for by a caller bound to customers
    RequestIdConflict,
    WalletNotFound,
    TooManyWebhookEndpoints,
    WebhookEndpointNotFound,
    InsecureWebhookUrl,
    WebhookAddressRefused,
)

log = structlog.get_logger(__name__)

ENDPOINTS_PER_SCOPE_MAX = 20  # active endpoints per wallet, and global ones
ENDPOINTS_PER_ROUND = 100
EVENTS_PER_ENDPOINT_ROUND = 500
DISPATCH_ROUNDS_MAX = 100
DELIVERIES_PER_ROUND = 20  # sent concurrently
DELIVER_ROUNDS_MAX = 50


class Sender(Protocol):
    async def post(
        self, url: str, address: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str]:
        """POST to `url` over a connection to `address` (the one the egress policy checked; the
        URL's host goes in the Host header and TLS server name). (HTTP status or None, error:
        a coarse class such as "timeout", never the system's text, "" when delivered)."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CreateEndpoint:
    idem: cmd.Idem
    wallet_id: str  # "" for every wallet
    url: str
    types: tuple[EventType, ...]
    description: str


@dataclass(frozen=True, slots=True)
class RotateSecret:
    idem: cmd.Idem
    endpoint_id: str
    overlap: timedelta  # how long the replaced secret still signs (0: not at all)


SECRET_PREFIX = "whsec_"
# How long a rotation's replaced secret may go on signing deliveries.
ROTATION_OVERLAP_MAX = timedelta(days=7)
ROTATION_OVERLAP_DEFAULT = timedelta(hours=24)


class WebhookApp:
    def __init__(
        self,
        ledger: LedgerApp,
        sender: Sender,
        policy: RetryPolicy | None = None,
        lease: timedelta = timedelta(minutes=2),
        retention: RetentionPolicy | None = None,
        *,
        resolver: Resolver,
        sealer: Sealer,
        egress_policy: egress.EgressPolicy | None = None,
    ) -> None:
        self.ledger = ledger
        self.clock = ledger.clock
        self.sender = sender
        self.resolver = resolver
        self.sealer = sealer
        self.egress = egress.EgressPolicy() if egress_policy is None else egress_policy
        self.policy = RetryPolicy() if policy is None else policy
        # How long a claimed delivery is left to its deliverer: longer than a request can take.
        self.lease = lease
        self.retention = RetentionPolicy() if retention is None else retention

    # -- endpoints --------------------------------------------------------------------------

    async def egress_check(self, url: str) -> tuple[egress.Refusal | None, str]:
        """Resolve the URL's host once and apply the egress policy: (why it is refused or None,
        the first address to connect to, "" when the name does not resolve)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        found = await self.resolver.resolve(host)
        addresses = [egress.parse_address(a) for a in found]
        refusal = egress.url_refusal(parts.scheme, host, addresses, self.egress)
        return refusal, found[0] if found else ""

    async def _refuse_url(self, url: str) -> None:
        """Raise if the egress policy refuses the URL now. A name that does not resolve (yet) is
        accepted: every delivery checks again, and records why it could not be sent."""
        refusal, _ = await self.egress_check(url)
        if refusal is None:
            return
        error = (
            InsecureWebhookUrl if refusal.reason == egress.INSECURE_URL else WebhookAddressRefused
        )
        raise error.field("url", refusal.description, refusal.reason)

    async def create_endpoint(
        self,
        c: CreateEndpoint,
        encode: Callable[[WebhookEndpoint], bytes],
        customers: tenancy.Customers,
    ) -> tuple[bytes, str | None]:
        """The endpoint starts at the end of the event log: events from now on are delivered.
        Returns the stored response (without the secret) and the new secret, None on a replay:
        the secret is shown once and stored only encrypted. A caller bound to some customers
        names one of their wallets (an endpoint for every wallet would receive other customers'
        events)."""
        if customers is not None and not c.wallet_id:
            raise InvalidArgument.field(
                "wallet_id", "is required for a caller bound to customers", "MISSING_FIELD"
            )
        await self._refuse_url(c.url)

        async def work(store: LedgerStore) -> tuple[bytes, str]:
            repo = store.webhooks
            if c.wallet_id:
                await _visible_wallet(store, c.wallet_id, customers)
            await repo.lock_scope(c.wallet_id)
            if await repo.count_active(c.wallet_id) >= ENDPOINTS_PER_SCOPE_MAX:
                scope = f"wallet {c.wallet_id}" if c.wallet_id else "every wallet"
                raise TooManyWebhookEndpoints(
                    f"{scope} has {ENDPOINTS_PER_SCOPE_MAX} webhook endpoints already"
                )
            endpoint = WebhookEndpoint(
                id=new_id(),
                wallet_id=c.wallet_id,
                url=c.url,
                types=c.types,
                description=c.description,
                create_time=self.clock.now(),
            )
            secret = SECRET_PREFIX + secrets.token_hex(32)
            sealed = self.sealer.seal(secret, endpoint.id)
            await repo.insert_endpoint(endpoint, sealed, await repo.last_event_seq())
            return encode(endpoint), secret

        async def visible(store: LedgerStore) -> None:
            if c.wallet_id:
                await _visible_wallet(store, c.wallet_id, customers)

        return await self.ledger.once_with_secret(c.idem, work, visible)

    async def rotate_secret(
        self,
        c: RotateSecret,
        encode: Callable[[WebhookEndpoint, datetime | None], bytes],
        customers: tenancy.Customers,
    ) -> tuple[bytes, str | None]:
        """A new signing secret for the endpoint; the replaced one goes on signing deliveries
        beside it for `overlap` (the header then has two `v1=`), so a receiver can switch at its
        pace. Returns the stored response (the endpoint, and when the old secret stops) and the
        new secret, None on a replay."""
        assert timedelta(0) <= c.overlap <= ROTATION_OVERLAP_MAX

        async def work(store: LedgerStore) -> tuple[bytes, str]:
            repo = store.webhooks
            found = await visible(store)
            until = self.clock.now() + c.overlap if c.overlap else None
            secret = SECRET_PREFIX + secrets.token_hex(32)
            await repo.rotate_secret(found.id, self.sealer.seal(secret, found.id), until)
            return encode(found, until), secret

        async def visible(store: LedgerStore) -> WebhookEndpoint:
            found = await store.webhooks.get_endpoint(c.endpoint_id, lock=True)
            if found is None or found.delete_time is not None:
                raise WebhookEndpointNotFound(f"webhook endpoint {c.endpoint_id!r} does not exist")
            await _visible_endpoint(store, found, customers)
            return found

        return await self.ledger.once_with_secret(c.idem, work, visible)

    async def delete_endpoint(
        self,
        idem: cmd.Idem,
        endpoint_id: str,
        encode: Callable[[WebhookEndpoint], bytes],
        customers: tenancy.Customers,
    ) -> bytes:
        async def work(store: LedgerStore) -> bytes:
            repo = store.webhooks
            found = await repo.get_endpoint(endpoint_id, lock=True)
            if found is None or found.delete_time is not None:
                raise WebhookEndpointNotFound(f"webhook endpoint {endpoint_id!r} does not exist")
            await _visible_endpoint(store, found, customers)
            now = self.clock.now()
            await repo.delete_endpoint(endpoint_id, now)
            deleted = await repo.get_endpoint(endpoint_id)
            assert deleted is not None
            return encode(deleted)

        return await self.ledger.once(idem, work)

    async def list_endpoints(
        self, wallet_id: str, after_seq: int, limit: int, customers: tenancy.Customers
    ) -> list[tuple[int, WebhookEndpoint]]:
        async def work(store: LedgerStore) -> list[tuple[int, WebhookEndpoint]]:
            if wallet_id:
                await _visible_wallet(store, wallet_id, customers)
            return await store.webhooks.list_endpoints(wallet_id, after_seq, limit, customers)

        return await self.ledger.read(work)

    async def list_deliveries(
        self,
        endpoint_id: str,
        state: DeliveryState | None,
        before_seq: int | None,
        limit: int,
        customers: tenancy.Customers,
    ) -> list[tuple[int, Delivery]]:
        async def work(store: LedgerStore) -> list[tuple[int, Delivery]]:
            repo = store.webhooks
            found = await repo.get_endpoint(endpoint_id)
            if found is None:
                raise WebhookEndpointNotFound(f"webhook endpoint {endpoint_id!r} does not exist")
            await _visible_endpoint(store, found, customers)
            return await repo.list_deliveries(endpoint_id, state, before_seq, limit)

        return await self.ledger.read(work)

    # -- the background job -----------------------------------------------------------------

    async def run_once(self) -> None:
        await self.dispatch()
        await self.deliver()
        await self.purge()

    async def purge(self) -> int:
        """One bounded purge round: finished deliveries past their retention go, with their
        attempt logs (at most `retention.batch_size_max`; the next rounds take the rest).
        Returns how many went."""

        async def work(store: LedgerStore) -> int:
            cutoffs = self.retention.cutoffs(self.clock.now())
            return await store.webhooks.purge(cutoffs, self.retention.batch_size_max)

        purged = await self.ledger.write(work)
        if purged:
            log.info("webhook_deliveries_purged", count=purged)
        return purged

    async def dispatch(self) -> int:
        """Turn new matching events into delivery rows, a bounded number of endpoints and events
        per transaction; each transaction also moves those endpoints' cursors, so an event gets
        exactly one delivery per endpoint however often this runs, in however many processes.
        Returns the number of deliveries created."""

        horizon = await self.ledger.event_horizon(fresh=True)
        created = 0
        for _ in range(DISPATCH_ROUNDS_MAX):

            async def work(store: LedgerStore) -> tuple[int, int]:
                repo = store.webhooks
                targets = await repo.endpoints_behind(horizon, ENDPOINTS_PER_ROUND)
                now = self.clock.now()
                count = 0
                for target in targets:
                    seqs = await repo.matching_events(target, horizon, EVENTS_PER_ENDPOINT_ROUND)
                    # A full page may have more after it; otherwise everything up to the horizon
                    # was looked at.
                    cursor = seqs[-1] if len(seqs) == EVENTS_PER_ENDPOINT_ROUND else horizon
                    await repo.add_deliveries(target.id, seqs, cursor, now)
                    count += len(seqs)
                return len(targets), count

            endpoints, count = await self.ledger.write(work)
            created += count
            if endpoints == 0:
                break
        return created

    async def deliver(self) -> int:
        """Send every due delivery once (concurrently, DELIVERIES_PER_ROUND at a time) and store
        the outcomes. Returns the number of attempts made."""
        attempts = 0
        for _ in range(DELIVER_ROUNDS_MAX):
            claimed = await self._claim()
            if not claimed:
                break
            outcomes = await asyncio.gather(*(self._send(c) for c in claimed))
            now = self.clock.now()
            results = [
                (
                    c,
                    status,
                    error,
                    rules.after_attempt(self.policy, c.attempt, rules.is_success(status), now),
                )
                for c, (status, error) in zip(claimed, outcomes, strict=True)
            ]

            async def record(
                store: LedgerStore,
                results: Sequence[tuple[Claimed, int | None, str, rules.Outcome]] = results,
            ) -> None:
                await store.webhooks.record(results)

            await self.ledger.write(record)
            attempts += len(claimed)
            for c, status, error, outcome in results:
                log.info(
                    "webhook_attempt",
                    delivery_id=c.delivery_id,
                    event_id=c.event_id,
                    attempt=c.attempt,
                    status_code=status,
                    error=error,
                    state=outcome.state.value,
                )
        return attempts

    async def _claim(self) -> list[Claimed]:
        async def work(store: LedgerStore) -> list[Claimed]:
            repo = store.webhooks
            now = self.clock.now()
            await repo.fail_exhausted(now, self.policy.attempts_max)
            return await repo.claim_due(now, now + self.lease, DELIVERIES_PER_ROUND)

        return await self.ledger.write(work)

    async def _send(self, c: Claimed) -> tuple[int | None, str]:
        """One attempt: the egress policy again (the name may resolve elsewhere now; refused, no
        request is made), then the POST to the address just checked."""
        refusal, address = await self.egress_check(c.url)
        if refusal is not None:
            log.warning("webhook_refused_by_egress_policy", delivery_id=c.delivery_id)
            return None, egress.REFUSED_BY_POLICY
        if not address:
            return None, "DNS error"
        now = self.clock.now()
        try:
            current = self.sealer.open(c.secrets.current, c.endpoint_id)
        except SecretUnavailable as exc:
            log.error("webhook_secret_unavailable", endpoint_id=c.endpoint_id, detail=str(exc))
            return None, "secret unavailable"
        keys = rules.signing_secrets(current, self._previous(c), c.secrets.previous_until, now)
        body = rules.body(
            event_id=c.event_id,
            cursor=c.event_seq,
            wallet_id=c.wallet_id,
            event_type=c.event_type,
            occurred_time=c.occurred_time,
            data=c.data,
        )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "billing-ledger-webhooks/1",
            "Billing-Event-Id": c.event_id,
            "Billing-Delivery-Id": c.delivery_id,
            "Billing-Signature": rules.signature(keys[0], int(now.timestamp()), body, *keys[1:]),
        }
        return await self.sender.post(c.url, address, body, headers)

    def _previous(self, c: Claimed) -> str | None:
        """The replaced secret, if it still opens (if its key is gone, only the new one signs)."""
        if c.secrets.previous is None:
            return None
        try:
            return self.sealer.open(c.secrets.previous, c.endpoint_id)
        except SecretUnavailable as exc:
            log.warning(
                "webhook_previous_secret_unavailable", endpoint_id=c.endpoint_id, detail=str(exc)
            )
            return None

    async def close(self) -> None:
        await self.sender.aclose()


async def _visible_wallet(store: LedgerStore, wallet_id: str, customers: tenancy.Customers) -> None:
    """WALLET_NOT_FOUND for a wallet that does not exist or that the caller may not see."""
    found = await store.get_wallet(wallet_id)
    missing = WalletNotFound(f"wallet {wallet_id!r} does not exist")
    if found is None:
        raise missing
    tenancy.check(customers, found[0].customer_id, missing)


async def _visible_endpoint(
    store: LedgerStore, endpoint: WebhookEndpoint, customers: tenancy.Customers
) -> None:
    """WEBHOOK_ENDPOINT_NOT_FOUND for an endpoint the caller may not see: one of another
    customer's wallet, or one for every wallet, when the caller is bound to some customers."""
    if customers is None:
        return
    owner = ""
    if endpoint.wallet_id:
        owner = (await store.wallet_owners([endpoint.wallet_id])).get(endpoint.wallet_id, "")
    tenancy.check(
        customers,
        owner,
        WebhookEndpointNotFound(f"webhook endpoint {endpoint.id!r} does not exist"),
    )
