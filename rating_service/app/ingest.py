"""Ingest: record events, update aggregates and write pending charges. (A synchronous request
works on a session of its own, the `SyncSessions` port of app/sync_sessions.py: one connection
and its session locks, its stages committed on it; on PostgreSQL adapters/db/sessions.py.) Its
length is the synchronous path's: the claim, the takeover of a holder that died and the undo of a
refusal read best side by side.

Asynchronous batch: one transaction (`Context.idempotent`) that accepts the batch
(`app/accept.py`, a fixed number of round trips for up to 1,000 events) and stores the response.

Synchronous: the request_id is claimed first, in a transaction of its own, as in progress (a retry
meanwhile is told UNAVAILABLE, retry later). Then per event: the same transaction commits the
event (HELD), aggregate and PENDING charges (all of them held from the forwarder) while a
session-level advisory lock keeps the aggregates to us; then the ledger is asked; then a second
transaction acknowledges the charges, or, on a DENY refusal of any of them, puts the aggregates
back as they were (nobody else could change them meanwhile), removes its charges, keeps the event
as DENIED (never deleted, so a duplicate can never be told DUPLICATE for usage that was then
thrown away) and records a refund owed for each debit the ledger booked on the other meters, all
in one transaction; those refunds are tried at once and, failing that, delivered by the
forwarder until acknowledged. A crash between A and B leaves PENDING charges the forwarder
delivers after `sync_hold`: nothing is lost and the request id derived from the event id keeps
the ledger from booking it twice. A retry finds the holder gone when its session advisory locks
are free (the request's, the event's aggregates') and takes the request or event over at once
(`ingest_sync`, `_take_over`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from billing_common.errors import BillingError, InvalidArgument, RequestIdConflict
from rating_service.app import commands as cmd
from rating_service.app.accept import RatingPolicy, accept
from rating_service.app.context import Context, check_replay
from rating_service.app.debits import charge_view, debit_item
from rating_service.app.failures import report_failed
from rating_service.app.ports import Booked, LedgerUnavailable, Refused
from rating_service.app.records import Acknowledged, ChargeRow, Claim, NewUndo
from rating_service.app.stores import RatingStore
from rating_service.app.sync_sessions import SyncSession, SyncSessions, SyncStore
from rating_service.domain import tenancy
from rating_service.domain.batch import Applied, duplicate_outcome
from rating_service.domain.charges import NewCharge, ledger_request_id
from rating_service.domain.errors import (
    ChargeOutOfRange,
    CustomerNotFound,
    EventInProgress,
    EventRejected,
    InsufficientCredits,
    NoPriceInForce,
    PeriodClosed,
    RequestInProgress,
)
from rating_service.domain.refunds import credit_split
from rating_service.domain.status import ChargeStatus, EventState, UndoStatus

# What these use cases can raise (tests/unit/test_use_case_errors.py checks it against the code).
RAISES = (
    InvalidArgument,
    RequestIdConflict,
    RequestInProgress,
    # Per event (`EventOutcome.error`), as `accept` answers them:
    CustomerNotFound,
    NoPriceInForce,
    EventRejected,
    ChargeOutOfRange,
    PeriodClosed,
    EventInProgress,
    InsufficientCredits,
)

log = structlog.get_logger(__name__)


class Ingest:
    def __init__(
        self, context: Context, policy: RatingPolicy, sessions: SyncSessions | None = None
    ) -> None:
        """`sessions`: where the synchronous mode opens its sessions (None: no synchronous
        mode)."""
        self.context = context
        self.policy = policy
        self.sessions = sessions
        # Each synchronous event holds a pooled connection across its ledger call (see
        # `_sync_one`); this bound leaves the rest of the pool to everything else.
        self.sync_slots = asyncio.Semaphore(policy.sync_concurrency_max)

    async def ingest(
        self,
        idem: cmd.Idem,
        events: Sequence[cmd.EventIn],
        sync: bool,
        encode: Callable[[list[cmd.EventOutcome]], bytes],
        customers: tenancy.Customers,
    ) -> bytes:
        """Events of customers outside `customers` are refused one by one, as events of
        customers that do not exist (domain/tenancy.py)."""
        self._check_batch(events)
        if sync:
            return await self.ingest_sync(idem, events, encode, customers)
        return await self.context.idempotent(
            idem, lambda repo: self.ingest_async(repo, events, encode, customers)
        )

    def _check_batch(self, events: Sequence[cmd.EventIn]) -> None:
        if not events:
            raise InvalidArgument.field("events", "at least one event", "MISSING_FIELD")
        if len(events) > self.policy.batch_size_max:
            raise InvalidArgument.field(
                "events", f"at most {self.policy.batch_size_max} events", "BATCH_TOO_LARGE"
            )

    async def ingest_async(
        self,
        repo: RatingStore,
        events: Sequence[cmd.EventIn],
        encode: Callable[[list[cmd.EventOutcome]], bytes],
        customers: tenancy.Customers = None,
        backfill: bool = False,
    ) -> bytes:
        outcomes, _ = await accept(
            repo,
            events,
            self.context.clock.now(),
            self.policy,
            customers=customers,
            backfill=backfill,
        )
        return encode(outcomes)

    async def ingest_stream(self, events: Sequence[cmd.EventIn]) -> list[cmd.EventOutcome]:
        """A batch read from a stream (the Kafka intake): the asynchronous path of IngestEvents
        in one transaction, without a request id. Redelivery is absorbed by the event ids (an
        event already accepted answers DUPLICATE), so what the stream delivers twice is rated
        once; the caller commits its stream position only after this returns."""
        self._check_batch(events)
        outcomes, _ = await self.context.write(
            lambda repo: accept(repo, events, self.context.clock.now(), self.policy)
        )
        return outcomes

    async def backfill(
        self,
        idem: cmd.Idem,
        events: Sequence[cmd.EventIn],
        encode: Callable[[list[cmd.EventOutcome]], bytes],
        customers: tenancy.Customers,
    ) -> bytes:
        """Historical usage (moving from another system): asynchronous ingest without the grace
        window. Events of open past periods are rated by the normal rule, under the price
        version in force at their time, and their charges forwarded to the ledger as usual; an
        event of a closed period is refused (PERIOD_CLOSED), so a final invoice never changes."""
        self._check_batch(events)
        return await self.context.idempotent(
            idem, lambda repo: self.ingest_async(repo, events, encode, customers, backfill=True)
        )

    async def preview(
        self, event: cmd.EventIn, customers: tenancy.Customers = None
    ) -> cmd.EventOutcome:
        """Run the real accept path in a transaction that is always rolled back."""
        outcomes, _ = await self.context.uow.trial(
            lambda repo: accept(
                repo, [event], self.context.clock.now(), self.policy, customers=customers
            )
        )
        return outcomes[0]

    # -- synchronous mode -------------------------------------------------------------------

    async def ingest_sync(
        self,
        idem: cmd.Idem,
        events: Sequence[cmd.EventIn],
        encode: Callable[[list[cmd.EventOutcome]], bytes],
        customers: tenancy.Customers = None,
    ) -> bytes:
        """Claim the request_id first, committed on its own and marked in progress, so a retry
        while we wait for the ledger is told to retry later (never answered from half the work)
        and another request with the same id is refused before anything is written.

        The request keeps one connection, and on it a session advisory lock on its request id
        from before the claim until it is done (`try_lock_request`). A retry that finds that lock
        held is told REQUEST_IN_PROGRESS; one that takes the lock knows any claim still in
        progress has lost its holder (a restart or a crash ended that session, and the lock with
        it) and takes the request over at once. The semaphore keeps synchronous calls from
        taking the whole pool."""

        def lease() -> datetime:
            return self.context.clock.now() + self.policy.sync_hold

        if self.sessions is None:
            raise RuntimeError("synchronous ingest needs a session store")
        async with self.sync_slots, self.sessions.open() as session:
            async with session.stage() as store:
                alone = await store.try_lock_request(idem.request_id)
            if not alone:
                # Held by a live session: never raced; answered from what is stored.
                async with session.stage() as store:
                    found = await store.stored_claim(idem.request_id)
                return check_replay(found or Claim(False, idem.method, idem.fingerprint), idem)
            async with session.stage() as store:
                claim = await store.claim_with_lease(
                    idem.request_id,
                    idem.method,
                    idem.fingerprint,
                    self.context.clock.now(),
                    lease(),
                    holder_gone=True,
                )
            if not claim.claimed:
                return check_replay(claim, idem)
            try:
                outcomes = [
                    await self._sync_one(session, e, idem.request_id, lease, customers)
                    for e in events
                ]
                response = encode(outcomes)
                async with session.stage() as store:
                    await store.store_response(idem.request_id, response)
            except BaseException:
                # Free the request_id so the caller's retry runs again (events already decided
                # answer as duplicates, DENIED or in progress), while the request lock is still
                # ours. If our session died, so did the lock: a retry takes the claim over.
                with contextlib.suppress(Exception):
                    await asyncio.shield(session.release_claim(idem.request_id))
                raise
            return response

    async def _sync_one(
        self,
        session: SyncSession,
        event: cmd.EventIn,
        request_id: str,
        lease: Callable[[], datetime],
        customers: tenancy.Customers,
    ) -> cmd.EventOutcome:
        # The connection (and its session advisory locks) stays ours across the ledger call:
        # undoing a refusal needs the aggregates untouched meanwhile.
        try:
            outcomes, applied = await self._accept_one(session, event, request_id, lease, customers)
            outcome = outcomes[0]
            if isinstance(outcome.error, EventInProgress):
                return await self._take_over(session, outcome)
            if outcome.status != cmd.EventStatus.ACCEPTED:
                return outcome
            return await self._charge_now(session, outcome, applied[0].charges, applied[0])
        finally:
            await session.end_event()

    async def _take_over(self, session: SyncSession, outcome: cmd.EventOutcome) -> cmd.EventOutcome:
        """An event still HELD by a synchronous call: if that call is gone (every aggregate lock
        it held until deciding the event is free, so its session died: a restart or a crash),
        decide the event now instead of after `sync_hold`, as the forwarder would then: its
        PENDING debits go to the ledger under their derived request ids (so one the dead call
        already booked is answered with the same entry, never booked twice), the answers are
        recorded and the event is ACCEPTED. A refusal is not undone (what the aggregates were
        before is not known to us, and others may have counted on them since): the refused
        charge is DENIED on the invoice, as in asynchronous mode. Otherwise: still in progress."""
        event_id = outcome.event_id
        async with session.stage() as store:
            charges = await store.charges_of_event(event_id)
            taken = await store.try_lock_aggregates({c.key for c in charges})
        if not taken:
            return outcome
        async with session.stage() as store:
            stored = (await store.event_statuses([event_id], lock=True)).get(event_id)
            if stored != EventState.HELD:
                return duplicate_outcome(event_id, stored)
            charges = await store.charges_of_event(event_id, lock=True)
        log.warning("sync_event_taken_over", event_id=event_id)
        taken_over = cmd.EventOutcome(
            event_id, cmd.EventStatus.ACCEPTED, charges=tuple(charge_view(c) for c in charges)
        )
        return await self._charge_now(session, taken_over, charges, None)

    async def _accept_one(
        self,
        session: SyncSession,
        event: cmd.EventIn,
        request_id: str,
        lease: Callable[[], datetime],
        customers: tenancy.Customers,
    ) -> tuple[list[cmd.EventOutcome], dict[int, Applied]]:
        """Transaction A of synchronous mode, retried on deadlock or serialization failure."""

        async def work(store: SyncStore) -> tuple[list[cmd.EventOutcome], dict[int, Applied]]:
            await store.renew_lease(request_id, lease())
            return await accept(
                store,
                [event],
                self.context.clock.now(),
                self.policy,
                sync=True,
                customers=customers,
            )

        return await session.write(work)

    async def _charge_now(
        self,
        session: SyncSession,
        outcome: cmd.EventOutcome,
        charges: Sequence[NewCharge | ChargeRow],
        applied: Applied | None,
    ) -> cmd.EventOutcome:
        """Ask the ledger for the event's PENDING debits and record its answers (transaction B);
        on a DENY refusal put back what accepting the event changed (`applied`; None: a refusal
        is not undone, see `_take_over`)."""
        event_id = outcome.event_id
        debits = [c for c in charges if c.amount > 0 and c.status == ChargeStatus.PENDING]
        if not debits:
            # Refunds only (or nothing): they are the forwarder's, from now on.
            async with session.stage() as store:
                await store.hold_charges(event_id, self.context.clock.now())
                await store.set_event_status([event_id], EventState.ACCEPTED)
            done = all(c.status == ChargeStatus.ACKNOWLEDGED for c in charges)
            status = cmd.EventStatus.CHARGED if done else cmd.EventStatus.ACCEPTED
            return cmd.EventOutcome(event_id, status, charges=outcome.charges)
        async with session.stage() as store:
            found = await store.meters_by_ids({c.meter_id for c in debits})
        keys = {c.id: found[c.meter_id].key for c in debits}
        items = [
            debit_item(
                c.ledger_request_id,
                c.wallet_id,
                c.amount,
                c.occurred_time,
                found[c.meter_id].key,
                found[c.meter_id].description,
                c.event_id,
                c.customer_id,
                c.member_id,
            )
            for c in debits
        ]
        try:
            results = await self.context.ledger.debit_batch(items)
            kinds = await self.context.ledger.grant_kinds(
                sorted(
                    {
                        a.grant_id
                        for b in results
                        if isinstance(b, Booked)
                        for a in b.allocations
                        if a.grant_id
                    }
                )
            )
        except LedgerUnavailable as exc:
            # The charges stay PENDING and are the forwarder's from now on.
            log.warning("sync_charge_deferred", event_id=event_id, error=exc.message)
            async with session.stage() as store:
                await store.hold_charges(event_id, self.context.clock.now())
                await store.set_event_status([event_id], EventState.ACCEPTED)
            return outcome
        pairs = list(zip(debits, results, strict=True))
        denied = [(row, res) for row, res in pairs if isinstance(res, Refused) and res.denied]
        booked = [(row, res) for row, res in pairs if isinstance(res, Booked)]
        failed = [(row, res) for row, res in pairs if isinstance(res, Refused) and res.permanent]
        if (
            denied
            and applied is not None
            and await self._undo_denied(session, event_id, applied, booked, keys)
        ):
            return cmd.EventOutcome(
                event_id,
                cmd.EventStatus.DENIED,
                InsufficientCredits(
                    denied[0][1].message or "the wallet cannot cover the charge",
                    # INSUFFICIENT_CREDITS, or MEMBER_BUDGET_EXCEEDED for a pool member's
                    # budget: the ledger's own reason.
                    reason=denied[0][1].reason or None,
                ),
            )
        async with session.stage() as store:
            # Only PENDING rows change: if the forwarder took a charge over (after sync_hold),
            # its outcome stands.
            await store.acknowledge(
                [
                    Acknowledged(row.id, res.entry_id, credit_split(res.allocations, kinds))
                    for row, res in booked
                ]
            )
            await store.deny({row.id: res.error for row, res in denied})
            moved = await store.fail({row.id: res.error for row, res in failed})
            await store.hold_charges(event_id, self.context.clock.now())
            await store.set_event_status([event_id], EventState.ACCEPTED)
        report_failed(
            "debit", {row.id: (event_id, res.reason, res.error) for row, res in failed}, moved
        )
        async with session.stage() as store:
            stored = await store.charges_of_event(event_id)
        views = tuple(charge_view(c) for c in stored)
        # From what is stored, not from our call: the forwarder may have answered first.
        error: BillingError | None = None
        if any(v.status == cmd.ChargeStatus.DENIED for v in views):
            status = cmd.EventStatus.DENIED
            error = InsufficientCredits(
                denied[0][1].message if denied else "the wallet cannot cover the charge",
                reason=denied[0][1].reason or None if denied else None,
            )
        elif all(v.status == cmd.ChargeStatus.ACKNOWLEDGED for v in views):
            status = cmd.EventStatus.CHARGED
        else:
            status = cmd.EventStatus.ACCEPTED
        available = booked[-1][1].available_after if booked else ""
        return cmd.EventOutcome(event_id, status, error, views, available)

    async def _untouched(self, repo: SyncStore, event_id: str) -> bool:
        """Whether every non-zero charge of the event is still PENDING with no refund planned
        against it or by it: nothing of it reached the ledger behind our back. Locks them."""
        current = await repo.charges_of_event(event_id, lock=True)
        nonzero = [c for c in current if c.amount != 0]
        if not all(c.status == ChargeStatus.PENDING for c in nonzero):
            return False
        return not await repo.has_refund_parts(c.id for c in nonzero)

    async def _refund_now(self, undo: NewUndo) -> Booked | None:
        """Try an owed undo refund while the caller waits: a few quick attempts (bounded), by its
        derived request id, so a retry (or the forwarder sending it too) books it once. None:
        not booked now; the forwarder delivers it (and decides what a refusal means)."""
        for attempt in range(UNDO_ATTEMPTS_MAX):
            try:
                refund = await self.context.ledger.refund(
                    undo.ledger_request_id, undo.debit_entry_id, undo.amount, undo.description
                )
            except LedgerUnavailable as exc:
                log.warning("sync_undo_refund_failed", event_id=undo.event_id, error=exc.message)
                if attempt < UNDO_ATTEMPTS_MAX - 1:
                    await asyncio.sleep(UNDO_BACKOFF_S * 2**attempt)
                continue
            if isinstance(refund, Refused):
                log.warning(
                    "sync_undo_refund_refused", event_id=undo.event_id, reason=refund.reason
                )
                return None
            return refund
        return None

    async def _undo_denied(
        self,
        session: SyncSession,
        event_id: str,
        applied: Applied,
        booked: list[tuple[NewCharge | ChargeRow, Booked]],
        keys: dict[int, str],
    ) -> bool:
        """All or nothing, durably: in one transaction, put back what accepting the event changed,
        keep the event as DENIED and record a refund owed for each debit the ledger booked on
        its other meters (`undo_refunds`); then try those refunds at once. Any the ledger does
        not take now is delivered by the forwarder until acknowledged, so the two services
        converge whatever happens to the ledger or to us meanwhile. False (nothing undone) when
        the forwarder took a charge over meanwhile: the event then stays accepted, as in
        asynchronous mode (the refused charge DENIED, on the invoice)."""
        now = self.context.clock.now()
        undos = [
            NewUndo(
                event_id=event_id,
                meter_id=row.meter_id,
                wallet_id=row.wallet_id,
                debit_entry_id=res.entry_id,
                amount=row.amount,
                description=f"refund: {event_id} was denied on another meter",
                ledger_request_id=ledger_request_id("undo", event_id, keys[row.id]),
                status=UndoStatus.PENDING,
                # Ours while we try them now; the forwarder's after that (or if we die).
                forward_after=now + self.policy.sync_hold,
                create_time=now,
            )
            for row, res in booked
        ]
        async with session.stage() as store:
            if not await self._untouched(store, event_id):
                return False
            ids = await store.insert_undos(undos)
            # Safe: the session locks on the event's aggregates are still ours.
            await store.save_aggregates(applied.before)
            await store.delete_unique_values(applied.uniques)
            await store.deny_event(event_id)
        left = []
        for undo_id, undo in zip(ids, undos, strict=True):
            refund = await self._refund_now(undo)
            if refund is None:
                left.append(undo_id)
                continue
            async with session.stage() as store:
                await store.undo_done(undo_id, refund.entry_id)
        if left:
            log.warning("sync_undo_deferred", event_id=event_id, refunds=len(left))
            async with session.stage() as store:
                await store.undo_retry(left, self.context.clock.now(), "left to the forwarder")
        return True


UNDO_ATTEMPTS_MAX = 3
UNDO_BACKOFF_S = 0.2
