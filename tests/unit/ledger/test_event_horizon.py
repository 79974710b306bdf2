"""The settled event horizon as a function of polls: (last cursor, snapshot, lock holders)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger_service.adapters.db.event_horizon import Horizon, Snapshot


def snap(xmax: int, *running: int) -> Snapshot:
    return Snapshot(xmax, frozenset(running))


NONE: frozenset[int] = frozenset()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10:10:", snap(10)),
        ("5:12:5,7,11", snap(12, 5, 7, 11)),
    ],
)
def test_a_snapshot_is_read_from_postgresql_text(text: str, expected: Snapshot) -> None:
    assert Snapshot.parse(text) == expected


def test_an_id_has_ended_when_below_xmax_and_not_running() -> None:
    s = snap(12, 5, 7)
    assert [s.ended(x) for x in (4, 5, 6, 7, 11, 12, 13)] == [
        True,
        False,
        True,
        False,
        True,
        False,
        False,
    ]


def test_with_no_writer_running_the_last_cursor_settles_at_once() -> None:
    assert Horizon().advance(7, snap(20), NONE).settled == 7


def test_transactions_that_write_no_events_do_not_hold_the_horizon_back() -> None:
    # 15 and 16 run (another table, another database); only lock holders are writers.
    assert Horizon().advance(7, snap(20, 15, 16), frozenset({3})).settled == 7


def test_a_running_writer_holds_the_cursor_back_until_a_later_snapshot_shows_it_ended() -> None:
    h = Horizon(settled=4).advance(7, snap(20, 15), frozenset({15}))
    assert h.settled == 4
    still = h.advance(9, snap(22, 15, 21), frozenset({15, 21}))
    assert still.settled == 4
    ended = still.advance(9, snap(23, 21), frozenset({21}))
    assert ended.settled == 7  # 9's writer 21 is still running
    assert ended.advance(9, snap(23), NONE).settled == 9


def test_a_writer_at_or_above_xmax_holds_the_cursor_back() -> None:
    # xmax is one past the last id that ended: 21 and 22 started later and are still running.
    h = Horizon().advance(7, snap(21, 15), frozenset({15, 21, 22}))
    assert (h.settled, [p.writers for p in h.pending]) == (0, [frozenset({15, 21, 22})])
    assert h.advance(7, snap(22, 21), frozenset({21, 22})).settled == 0
    assert h.advance(7, snap(23), NONE).settled == 7


def test_a_poll_that_finds_the_same_cursor_keeps_the_older_waiting_pair() -> None:
    h = Horizon().advance(7, snap(20, 15), frozenset({15}))
    again = h.advance(7, snap(21, 15, 20), frozenset({15, 20}))
    assert again.pending == h.pending


def test_an_aborted_writer_settles_like_a_committed_one() -> None:
    # The snapshot cannot tell them apart and need not: an aborted cursor is a gap for ever.
    h = Horizon().advance(7, snap(20, 15), frozenset({15}))
    assert h.advance(7, snap(21), NONE).settled == 7


def test_the_horizon_never_goes_back() -> None:
    h = Horizon(settled=10).advance(8, snap(20), NONE)
    assert h.settled == 10 and h.pending == ()


def test_the_waiting_list_is_bounded_and_keeps_the_oldest_and_the_newest() -> None:
    h = Horizon()
    for cursor in range(1, 11):
        h = h.advance(cursor, snap(100, 50), frozenset({50}), pending_max=4)
    assert [p.last_cursor for p in h.pending] == [1, 2, 3, 10]
    assert h.advance(10, snap(101), NONE).settled == 10


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.sets(st.integers(1, 8))),
        min_size=1,
        max_size=30,
    ),
    st.integers(2, 5),
)
def test_the_horizon_never_passes_a_cursor_whose_writer_has_not_been_seen_ended(
    polls: list[tuple[int, set[int]]], pending_max: int
) -> None:
    """A model: transaction ids 1..8 start in order and end; a poll takes the cursors written so
    far (one per started writer, in start order). Whatever the pending bound, the horizon never
    passes the cursor of a writer that no poll has seen ended, and with none running it reaches
    the last cursor."""
    h = Horizon()
    ended: set[int] = set()
    started = 0
    cursor_of: dict[int, int] = {}
    for more, ending in polls:
        for _ in range(more):
            if started < 8:
                started += 1
                cursor_of[started] = started
        ended |= {x for x in ending if x <= started}
        running = {x for x in range(1, started + 1) if x not in ended}
        # As PostgreSQL does: xmax is one past the last id that ended, later ones may run too.
        xmax = max(ended, default=0) + 1
        s = snap(xmax, *(x for x in running if x < xmax))
        h = h.advance(started, s, frozenset(running), pending_max)
        unseen = [cursor_of[x] for x in running]
        assert h.settled < min(unseen, default=started + 1)
        assert h.settled <= started
        if not running:
            assert h.settled == started
