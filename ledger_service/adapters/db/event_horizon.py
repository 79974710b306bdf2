"""The settled event horizon, derived from PostgreSQL snapshots without taking a lock.

An event's cursor is taken when it is inserted but becomes visible when its transaction commits, so
a transaction holding cursor 10 may commit after one holding 11: a reader that moved past 11 would
skip 10. Readers therefore only go up to the *settled horizon*, a cursor at or below which no event
can still appear. It is found like this, one poll at a time:

1. Read the cursor sequence's last value L. Every cursor <= L has been taken, and the column
   default (`wallet_event_cursor()`, migration 0009) gives the inserting transaction its id before
   it takes the number, so each of them belongs to a transaction that has an id.
2. Afterwards, take a snapshot S (`pg_current_snapshot()`) and list the transactions that hold a
   `RowExclusiveLock` on `wallet_events` (an insert takes it before its cursor and keeps it to the
   end). Each transaction holding a cursor <= L has then ended by S, or has ended since, or is a
   lock holder that S does not show ended: the *writers* of this pair. (Not only S's in-progress
   list: an id at or above S's xmax may be running too, as xmax is one past the last id that had
   *ended*.)
3. L is settled once every writer of its pair has ended, which a later snapshot shows: an id below
   its xmax and not among its running ones has ended (committed, so its events are visible; or
   aborted, and its cursors are gaps that stay empty).

A pair with no writers is settled at once; the others wait in a short list and are settled by a
later poll's snapshot. Only transactions that insert events hold the horizon back, and nobody
waits for anybody: writers never see the readers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# Pairs waiting for their writers (the reader polls every 0.2 s, so about 13 s of them); beyond it
# the newest stands for the ones after the oldest (see `Horizon.advance`).
PENDING_MAX = 64


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What `pg_current_snapshot()` says: ids below `xmax` had ended unless `running`; nothing is
    known of ids from `xmax` on (they may be running)."""

    xmax: int
    running: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        """From PostgreSQL's text form, `xmin:xmax:xip,xip,...`."""
        _xmin, xmax, xip = text.split(":")
        return cls(int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    def ended(self, xid: int) -> bool:
        return xid < self.xmax and xid not in self.running


@dataclass(frozen=True, slots=True)
class Pending:
    last_cursor: int
    writers: frozenset[int]


@dataclass(frozen=True, slots=True)
class Horizon:
    settled: int = 0
    pending: tuple[Pending, ...] = ()

    def advance(
        self,
        last_cursor: int,
        snapshot: Snapshot,
        lock_holders: frozenset[int],
        pending_max: int = PENDING_MAX,
    ) -> Horizon:
        """One poll: the sequence's last value, then the snapshot and the ids of the transactions
        holding a lock on the events table, read in that order."""
        assert pending_max >= 2, "the oldest and the newest pair are always kept"
        writers = frozenset(xid for xid in lock_holders if not snapshot.ended(xid))
        settled = self.settled
        waiting = []
        for pair in (*self.pending, Pending(last_cursor, writers)):
            if all(snapshot.ended(xid) for xid in pair.writers):
                settled = max(settled, pair.last_cursor)
            else:
                waiting.append(pair)
        # A pair whose cursor an older waiting pair already has adds nothing (the older one's
        # writers include every transaction that can hold a cursor up to it).
        kept: list[Pending] = []
        for pair in waiting:
            if pair.last_cursor > settled and (not kept or pair.last_cursor > kept[-1].last_cursor):
                kept.append(pair)
        waiting = kept
        if len(waiting) > pending_max:
            # The newest pair settles last and goes furthest; the oldest ones settle first. The
            # ones between are dropped: a later pair covers their cursors.
            waiting = waiting[: pending_max - 1] + waiting[-1:]
        return replace(self, settled=settled, pending=tuple(waiting))
