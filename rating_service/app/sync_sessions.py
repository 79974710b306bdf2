"""What synchronous ingest needs from storage (app/ingest.py), as protocols: it keeps one
connection, and the session locks on it, from its claim to its answer, across the ledger call.
`SyncSessions` opens a `SyncSession` (its stages, each a transaction committed on its own; the
event's locks given back; the claim released) over a `SyncStore` (what it stores and reads beyond
`RatingStore`). The PostgreSQL adapter is `adapters/db/sessions.py`; the unit tests use
`FakeSyncSessions` (`tests/unit/rating/fakes.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol, TypeVar

from rating_service.app.records import ChargeRow, Claim, NewUndo
from rating_service.app.stores import RatingStore
from rating_service.domain.batch import AggKey, UniqueKey

T = TypeVar("T")


class SyncStore(RatingStore, Protocol):
    """What synchronous ingest needs beyond `RatingStore`, on its session. A session lock (the
    request's, an event's aggregates') lasts past commit until given back or the session ends:
    a crash or a lost connection gives it back at once, so a lock found free while its work is
    still in progress means its holder is gone."""

    async def try_lock_request(self, request_id: str) -> bool:
        """The request's session lock, without waiting: False when another session holds it."""
        ...

    async def stored_claim(self, request_id: str) -> Claim | None:
        """The request id's claim as stored (never claimed here), or None."""
        ...

    async def claim_with_lease(
        self,
        request_id: str,
        method: str,
        fp: bytes,
        now: datetime,
        lease_until: datetime,
        *,
        holder_gone: bool = False,
    ) -> Claim:
        """Claim a request id as in progress until `lease_until`. An in-progress claim of the
        same request (method and fingerprint) whose lease ran out, or whose holder is gone
        (`holder_gone`), is taken over; anything else is returned as found."""
        ...

    async def renew_lease(self, request_id: str, lease_until: datetime) -> None: ...

    async def release_claim(self, request_id: str) -> None:
        """Give up an in-progress claim (the work failed), so a retry can run it again."""
        ...

    async def charges_of_event(self, event_id: str, *, lock: bool = False) -> list[ChargeRow]:
        """The event's charges, by id; `lock` holds them until the transaction ends."""
        ...

    async def try_lock_aggregates(self, keys: Iterable[AggKey]) -> bool:
        """Session locks on all these aggregates, without waiting: False (and none kept) when
        another session holds any (or there are none)."""
        ...

    async def hold_charges(self, event_id: str, until: datetime) -> None:
        """Keep the forwarder off the event's PENDING charges until `until` (`now` releases)."""
        ...

    async def has_refund_parts(self, charge_ids: Iterable[int]) -> bool:
        """Whether a refund is planned by or against any of these charges."""
        ...

    async def insert_undos(self, undos: Sequence[NewUndo]) -> list[int]:
        """Record refunds owed; their ids, in order."""
        ...

    async def delete_unique_values(self, items: Sequence[UniqueKey]) -> None: ...

    async def deny_event(self, event_id: str) -> None:
        """A synchronous refusal undid the event: its charges go, the event stays DENIED."""
        ...


class SyncSession(Protocol):
    """One synchronous request's session: one connection, and its session locks, from before
    its claim until its answer."""

    def stage(self) -> AbstractAsyncContextManager[SyncStore]:
        """One transaction, committed when the block ends (rolled back on an exception); the
        session locks taken in it outlast it."""
        ...

    async def write(self, work: Callable[[SyncStore], Awaitable[T]]) -> T:
        """`work` in one stage, run again on deadlock or serialization failure (the aggregate
        locks a failed attempt took are given back first)."""
        ...

    async def end_event(self) -> None:
        """Give back the aggregate locks of the event just decided, on every path (the
        request's lock stays). A session that is gone has nothing to give back."""
        ...

    async def release_claim(self, request_id: str) -> None:
        """Give up the request's claim, only while this session (and so its request lock) is
        alive: a claim whose holder is gone is taken over by a retry anyway."""
        ...


class SyncSessions(Protocol):
    def open(self) -> AbstractAsyncContextManager[SyncSession]:
        """A session of its own; every session lock it holds is given back when the block ends
        (a session that cannot give them back is thrown away, never used again)."""
        ...
