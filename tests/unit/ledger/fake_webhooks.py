"""An in-memory `WebhookStore` (app/ports.py) for the webhook use cases: endpoints, deliveries and
attempt logs in dictionaries, beside the fake ledger's tables (`fakes.Tables.webhooks`), so they
roll back with them. Transactions run one at a time, so locks are no-ops and nothing is ever
held by another deliverer; what is left is each method's promise on the port."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from ipaddress import ip_address

from ledger_service.app.ports import Claimed, DispatchTarget, EndpointSecrets, Sealed, new_id
from ledger_service.domain.model import WalletEvent
from ledger_service.domain.webhooks import (
    Attempt,
    Delivery,
    DeliveryState,
    Outcome,
    WebhookEndpoint,
)

IN_FLIGHT = "in flight"
# What a name resolves to unless a test says otherwise: a public address.
PUBLIC_ADDRESS = "93.184.216.34"


class FakeResolver:
    """Names to the addresses in `names` (a test changes them to rebind a name), IP literals to
    themselves, any other name to PUBLIC_ADDRESS; keeps every name it was asked."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}
        self.asked: list[str] = []

    async def resolve(self, host: str) -> list[str]:
        self.asked.append(host)
        if host in self.names:
            return list(self.names[host])
        try:
            return [str(ip_address(host.strip("[]")))]
        except ValueError:
            return [PUBLIC_ADDRESS]


@dataclass
class EndpointRow:
    seq: int
    endpoint: WebhookEndpoint
    secret: Sealed
    cursor: int
    previous: Sealed | None = None
    previous_until: datetime | None = None


@dataclass
class WebhookTables:
    endpoints: dict[str, EndpointRow] = field(default_factory=dict)
    # Deliveries by id, with their cursor and attempt log (Delivery.attempt_log left empty).
    deliveries: dict[str, tuple[int, Delivery]] = field(default_factory=dict)
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)
    last_seq: int = 0

    def next_seq(self) -> int:
        self.last_seq += 1
        return self.last_seq


class FakeWebhookStore:
    def __init__(self, tables: WebhookTables, events: list[tuple[str, str, WalletEvent]]) -> None:
        self.t = tables
        self.events = events  # (event_id, wallet_id, event); an event's cursor is its index + 1

    # -- endpoints
    async def lock_scope(self, wallet_id: str) -> None:
        pass  # one transaction at a time

    async def count_active(self, wallet_id: str) -> int:
        return sum(
            r.endpoint.wallet_id == wallet_id and r.endpoint.delete_time is None
            for r in self.t.endpoints.values()
        )

    async def last_event_seq(self) -> int:
        return len(self.events)

    async def insert_endpoint(self, endpoint: WebhookEndpoint, secret: Sealed, cursor: int) -> None:
        self.t.endpoints[endpoint.id] = EndpointRow(self.t.next_seq(), endpoint, secret, cursor)

    async def rotate_secret(
        self, endpoint_id: str, secret: Sealed, previous_until: datetime | None
    ) -> None:
        row = self.t.endpoints[endpoint_id]
        row.previous = row.secret if previous_until is not None else None
        row.previous_until = previous_until
        row.secret = secret

    async def get_endpoint(self, endpoint_id: str, *, lock: bool = False) -> WebhookEndpoint | None:
        row = self.t.endpoints.get(endpoint_id)
        return None if row is None else row.endpoint

    async def list_endpoints(
        self,
        wallet_id: str,
        after_seq: int,
        limit: int,
        customers: frozenset[str] | None = None,
    ) -> list[tuple[int, WebhookEndpoint]]:
        assert customers is None, "tenant filtering is tested over gRPC (tests/e2e)"
        rows = sorted(
            (r.seq, r.endpoint)
            for r in self.t.endpoints.values()
            if r.endpoint.delete_time is None
            and r.seq > after_seq
            and (not wallet_id or r.endpoint.wallet_id == wallet_id)
        )
        return rows[:limit]

    async def delete_endpoint(self, endpoint_id: str, now: datetime) -> None:
        row = self.t.endpoints[endpoint_id]
        row.endpoint = replace(row.endpoint, delete_time=now)
        for delivery_id, (seq, d) in self.t.deliveries.items():
            if d.endpoint_id == endpoint_id and d.state is DeliveryState.PENDING:
                cancelled = replace(
                    d, state=DeliveryState.CANCELLED, next_attempt_time=None, end_time=now
                )
                self.t.deliveries[delivery_id] = (seq, cancelled)

    # -- dispatch
    async def endpoints_behind(self, horizon: int, limit: int) -> list[DispatchTarget]:
        rows = sorted(
            (r for r in self.t.endpoints.values() if r.endpoint.delete_time is None),
            key=lambda r: r.seq,
        )
        return [
            DispatchTarget(
                r.endpoint.id,
                r.endpoint.wallet_id,
                tuple(t.value for t in r.endpoint.types),
                r.cursor,
            )
            for r in rows
            if r.cursor < horizon
        ][:limit]

    async def matching_events(self, target: DispatchTarget, horizon: int, limit: int) -> list[int]:
        seqs = [
            seq
            for seq, (_, wallet_id, event) in enumerate(self.events, start=1)
            if target.cursor < seq <= horizon
            and (not target.wallet_id or wallet_id == target.wallet_id)
            and (not target.types or event.type.value in target.types)
        ]
        return seqs[:limit]

    async def add_deliveries(
        self, endpoint_id: str, event_seqs: Sequence[int], cursor: int, now: datetime
    ) -> None:
        for seq in event_seqs:
            event_id, wallet_id, event = self.events[seq - 1]
            delivery = Delivery(
                id=new_id(),
                endpoint_id=endpoint_id,
                event_id=event_id,
                event_seq=seq,
                event_type=event.type,
                wallet_id=wallet_id,
                state=DeliveryState.PENDING,
                attempts=0,
                last_status_code=None,
                last_error="",
                next_attempt_time=now,
                create_time=now,
                end_time=None,
            )
            self.t.deliveries[delivery.id] = (self.t.next_seq(), delivery)
            self.t.attempts[delivery.id] = []
        self.t.endpoints[endpoint_id].cursor = cursor

    # -- delivery
    def _due(self, now: datetime) -> list[tuple[int, Delivery]]:
        return [
            (seq, d)
            for seq, d in self.t.deliveries.values()
            if d.state is DeliveryState.PENDING
            and d.next_attempt_time is not None
            and d.next_attempt_time <= now
        ]

    async def fail_exhausted(self, now: datetime, attempts_max: int) -> None:
        for seq, d in self._due(now):
            if d.attempts >= attempts_max:
                d = replace(d, state=DeliveryState.FAILED, next_attempt_time=None, end_time=now)
                self.t.deliveries[d.id] = (seq, d)

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
        due = sorted(self._due(now), key=lambda sd: (sd[1].next_attempt_time, sd[0]))[:limit]
        claimed = []
        for seq, d in due:
            d = replace(d, attempts=d.attempts + 1, next_attempt_time=lease_until)
            self.t.deliveries[d.id] = (seq, d)
            self.t.attempts[d.id].append(Attempt(d.attempts, now, None, IN_FLIGHT))
            row = self.t.endpoints[d.endpoint_id]
            event_id, wallet_id, event = self.events[d.event_seq - 1]
            claimed.append(
                Claimed(
                    delivery_id=d.id,
                    attempt=d.attempts,
                    endpoint_id=row.endpoint.id,
                    url=row.endpoint.url,
                    secrets=EndpointSecrets(row.secret, row.previous, row.previous_until),
                    event_id=event_id,
                    event_seq=d.event_seq,
                    wallet_id=wallet_id,
                    event_type=event.type,
                    occurred_time=event.occurred_time,
                    data=dict(event.data),
                )
            )
        return sorted(claimed, key=lambda c: c.event_seq)

    async def record(self, results: Sequence[tuple[Claimed, int | None, str, Outcome]]) -> None:
        for c, status, error, outcome in results:
            log = self.t.attempts.get(c.delivery_id, [])
            for i, a in enumerate(log):
                if a.number == c.attempt:
                    log[i] = replace(a, status_code=status, error=error)
            found = self.t.deliveries.get(c.delivery_id)
            if found is None:
                continue
            seq, d = found
            if d.attempts == c.attempt and d.state is DeliveryState.PENDING:
                d = replace(
                    d,
                    state=outcome.state,
                    last_status_code=status,
                    last_error=error,
                    next_attempt_time=outcome.next_attempt_time,
                    end_time=outcome.end_time,
                )
                self.t.deliveries[d.id] = (seq, d)

    # -- retention and reads
    async def purge(self, cutoffs: dict[DeliveryState, datetime], limit: int) -> int:
        due = sorted(
            (d.end_time, seq, d.id)
            for seq, d in self.t.deliveries.values()
            if d.state in cutoffs and d.end_time is not None and d.end_time <= cutoffs[d.state]
        )[:limit]
        for _, _, delivery_id in due:
            del self.t.deliveries[delivery_id]
            del self.t.attempts[delivery_id]
        return len(due)

    async def list_deliveries(
        self, endpoint_id: str, state: DeliveryState | None, before_seq: int | None, limit: int
    ) -> list[tuple[int, Delivery]]:
        rows = sorted(
            (
                (seq, d)
                for seq, d in self.t.deliveries.values()
                if d.endpoint_id == endpoint_id
                and (state is None or d.state is state)
                and (before_seq is None or seq < before_seq)
            ),
            key=lambda sd: -sd[0],
        )[:limit]
        return [(seq, replace(d, attempt_log=tuple(self.t.attempts[d.id]))) for seq, d in rows]
