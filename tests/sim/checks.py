"""The invariants, checked after every wave and at the end of a seed.

Each check reads the ledger as a client would (GetBalance, VerifyWallet) or straight from its
tables (a side connection: the journal, grants, holds and events are the evidence), and records a
`Violation` named after the invariant it breaks, so a failing seed says what went wrong.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
import grpc
from billing.ledger.v1 import ledger_pb2 as pb

from billing_common.money import parse_amount
from billing_common.protoconv import to_datetime
from tests.sim.harness import RpcFailure

if TYPE_CHECKING:
    from tests.sim.world import Simulation, WalletModel

ZERO = Decimal(0)
NEVER = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
T = TypeVar("T")


def _d(text: str) -> Decimal:
    return Decimal(text)


# What a database restart (this worker's fault, or another worker's on a shared server) does to
# the side connection.
CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a query cut mid-way leaves the connection unusable
    asyncpg.AdminShutdownError,
    asyncpg.CannotConnectNowError,
    OSError,
)


async def on_side(sim: Simulation, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run queries on the side connection (one user at a time), again on a new connection if a
    restart cut it."""
    async with sim.worker.side_lock:
        for _ in range(5):
            try:
                return await work(await sim.worker.side())
            except CONNECTION_LOST:
                await sim.worker.drop_side()
        return await work(await sim.worker.side())


async def after_step(
    sim: Simulation, touched: set[str] | None = None, *, verify_rpc: bool = False
) -> None:
    """Every invariant on the wallets a wave touched (all of them when `touched` is None).

    VerifyWallet's comparisons are made in one query over all those wallets (`_verified`); the
    RPC itself is called per wallet when `verify_rpc` (after a fault step and at the end)."""
    wallets = [w for w in sim.wallets if touched is None or w.id in touched]
    ids = [w.id for w in wallets]

    async def tables(conn: asyncpg.Connection) -> None:
        await _journal(sim, conn, ids)
        await _scoped(sim, conn, ids)
        await _verified(sim, conn, ids)
        await _holds_covered(sim, conn, ids)
        await _holds_end_once(sim, conn, ids)
        await _alerts(sim, conn, ids)
        await _signals(sim, conn, ids)
        await _topups(sim, conn, wallets)
        await _members(sim, conn, ids)

    await on_side(sim, tables)
    await _client_view(sim, wallets, verify_rpc)


async def at_end(sim: Simulation) -> None:
    """Capture every hold still active, fully: a hold is a guarantee. Then check everything and
    that every acknowledged write is in the journal exactly once."""
    rows = await on_side(
        sim,
        lambda conn: conn.fetch(
            "SELECT id, wallet_id, amount FROM holds WHERE wallet_id = ANY($1)"
            " AND state = 'ACTIVE' AND expire_time > $2 ORDER BY id",
            [w.id for w in sim.wallets],
            sim.now() + _MARGIN,
        ),
    )
    for row in rows:
        request = pb.CaptureHoldRequest(
            request_id=sim.rid(), hold_id=row["id"], amount=str(row["amount"])
        )
        result = await sim.call("CaptureHold", request)
        sim.ack(request.request_id, "CaptureHold", row["wallet_id"], result, "CAPTURE")
        if isinstance(result, RpcFailure):
            why = await hold_uncapturable_reason(sim, row["id"])
            sim.violate(why, f"final capture of hold {row['id']} ({row['amount']}): {result}")
    await after_step(sim, verify_rpc=True)
    await on_side(sim, lambda conn: _acknowledged(sim, conn))


_MARGIN = timedelta(minutes=1)


async def _journal(sim: Simulation, conn: asyncpg.Connection, ids: list[str]) -> None:
    """Conservation (the journal sums to the grants' remainders less overage), no negative
    remainder, no overage on a DENY wallet."""
    rows = await conn.fetch(
        """
        SELECT w.id, w.overage_policy, w.overage,
               (SELECT coalesce(sum(e.amount), 0) FROM entries e WHERE e.wallet_id = w.id) AS net,
               (SELECT coalesce(sum(g.remaining), 0) FROM grants g WHERE g.wallet_id = w.id)
                   AS remaining,
               (SELECT min(g.remaining) FROM grants g WHERE g.wallet_id = w.id) AS least
        FROM wallets w WHERE w.id = ANY($1)
        """,
        ids,
    )
    for r in rows:
        if r["net"] != r["remaining"] - r["overage"]:
            sim.violate(
                "conservation",
                f"wallet {r['id']}: journal sums to {r['net']}, grants hold {r['remaining']}"
                f" less overage {r['overage']}",
            )
        if r["least"] is not None and r["least"] < 0:
            sim.violate("negative_grant", f"wallet {r['id']}: a grant holds {r['least']}")
        if r["overage_policy"] == "DENY" and r["overage"] != 0:
            sim.violate("deny_below_zero", f"DENY wallet {r['id']} has overage {r['overage']}")


async def _members(sim: Simulation, conn: asyncpg.Connection, ids: list[str]) -> None:
    """Pooled wallets: in no budget period did a DENY member spend more than its budget (its
    debits and captures booked in the period, less the refunds of those; a share budget as
    resolved for its latest period, the only one the ledger keeps); a refund
    names the member of the debit it returns; and what the ledger reports a member spent for all
    time (a budget with no period) is what its entries add up to."""
    rows = await conn.fetch(
        """
        WITH usage AS (
          SELECT e.wallet_id, e.member_id, e.book_time, -e.amount AS spent FROM entries e
          WHERE e.wallet_id = ANY($1) AND e.member_id <> '' AND e.type IN ('DEBIT', 'CAPTURE')
          UNION ALL
          SELECT r.wallet_id, r.member_id, d.book_time, -r.amount FROM entries r
          JOIN entries d ON d.id = r.related_id
          WHERE r.wallet_id = ANY($1) AND r.member_id <> '' AND r.type = 'REFUND'
        )
        SELECT m.wallet_id, m.member_id, b.budget, p.bucket, sum(u.spent) AS spent
        FROM pool_members m JOIN usage u USING (wallet_id, member_id),
          LATERAL (SELECT CASE m.budget_period
            WHEN 'DAY' THEN date_trunc('day', u.book_time AT TIME ZONE 'UTC')
            WHEN 'WEEK' THEN date_trunc('week', u.book_time AT TIME ZONE 'UTC')
            WHEN 'MONTH' THEN date_trunc('month', u.book_time AT TIME ZONE 'UTC') END AS bucket) p,
          -- An absolute budget holds in every period; a share budget in the one period it was
          -- resolved for (the ledger keeps only the latest).
          LATERAL (SELECT coalesce(m.budget_amount, CASE
            WHEN p.bucket IS NOT DISTINCT FROM (m.share_period_start AT TIME ZONE 'UTC')
            THEN m.share_budget END) AS budget) b
        WHERE m.policy = 'DENY' AND b.budget IS NOT NULL
        GROUP BY m.wallet_id, m.member_id, b.budget, p.bucket
        HAVING sum(u.spent) > b.budget
        LIMIT 10
        """,
        ids,
    )
    for r in rows:
        sim.violate(
            "member_over_budget",
            f"wallet {r['wallet_id']}: DENY member {r['member_id']} spent {r['spent']} in the"
            f" period from {r['bucket']}, budget {r['budget']}",
        )
    rows = await conn.fetch(
        """
        SELECT r.wallet_id, r.id, r.member_id, d.member_id AS debit_member FROM entries r
        JOIN entries d ON d.id = r.related_id
        WHERE r.wallet_id = ANY($1) AND r.type = 'REFUND' AND r.member_id <> d.member_id
        LIMIT 10
        """,
        ids,
    )
    for r in rows:
        sim.violate(
            "member_refund",
            f"wallet {r['wallet_id']}: refund {r['id']} names {r['member_id']!r}, its debit"
            f" {r['debit_member']!r}",
        )
    pooled = [w for w in sim.wallets if w.id in ids and w.members]
    for w in pooled:
        listed = await sim.call("ListPoolMembers", pb.ListPoolMembersRequest(wallet_id=w.id))
        if isinstance(listed, RpcFailure):
            if listed.code not in NEVER:
                sim.violate("members_failed", f"ListPoolMembers {w.id}: {listed}")
            continue
        totals = await conn.fetch(
            """
            SELECT e.member_id, coalesce(sum(-e.amount), 0) AS spent FROM entries e
            WHERE e.wallet_id = $1 AND e.member_id <> ''
              AND e.type IN ('DEBIT', 'CAPTURE', 'REFUND')
            GROUP BY e.member_id
            """,
            w.id,
        )
        spent = {r["member_id"]: r["spent"] for r in totals}
        for m in listed.members:
            if m.budget_period == pb.BUDGET_PERIOD_UNSPECIFIED and _d(m.spent) != spent.get(
                m.member_id, Decimal(0)
            ):
                sim.violate(
                    "member_spend",
                    f"wallet {w.id}: member {m.member_id} reported spent {m.spent}, its entries"
                    f" {spent.get(m.member_id, Decimal(0))}",
                )


async def _scoped(sim: Simulation, conn: asyncpg.Connection, ids: list[str]) -> None:
    """A scoped grant is burnt (debit, capture) or reserved (hold) only by usage of a feature it
    names, and never settles overage."""
    rows = await conn.fetch(
        """
        SELECT e.wallet_id, e.type AS what, e.id, e.feature, a.grant_id, g.features
        FROM entries e JOIN allocations a ON a.entry_id = e.id JOIN grants g ON g.id = a.grant_id
        WHERE e.wallet_id = ANY($1) AND cardinality(g.features) > 0 AND a.amount < 0
          AND (e.type = 'OVERAGE_SETTLEMENT'
               OR (e.type IN ('DEBIT', 'CAPTURE') AND NOT e.feature = ANY(g.features)))
        UNION ALL
        SELECT h.wallet_id, 'HOLD', h.id, h.feature, a.grant_id, g.features
        FROM holds h JOIN hold_allocations a ON a.hold_id = h.id JOIN grants g ON g.id = a.grant_id
        WHERE h.wallet_id = ANY($1) AND cardinality(g.features) > 0
          AND NOT h.feature = ANY(g.features)
        LIMIT 10
        """,
        ids,
    )
    for r in rows:
        sim.violate(
            "scoped_burn",
            f"wallet {r['wallet_id']}: {r['what']} {r['id']} (feature {r['feature']!r}) took"
            f" from grant {r['grant_id']} scoped to {list(r['features'])}",
        )


async def _holds_covered(sim: Simulation, conn: asyncpg.Connection, ids: list[str]) -> None:
    """Every hold active now reserves its whole amount, and what the active holds reserve from a
    grant is still in that grant."""
    now = sim.now()
    rows = await conn.fetch(
        """
        SELECT h.id, h.wallet_id, h.amount, coalesce(sum(-a.amount), 0) AS reserved
        FROM holds h LEFT JOIN hold_allocations a ON a.hold_id = h.id
        WHERE h.wallet_id = ANY($1) AND h.state = 'ACTIVE' AND h.expire_time > $2
        GROUP BY h.id, h.wallet_id, h.amount HAVING coalesce(sum(-a.amount), 0) <> h.amount
        """,
        ids,
        now,
    )
    for r in rows:
        sim.violate(
            "hold_not_reserved", f"hold {r['id']} of {r['amount']} reserves {r['reserved']}"
        )
    rows = await conn.fetch(
        """
        SELECT g.id, g.wallet_id, g.remaining, sum(-a.amount) AS reserved,
               g.expire_time IS NOT NULL AND g.expire_time + w.late_event_grace <= $2 AS ended,
               g.void_time IS NOT NULL AS voided
        FROM holds h JOIN hold_allocations a ON a.hold_id = h.id
        JOIN grants g ON g.id = a.grant_id JOIN wallets w ON w.id = g.wallet_id
        WHERE h.wallet_id = ANY($1) AND h.state = 'ACTIVE' AND h.expire_time > $2
        GROUP BY g.id, g.wallet_id, g.remaining, g.expire_time, w.late_event_grace, g.void_time
        HAVING sum(-a.amount) > g.remaining
        """,
        ids,
        now,
    )
    for r in rows:
        invariant = "hold_outlived_grant" if r["ended"] or r["voided"] else "hold_double_spent"
        sim.violate(
            invariant,
            f"wallet {r['wallet_id']}: active holds reserve {r['reserved']} of grant {r['id']},"
            f" which holds {r['remaining']}" + (" (grant expired)" if r["ended"] else ""),
        )


async def _holds_end_once(sim: Simulation, conn: asyncpg.Connection, ids: list[str]) -> None:
    """A hold ends once: at most one CAPTURE or RELEASE entry per hold."""
    rows = await conn.fetch(
        "SELECT related_id, count(*) AS n FROM entries WHERE wallet_id = ANY($1)"
        " AND type IN ('CAPTURE', 'RELEASE') GROUP BY related_id HAVING count(*) > 1",
        ids,
    )
    for r in rows:
        sim.violate(
            "hold_ended_twice", f"hold {r['related_id']} captured or released {r['n']} times"
        )


async def hold_uncapturable_reason(sim: Simulation, hold_id: str) -> str:
    """Why a capture up to the held amount was refused: its credits were spent by another write
    (a double spend) or the grant behind it ended while the hold was active."""
    ended = await on_side(
        sim,
        lambda conn: conn.fetchval(
            """
            SELECT bool_or((g.expire_time IS NOT NULL
                            AND g.expire_time + w.late_event_grace <= $2)
                           OR g.void_time IS NOT NULL)
            FROM hold_allocations a JOIN grants g ON g.id = a.grant_id
            JOIN wallets w ON w.id = g.wallet_id WHERE a.hold_id = $1
            """,
            hold_id,
            sim.now(),
        ),
    )
    return "hold_outlived_grant" if ended else "hold_double_spent"


async def _alerts(sim: Simulation, conn: asyncpg.Connection, ids: list[str]) -> None:
    """One alert per breach: per rule, fired and recovered alternate, starting with fired."""
    rows = await conn.fetch(
        "SELECT wallet_id, type, data FROM wallet_events WHERE wallet_id = ANY($1)"
        " AND type IN ('ALERT_FIRED', 'ALERT_RECOVERED') ORDER BY seq",
        ids,
    )
    last: dict[str, str] = {}
    for r in rows:
        data = json.loads(r["data"]) if isinstance(r["data"], str) else r["data"]
        rule = data["rule_id"]
        previous = last.get(rule, "ALERT_RECOVERED")
        if previous == r["type"]:
            sim.violate(
                "alert_per_breach",
                f"wallet {r['wallet_id']}: rule {rule} {r['type']} twice in a row",
            )
        last[rule] = r["type"]


async def _signals(sim: Simulation, conn: asyncpg.Connection, ids: list[str]) -> None:
    """At most one event per signal episode: every signal event has its episode and every
    episode its event (same wallet and signal), and a wallet's episodes of one signal never
    overlap (each closed before the next opened; at most one open)."""
    rows = await conn.fetch(
        "SELECT coalesce(e.wallet_id, ep.wallet_id) AS wallet_id, e.id AS event_id, e.type,"
        " ep.event_id AS episode, ep.signal, ep.open_time, ep.close_time"
        " FROM (SELECT * FROM wallet_events WHERE wallet_id = ANY($1)"
        "   AND type IN ('BURN_SPIKE', 'SLOWDOWN', 'DEPLETION_EXPECTED')) e"
        " FULL JOIN (SELECT * FROM wallet_signal_episodes WHERE wallet_id = ANY($1)) ep"
        "   ON ep.event_id = e.id"
        " ORDER BY wallet_id, ep.signal, ep.open_time, ep.event_id",
        ids,
    )
    last: dict[tuple[str, str], Any] = {}
    for r in rows:
        if r["event_id"] is None or r["episode"] is None or r["type"] != r["signal"]:
            sim.violate(
                "signal_per_episode",
                f"wallet {r['wallet_id']}: event {r['event_id']} ({r['type']}) vs episode"
                f" {r['episode']} ({r['signal']})",
            )
            continue
        key = (r["wallet_id"], r["signal"])
        before = last.get(key)
        if before is not None and (
            before["close_time"] is None or before["close_time"] > r["open_time"]
        ):
            sim.violate(
                "signal_per_episode",
                f"wallet {r['wallet_id']}: {r['signal']} episode {r['episode']} opened while"
                f" {before['episode']} was open",
            )
        last[key] = r


async def _topups(sim: Simulation, conn: asyncpg.Connection, wallets: list[WalletModel]) -> None:
    """At most one top-up per breach: at most one pending at a time, and between two top-ups
    bought because the balance fell below the threshold, the balance was at or above it again
    (an entry in between shows it), unless a payment failed (which re-arms the rule)."""
    pending = await conn.fetch(
        "SELECT wallet_id, count(*) AS n FROM topups WHERE wallet_id = ANY($1)"
        " AND state = 'PENDING' GROUP BY wallet_id HAVING count(*) > 1",
        [w.id for w in wallets],
    )
    for r in pending:
        sim.violate(
            "topup_per_breach", f"wallet {r['wallet_id']}: {r['n']} top-ups pending at once"
        )
    for w in wallets:
        if w.topups_when_cleared is None:
            continue
        ids = await conn.fetch("SELECT id FROM topups WHERE wallet_id = $1", w.id)
        later = sorted({r["id"] for r in ids} - w.topups_when_cleared)
        if later:
            sim.violate("topup_after_rule_cleared", f"wallet {w.id}: top-ups {later}")
    watched = [w for w in wallets if w.threshold is not None and not w.silent_rearm]
    if not watched:
        return
    watched_ids = [w.id for w in watched]
    all_events = await conn.fetch(
        "SELECT wallet_id, seq, type, data FROM wallet_events WHERE wallet_id = ANY($1)"
        " AND type IN ('TOP_UP_CREATED', 'TOP_UP_COMPLETED', 'TOP_UP_FAILED') ORDER BY seq",
        watched_ids,
    )
    all_entries = await conn.fetch(
        "SELECT wallet_id, seq, type, related_id, available_after FROM entries"
        " WHERE wallet_id = ANY($1) ORDER BY seq",
        watched_ids,
    )
    events_of: dict[str, list[asyncpg.Record]] = defaultdict(list)
    entries_of: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for e in all_events:
        events_of[e["wallet_id"]].append(e)
    for e in all_entries:
        entries_of[e["wallet_id"]].append(e)
    for w in watched:
        assert w.threshold is not None
        events = events_of[w.id]
        below: set[str] = set()
        positions: list[tuple[str, str | None]] = []  # (top_up_id, grant_id) in order
        for e in events:
            data = json.loads(e["data"]) if isinstance(e["data"], str) else e["data"]
            if e["type"] == "TOP_UP_CREATED" and data.get("reason") == "balance below threshold":
                below.add(data["top_up_id"])
                positions.append((data["top_up_id"], None))
            elif e["type"] == "TOP_UP_COMPLETED" and data["top_up_id"] in below:
                positions = [
                    (t, data["grant_id"] if t == data["top_up_id"] else g) for t, g in positions
                ]
            elif e["type"] == "TOP_UP_FAILED":
                positions.append(("failed", None))
        entries = entries_of[w.id]
        grant_seq = {e["related_id"]: e["seq"] for e in entries if e["type"] == "GRANT"}
        for (t1, g1), (t2, g2) in itertools.pairwise(positions):
            if "failed" in (t1, t2) or g1 is None or g2 is None:
                continue  # a failed payment re-arms; a pending one has no position yet
            s1, s2 = grant_seq.get(g1), grant_seq.get(g2)
            if s1 is None or s2 is None:
                continue
            # The first top-up's own grant counts: a block that lifts the balance to the
            # threshold ends that breach, so the next fall below is a new one.
            if not any(
                s1 <= e["seq"] < s2 and e["available_after"] >= w.threshold for e in entries
            ):
                sim.violate(
                    "topup_per_breach",
                    f"wallet {w.id}: top-ups {t1} and {t2} with no balance at or above"
                    f" {w.threshold} between them",
                )


async def _client_view(sim: Simulation, wallets: list[WalletModel], verify_rpc: bool) -> None:
    """What a client sees: VerifyWallet consistent (when `verify_rpc`); available never
    negative; held equal to the holds active at the balance's time (one query for all)."""
    if verify_rpc:
        await asyncio.gather(*(_verify_rpc(sim, w.id) for w in wallets))
    got = await asyncio.gather(
        *(sim.call("GetBalance", pb.GetBalanceRequest(wallet_id=w.id)) for w in wallets)
    )
    seen: list[tuple[str, pb.Balance]] = []  # (wallet_id, balance)
    for w, result in zip(wallets, got, strict=True):
        if isinstance(result, RpcFailure):
            if result.code not in NEVER:  # an INTERNAL is already reported as itself
                sim.violate("balance_failed", f"GetBalance {w.id}: {result}")
            continue
        balance = result.balance
        available = _d(balance.available)
        if available < 0:
            sim.violate("negative_available", f"wallet {w.id}: available {available}")
        if w.deny and _d(balance.overage) != 0:
            sim.violate("deny_below_zero", f"DENY wallet {w.id}: overage {balance.overage}")
        seen.append((w.id, balance))
    if not seen:
        return
    rows = await on_side(
        sim,
        lambda conn: conn.fetch(
            """
            SELECT q.wallet_id, coalesce(sum(h.amount), 0) AS held
            FROM unnest($1::text[], $2::timestamptz[]) AS q(wallet_id, as_of)
            LEFT JOIN holds h ON h.wallet_id = q.wallet_id AND h.create_time <= q.as_of
                AND h.expire_time > q.as_of AND (h.end_time IS NULL OR h.end_time > q.as_of)
            GROUP BY q.wallet_id
            """,
            [wallet_id for wallet_id, _ in seen],
            [to_datetime(balance, "as_of_time") for _, balance in seen],
        ),
    )
    held = {r["wallet_id"]: r["held"] for r in rows}
    for wallet_id, balance in seen:
        if _d(balance.held) != held[wallet_id]:
            sim.violate(
                "held_mismatch",
                f"wallet {wallet_id}: balance held {balance.held}, holds {held[wallet_id]}",
            )


async def _verify_rpc(sim: Simulation, wallet_id: str) -> None:
    verified = await sim.call("VerifyWallet", pb.VerifyWalletRequest(wallet_id=wallet_id))
    if isinstance(verified, RpcFailure):
        if verified.code not in NEVER:  # an INTERNAL is already reported as itself
            sim.violate("verify_failed", f"VerifyWallet {wallet_id}: {verified}")
    elif not verified.consistent:
        diffs = "; ".join(
            f"{d.subject}: {d.stored} vs {d.recomputed}" for d in verified.differences
        )
        sim.violate("verify_inconsistent", f"wallet {wallet_id}: {diffs}")


async def _verified(sim: Simulation, conn: asyncpg.Connection, ids: list[str]) -> None:
    """VerifyWallet's comparisons, for all `ids` in one query: each grant's remainder and the
    wallet's overage against the allocations of its journal, each entry against its
    allocations, conservation per entry type (granted = consumed + expired + voided + remaining
    - overage), and the holds active at the wallet's time coverable in full (no grant gives
    more than it has left, nothing from a voided grant or one written off before the hold
    times out). A difference is `verify_inconsistent`, named as VerifyWallet names it."""
    rows = await conn.fetch(_VERIFY_SQL, ids, sim.now())
    for r in rows:
        sim.violate(
            "verify_inconsistent",
            f"wallet {r['wallet_id']}: {r['subject']}: {r['stored']} vs {r['recomputed']}"
            " (set-based check)",
        )


_VERIFY_SQL = """
WITH ws AS (
    SELECT w.id, w.overage, w.late_event_grace,
           greatest($2::timestamptz,
                    (SELECT max(e.book_time) FROM entries e WHERE e.wallet_id = w.id)) AS at
    FROM wallets w WHERE w.id = ANY($1)
),
alloc AS (
    SELECT e.wallet_id, a.grant_id, sum(a.amount) AS total
    FROM entries e JOIN allocations a ON a.entry_id = e.id
    WHERE e.wallet_id = ANY($1) GROUP BY e.wallet_id, a.grant_id
),
active AS (
    SELECT h.id AS hold_id, h.wallet_id, h.expire_time, ha.grant_id, -ha.amount AS reserved
    FROM holds h JOIN ws ON ws.id = h.wallet_id
    JOIN hold_allocations ha ON ha.hold_id = h.id
    WHERE h.create_time <= ws.at AND h.expire_time > ws.at
      AND (h.end_time IS NULL OR h.end_time > ws.at)
)
SELECT g.wallet_id, 'grant ' || g.id || ' remaining' AS subject,
       g.remaining AS stored, coalesce(al.total, 0) AS recomputed
FROM grants g LEFT JOIN alloc al ON al.wallet_id = g.wallet_id AND al.grant_id = g.id
WHERE g.wallet_id = ANY($1) AND g.remaining <> coalesce(al.total, 0)
UNION ALL
SELECT ws.id, 'wallet overage', ws.overage, -coalesce(al.total, 0)
FROM ws LEFT JOIN alloc al ON al.wallet_id = ws.id AND al.grant_id IS NULL
WHERE ws.overage <> -coalesce(al.total, 0)
UNION ALL
SELECT e.wallet_id, 'entry ' || e.id || ' amount vs allocations', e.amount, coalesce(s.total, 0)
FROM entries e
LEFT JOIN LATERAL (SELECT sum(a.amount) AS total FROM allocations a WHERE a.entry_id = e.id) s
    ON true
WHERE e.wallet_id = ANY($1) AND e.amount <> coalesce(s.total, 0)
UNION ALL
SELECT c.id, 'conservation: granted vs consumed + expired + voided + remaining - overage',
       c.granted, c.consumed + c.expired + c.voided + c.remaining - c.overage
FROM (
    SELECT ws.id, ws.overage,
           coalesce(sum(e.amount) FILTER (WHERE e.type = 'GRANT'), 0) AS granted,
           -coalesce(sum(e.amount) FILTER (WHERE e.type IN ('DEBIT', 'REFUND', 'CAPTURE')), 0)
               AS consumed,
           -coalesce(sum(e.amount) FILTER (WHERE e.type = 'EXPIRY'), 0) AS expired,
           -coalesce(sum(e.amount) FILTER (WHERE e.type = 'VOID'), 0) AS voided,
           (SELECT coalesce(sum(g.remaining), 0) FROM grants g WHERE g.wallet_id = ws.id)
               AS remaining
    FROM ws LEFT JOIN entries e ON e.wallet_id = ws.id
    GROUP BY ws.id, ws.overage
) c
WHERE c.granted <> c.consumed + c.expired + c.voided + c.remaining - c.overage
UNION ALL
SELECT g.wallet_id, 'grant ' || g.id || ' reserved by active holds', sum(a.reserved),
       CASE WHEN g.void_time IS NOT NULL THEN 0 ELSE g.remaining END
FROM active a JOIN grants g ON g.id = a.grant_id
GROUP BY g.wallet_id, g.id, g.void_time, g.remaining
HAVING sum(a.reserved) > CASE WHEN g.void_time IS NOT NULL THEN 0 ELSE g.remaining END
UNION ALL
SELECT a.wallet_id,
       'hold ' || a.hold_id || ' on grant ' || g.id || ' written off before the hold times out',
       a.reserved, 0
FROM active a JOIN grants g ON g.id = a.grant_id JOIN ws ON ws.id = a.wallet_id
WHERE g.expire_time IS NOT NULL AND g.expire_time + ws.late_event_grace < a.expire_time
"""


async def _acknowledged(sim: Simulation, conn: asyncpg.Connection) -> None:
    """Every acknowledged write is in the journal exactly once (its entries from one transaction,
    its main entry once); every write refused for good left nothing."""
    rows = await conn.fetch(
        "SELECT request_id, type, book_time, related_id FROM entries WHERE wallet_id = ANY($1)"
        " AND request_id = ANY($2)",
        [w.id for w in sim.wallets],
        list(sim.acks),
    )
    by_request: dict[str, list[tuple[str, object, str | None]]] = defaultdict(list)
    for r in rows:
        by_request[r["request_id"]].append((r["type"], r["book_time"], r["related_id"]))
    for request_id, ack in sim.acks.items():
        found = by_request.get(request_id, [])
        if not ack.ok:
            if found:
                sim.violate(
                    "refusal_wrote", f"{ack.method} {request_id} was refused but left {found}"
                )
            continue
        if ack.entry_type is None:
            continue
        if len({t for _, t, _ in found}) > 1:
            sim.violate("write_twice", f"{ack.method} {request_id} booked in two transactions")
        main = [related for kind, _, related in found if kind == ack.entry_type]
        count = len(main)
        # A write first books what is due on the wallet, with its own request_id: the allotment
        # periods (GRANT) and the voids of an ended subscription's grants (VOID). Those concern
        # other grants, so a grant or void is still booked once per grant.
        extra_allowed = ack.entry_type in ("GRANT", "VOID") and len(set(main)) == count
        if count == 0 or (count > 1 and not extra_allowed):
            sim.violate(
                "ack_exactly_once",
                f"{ack.method} {request_id} acknowledged, {count} {ack.entry_type} entries",
            )


def authorize_answer(
    sim: Simulation, w: WalletModel, amount: Decimal, answer: Any, member_id: str = ""
) -> None:
    """What one Authorize answer must say of itself, whatever ran beside it: an allowed hold
    never reserves more than was available when it was placed, with what the top-up rule bought
    first (held + overage = the amount, available after = before + top-up - held, never
    negative); a DENY wallet is never allowed into overage, and its allowed hold holds the whole
    amount (so its capture succeeds and never leaves the wallet negative); only a DENY wallet is
    allowed by a top-up, and a denial buys none; an ALLOW_OVERAGE wallet is never denied; a
    denial says what is missing."""
    before = parse_amount(answer.available_before, "available_before", allow_zero=True)
    after = parse_amount(answer.available_after, "available_after", allow_zero=True)
    overage = parse_amount(answer.overage_amount, "overage_amount", allow_zero=True)
    shortfall = parse_amount(answer.shortfall, "shortfall", allow_zero=True)
    top_up = parse_amount(answer.top_up_amount, "top_up_amount", allow_zero=True)
    covered = amount - overage
    if answer.HasField("hold"):
        covered = parse_amount(answer.hold.amount, "hold.amount", allow_zero=True)
    detail = f"wallet {w.id}: Authorize {amount} answered {answer}"
    with_top_up = answer.reason == pb.AUTHORIZE_REASON_ALLOWED_WITH_TOP_UP
    if with_top_up != (top_up > 0) or (with_top_up and not w.deny):
        sim.violate("authorize_top_up", detail)
    if answer.reason == pb.AUTHORIZE_REASON_MEMBER_BUDGET_EXCEEDED:
        # Only a DENY member past its budget, and it writes nothing.
        if not w.members.get(member_id, False) or answer.allowed or shortfall <= 0:
            sim.violate("authorize_wrong_denial", detail)
        if after != before or answer.HasField("hold"):
            sim.violate("authorize_wrong_denial", detail)
        return
    if not answer.allowed:
        if not w.deny or shortfall <= 0 or after != before or answer.HasField("hold"):
            sim.violate("authorize_wrong_denial", detail)
        return
    funded = before + top_up
    if covered > funded or covered + overage != amount or after != funded - covered or after < 0:
        sim.violate("authorize_over_available", detail)
    if top_up and answer.reason != pb.AUTHORIZE_REASON_ALLOWED_WITH_TOP_UP:
        sim.violate("authorize_over_available", detail)
    if w.deny and overage != 0:
        sim.violate("authorize_deny_overage", detail)
    if w.deny and answer.HasField("hold") and covered != amount:
        sim.violate("authorize_deny_hold_short", detail)
