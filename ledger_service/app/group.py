"""One group commit: operations of any wallets applied in one transaction, the write pipeline's
unit (app/pipeline.py; the operations themselves: app/operations.py).

  claim the request ids -> locate each operation's wallet -> lock the wallets (id order) and only
  then take the time -> book the allotments due -> apply each operation to the state the earlier
  ones left (top-ups after each) -> evaluate alerts once per wallet -> save everything in one
  statement, each response beside its request id.

When every operation's command names its wallet (debits, new holds and grants), the claims, the
locks and the locked state are one step (`LedgerStore.claim_and_lock`: one round trip).

An operation whose caller may not see its wallet's customer is refused under the lock, before
anything of it is applied, with the error of a target that does not exist (domain/tenancy.py).
Entries carry who wrote them: the operation's caller, or "system" for the allotments and
automatic top-ups booked around it.

Each operation succeeds or fails on its own; a refused one writes nothing and its request id is
released, as is one whose answer changes nothing (a denied Authorize). A request id repeated in
the group gets the first occurrence's result (REQUEST_ID_CONFLICT when the content differs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from billing_common.errors import BillingError, RequestIdConflict, Unavailable
from ledger_service.app import booked as booked_metrics
from ledger_service.app import commands as cmd
from ledger_service.app import operations as ops
from ledger_service.app.ports import Claim, LedgerStore, StoredEntry, new_id
from ledger_service.domain import allotments, automation, ledger, pool, tenancy
from ledger_service.domain.errors import (
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
    MemberNotFound,
    ScheduleNotFound,
    WalletNotFound,
)
from ledger_service.domain.model import Entry, WalletEvent, WalletState

# What these use cases can raise (tests/unit/test_use_case_errors.py checks it against the code).
RAISES = (
    RequestIdConflict,
    WalletNotFound,
    ScheduleNotFound,
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
    MemberNotFound,
)

Outcome = bytes | BillingError
Booked = tuple[str, str, str, str, Entry]  # entry id, wallet id, request id, actor, entry
Event = tuple[str, str, WalletEvent]  # event id, wallet id, event
SYSTEM = cmd.SYSTEM.actor


def check_replay(claim: Claim, idem: cmd.Idem) -> bytes:
    """The stored response of a request id used before, if this request is the same one."""
    if claim.method != idem.method or claim.fingerprint != idem.fingerprint:
        raise RequestIdConflict(
            f"request_id {idem.request_id!r} was used before with a different request"
        )
    assert claim.response is not None, "a committed claim always has its response"
    return claim.response


class GroupCommit:
    """A group's transaction (`attempt`, run again from the start on contention) and the result
    of each of its operations (`results`)."""

    def __init__(
        self,
        group: Sequence[ops.Operation],
        now: Callable[[], datetime],
        time_under_lock: Callable[[], datetime],
    ) -> None:
        self.group = group
        self.now = now
        self.time_under_lock = time_under_lock
        self.first: dict[str, int] = {}
        for i, op in enumerate(group):
            self.first.setdefault(op.idem.request_id, i)
        self.stored_before: dict[str, Claim] = {}

    async def attempt(self, store: LedgerStore) -> dict[int, Outcome]:
        """One transaction attempt: the outcome of each first occurrence, by position."""
        out: dict[int, Outcome] = {}
        refused: list[str] = []
        unique = [self.group[i] for i in sorted(self.first.values())]
        # The time is taken once the wallets are locked: a hold committed while this
        # transaction waited for a lock is then at or before it, so its reservation counts.
        named = [w for w in (op.named_wallet for op in unique) if w is not None]
        if len(named) == len(unique):
            # Every wallet named by its command: claim and lock in one step (one round trip).
            claims, states, now = await store.claim_and_lock(
                [(*self._key(op), w) for op, w in zip(unique, named, strict=True)],
                self.now(),
                self.time_under_lock,
            )
            located = await self._locate(store, unique, claims, out, refused)
        else:
            claims = await store.claim([self._key(op) for op in unique], self.now())
            located = await self._locate(store, unique, claims, out, refused)
            states, now = await store.lock_states((w for _, _, w in located), self.time_under_lock)
        before = dict(states)
        booked: list[Booked] = []
        events: list[Event] = []
        for wallet_id, loaded in before.items():
            caught_up = allotments.catch_up(loaded, now, new_id)
            states[wallet_id] = caught_up.state
            booked += [(new_id(), wallet_id, "", SYSTEM, e) for e in caught_up.entries]
            events += [(new_id(), wallet_id, e) for e in caught_up.events]
        payloads: dict[int, bytes] = {}
        written: dict[str, None] = {}  # wallets an operation changed, in order
        for i, op, wallet_id in located:
            try:
                state = await self._loaded(store, op, wallet_id, states, before, now)
                outcome = op.apply(state, now)
                own_count = len(outcome.entries)
            except Unavailable:
                raise  # the transaction is gone: every operation in it fails alike
            except BillingError as exc:
                out[i] = exc
                refused.append(op.idem.request_id)
                continue
            if not outcome.entries:
                out[i] = self._unkept(op, state, now, refused)
                continue
            outcome = automation.then_automate(outcome, now, new_id, alerts=False)
            written[wallet_id] = None
            states[wallet_id] = outcome.state
            events += [(new_id(), wallet_id, e) for e in outcome.events]
            book = ledger.write_time(now, [before[wallet_id].book_time])
            own = [
                # What automation booked after the operation (a top-up) is the system's.
                StoredEntry(
                    new_id(),
                    wallet_id,
                    book,
                    op.idem.request_id,
                    e,
                    op.caller.actor if n < own_count else SYSTEM,
                )
                for n, e in enumerate(outcome.entries)
            ]
            booked += [(s.id, wallet_id, s.request_id, s.actor, s.entry) for s in own]
            payloads[i] = op.encode(outcome.state, own, now)
        # Alerts once per wallet, on the balance the transaction leaves (no one else sees the
        # balances between its writes); top-ups ran after each write.
        for wallet_id in written:
            alerted = automation.evaluate_alerts(states[wallet_id], now)
            states[wallet_id] = alerted.state
            events += [(new_id(), wallet_id, e) for e in alerted.events]
        changed = {w: s for w, s in states.items() if s is not before[w]}
        booked_metrics.observe(
            [b[4] for b in booked], [e for _, _, e in events], refused=out.values()
        )
        await store.save(
            {w: before[w] for w in changed},
            changed,
            booked,
            now,
            events,
            responses={self.group[i].idem.request_id: p for i, p in payloads.items()},
            released=refused,
        )
        out.update(payloads)
        return out

    @staticmethod
    def _unkept(op: ops.Operation, state: WalletState, now: datetime, released: list[str]) -> bytes:
        """An answer that changes nothing (a denied Authorize): returned, not kept, so the same
        request id asks again later."""
        released.append(op.idem.request_id)
        return op.encode(state, [], now)

    @staticmethod
    def _key(op: ops.Operation) -> tuple[str, str, bytes]:
        return op.idem.request_id, op.idem.method, op.idem.fingerprint

    async def _locate(
        self,
        store: LedgerStore,
        unique: Sequence[ops.Operation],
        claims: dict[str, Claim],
        out: dict[int, Outcome],
        refused: list[str],
    ) -> list[tuple[int, ops.Operation, str]]:
        """Answer replays from their stored responses; the wallet of each claimed operation (an
        operation that cannot name one is refused)."""
        self.stored_before.clear()
        located: list[tuple[int, ops.Operation, str]] = []
        for op in unique:
            i = self.first[op.idem.request_id]
            claim = claims[op.idem.request_id]
            try:
                if not claim.claimed:
                    self.stored_before[op.idem.request_id] = claim
                    out[i] = check_replay(claim, op.idem)
                    if op.caller.customers is not None:
                        # A stored response is the wallet's data too.
                        wallet_id = await op.locate(store)
                        owner = (await store.wallet_owners([wallet_id])).get(wallet_id, "")
                        tenancy.check(op.caller.customers, owner, op.missing())
                    await op.check_replay(store)
                    continue
                located.append((i, op, await op.locate(store)))
            except Unavailable:
                raise  # the transaction is gone: every operation in it fails alike
            except BillingError as exc:
                out[i] = exc
                if claim.claimed:
                    refused.append(op.idem.request_id)
        return located

    @staticmethod
    async def _loaded(
        store: LedgerStore,
        op: ops.Operation,
        wallet_id: str,
        states: dict[str, WalletState],
        before: dict[str, WalletState],
        now: datetime,
    ) -> WalletState:
        """The wallet's state for `op`, with what the operation loads besides (e.g. the entry a
        refund returns) added to it."""
        state = states.get(wallet_id)
        if state is None:
            raise WalletNotFound(f"wallet {wallet_id!r} does not exist")
        # Before the operation loads or applies anything: a foreign wallet is not there.
        tenancy.check(op.caller.customers, state.wallet.customer_id, op.missing())
        change = await op.load(store, state)
        if change is not None:
            before[wallet_id] = change(before[wallet_id])
            state = states[wallet_id] = change(state)
        # The pool members it names, once per transaction: later operations see their spend as
        # the earlier ones left it. A share budget resolves on the state (saved when it changed).
        wanted = [m for m in op.members(state) if m not in state.members]
        if wanted:
            loaded = await store.member_usages(wallet_id, wanted, now)
            for member_id in wanted:
                usage = loaded.get(member_id)
                if usage is None and not op.members_required:
                    continue  # removed: what it left behind goes on, against no budget
                if usage is None:
                    raise MemberNotFound(f"wallet {wallet_id!r} has no member {member_id!r}")
                before[wallet_id] = pool.with_usage(before[wallet_id], usage, None)
                state = pool.with_usage(state, usage, ledger.available(state, now))
            states[wallet_id] = state
        return state

    def results(self, by_first: dict[int, Outcome]) -> list[Outcome]:
        """Each operation's result in group order, a repeated request id answered as its first
        occurrence (or as the stored request it repeats)."""
        results: list[Outcome] = []
        for op in self.group:
            i = self.first[op.idem.request_id]
            first = self.group[i]
            stored = self.stored_before.get(op.idem.request_id)
            result: Outcome
            if stored is not None and op is first:
                result = by_first[i]  # the replay, checked in the transaction
            elif stored is not None:
                # Stored by an earlier request: every occurrence is checked against it itself.
                try:
                    result = check_replay(stored, op.idem)
                except BillingError as exc:
                    result = exc
            elif op is first or (op.idem.method, op.idem.fingerprint) == (
                first.idem.method,
                first.idem.fingerprint,
            ):
                result = by_first[i]
            else:
                result = RequestIdConflict(
                    f"request_id {op.idem.request_id!r} was sent twice at once with different"
                    " content"
                )
            results.append(result)
        return results
