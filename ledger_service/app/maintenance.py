"""Maintenance: the expiry sweep and the verification of a wallet against its journal."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import structlog

from ledger_service.app import booked as booked_metrics
from ledger_service.app.commands import SYSTEM
from ledger_service.app.core import LedgerCore
from ledger_service.app.ports import (
    LedgerStore,
    StoredEntry,
    new_id,
)
from ledger_service.domain import allotments, automation, ledger, tenancy
from ledger_service.domain import expiry as expiry_rules
from ledger_service.domain import holds as hold_rules
from ledger_service.domain.errors import (
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
    HoldNotActive,
    ScheduleNotFound,
    WalletNotFound,
)
from ledger_service.domain.model import (
    ZERO,
    EntryType,
    WalletEvent,
    WalletState,
)

# What these use cases can raise (tests/unit/test_use_case_errors.py checks it against the code).
RAISES = (
    WalletNotFound,
    HoldNotActive,
    ScheduleNotFound,
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
)

log = structlog.get_logger(__name__)

EXPIRY_WALLETS_PER_TRANSACTION = 100
EXPIRY_ROUNDS_MAX = 1000


@dataclass(frozen=True, slots=True)
class VerifyReport:
    consistent: bool
    differences: list[tuple[str, Decimal, Decimal]]
    granted: Decimal
    consumed: Decimal
    expired: Decimal
    voided: Decimal
    remaining: Decimal
    overage: Decimal


class Maintenance(LedgerCore):
    # -- expiry and verification ------------------------------------------------------------

    async def run_expiry(
        self, wallet_id: str = "", customers: tenancy.Customers = None
    ) -> list[StoredEntry]:
        """Book due write-offs and overage settlements, a bounded number of wallets per
        transaction, until none is due. The entries are the system's (time did it, whoever asked
        for the sweep); a caller bound to some customers is shown only their wallets' entries."""
        if wallet_id:
            await self.get_wallet(wallet_id, customers)
        booked: list[StoredEntry] = []
        for _ in range(EXPIRY_ROUNDS_MAX):

            async def work(repo: LedgerStore) -> list[StoredEntry]:
                # Which wallets look due is a guess made before locking; what is booked is
                # decided at the time taken under their locks.
                due = await repo.wallets_due(
                    self.clock.now(), wallet_id, EXPIRY_WALLETS_PER_TRANSACTION
                )
                states, now = await repo.lock_states(due, self._time_under_lock)
                done: list[StoredEntry] = []
                after: dict[str, WalletState] = {}
                events: list[tuple[str, str, WalletEvent]] = []
                for wid, state in states.items():
                    caught_up = allotments.catch_up(state, now, new_id)
                    swept = caught_up.then(expiry_rules.expire_due(caught_up.state, now))
                    outcome = automation.then_automate(swept, now, new_id)
                    after[wid] = outcome.state
                    book = ledger.write_time(now, [state.book_time])
                    done += [
                        StoredEntry(new_id(), wid, book, "", e, SYSTEM.actor)
                        for e in outcome.entries
                    ]
                    events += [(new_id(), wid, e) for e in outcome.events]
                booked_metrics.observe([s.entry for s in done], [e for _, _, e in events])
                await repo.save(
                    states,
                    after,
                    [(s.id, s.wallet_id, "", s.actor, s.entry) for s in done],
                    now,
                    events,
                )
                return done

            round_entries = await self.write(work)
            if not round_entries:
                break
            booked += round_entries
        if customers is None:
            return booked
        owners = await self.read(lambda repo: repo.wallet_owners(s.wallet_id for s in booked))
        return [s for s in booked if tenancy.may_see(customers, owners[s.wallet_id])]

    async def verify_wallet(
        self, wallet_id: str, customers: tenancy.Customers = None
    ) -> VerifyReport:
        async def work(repo: LedgerStore) -> VerifyReport:
            _, stored_overage = await self._visible_wallet(repo, wallet_id, customers)
            t = await repo.journal_totals(wallet_id)
            diffs: list[tuple[str, Decimal, Decimal]] = []
            for grant_id, stored in sorted(t["stored_grants"].items()):
                recomputed = t["per_grant"].get(grant_id, ZERO)
                if stored != recomputed:
                    diffs.append((f"grant {grant_id} remaining", stored, recomputed))
            overage = -t["per_grant"].get(None, ZERO)
            if overage != stored_overage:
                diffs.append(("wallet overage", stored_overage, overage))
            for entry_id, amount, alloc_total in t["unbalanced"]:
                diffs.append((f"entry {entry_id} amount vs allocations", amount, alloc_total))
            # Every active hold must be capturable in full: its grants still hold what it
            # reserves (reserved vs covered).
            state = await repo.state_at(wallet_id, None)
            assert state is not None, "the wallet was found above"
            held_grants = [a.grant_id for h in state.holds.values() for a in h.allocations]
            state = await repo.add_grants(state, [g for g in held_grants if g is not None])
            diffs += hold_rules.uncovered_holds(state, self.clock.now())
            by_type = t["by_type"]

            def total(kind: EntryType) -> Decimal:
                return Decimal(by_type.get(kind.value, ZERO))

            granted = total(EntryType.GRANT)
            consumed = -(
                total(EntryType.DEBIT) + total(EntryType.REFUND) + total(EntryType.CAPTURE)
            )
            expired = -total(EntryType.EXPIRY)
            voided = -total(EntryType.VOID)
            remaining = sum(t["stored_grants"].values(), ZERO)
            if granted != consumed + expired + voided + remaining - stored_overage:
                diffs.append(
                    (
                        "conservation: granted vs consumed + expired + voided + remaining"
                        " - overage",
                        granted,
                        consumed + expired + voided + remaining - stored_overage,
                    )
                )
            return VerifyReport(
                consistent=not diffs,
                differences=diffs,
                granted=granted,
                consumed=consumed,
                expired=expired,
                voided=voided,
                remaining=remaining,
                overage=stored_overage,
            )

        return await self.read(work)
