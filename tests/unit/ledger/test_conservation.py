"""Stateful property test: random sequences of grants, debits, refunds, voids, expiry sweeps and
clock moves, under both overage policies. After every step the journal must explain the state:

- every entry's amount equals the sum of its allocations;
- each grant's remaining equals the sum of its allocations, and is never negative;
- outstanding overage equals minus the sum of overage allocations (always zero under DENY);
- granted = consumed + expired + voided + remaining - overage;
- every active hold is covered by its grants and can be captured in full.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal, Inexact, localcontext

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from billing_common.errors import BillingError
from ledger_service.domain import expiry as expiry_rules
from ledger_service.domain import holds as hold_rules
from ledger_service.domain import ledger, reports
from ledger_service.domain.balance import project
from ledger_service.domain.errors import GrantHeld
from ledger_service.domain.model import (
    ZERO,
    Entry,
    EntryType,
    GrantKind,
    HoldState,
    OveragePolicy,
)
from ledger_service.domain.reports import Movement
from tests.unit.ledger.factories import T0, grant, state

amounts = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(500), places=6)


class LedgerMachine(RuleBasedStateMachine):
    @initialize(policy=st.sampled_from(list(OveragePolicy)))
    def start(self, policy: OveragePolicy) -> None:
        self.now = T0
        self.state = state(policy=policy)
        self.journal: list[tuple[str, Entry]] = []
        self.debits: list[tuple[str, Entry]] = []
        self.counter = 0

    def _book(self, outcome: ledger.Outcome) -> list[str]:
        self.state = outcome.state
        ids = []
        for e in outcome.entries:
            self.counter += 1
            ids.append(f"e{self.counter}")
            self.journal.append((ids[-1], e))
        return ids

    @rule(
        amount=amounts,
        kind=st.sampled_from(list(GrantKind)),
        priority=st.integers(0, 2),
        starts_in_h=st.integers(-48, 48),
        lasts_h=st.one_of(st.none(), st.integers(1, 240)),
    )
    def add_grant(self, amount, kind, priority, starts_in_h, lasts_h) -> None:
        self.counter += 1
        effective = self.now + timedelta(hours=starts_in_h)
        expire = None if lasts_h is None else effective + timedelta(hours=lasts_h)
        g = grant(
            f"g{self.counter}",
            str(amount),
            kind=kind,
            priority=priority,
            effective=effective,
            expire=expire,
            created=self.now,
        )
        self._book(ledger.grant(self.state, g, now=self.now))

    @rule(amount=amounts, late_min=st.integers(0, 180))
    def debit(self, amount, late_min) -> None:
        try:
            out = ledger.debit(
                self.state,
                amount=amount,
                occurred_time=self.now - timedelta(minutes=late_min),
                now=self.now,
            )
        except BillingError:
            return
        ids = self._book(out)
        self.debits.append((ids[0], out.entries[0]))

    @precondition(lambda self: bool(self.debits))
    @rule(data=st.data(), fraction=st.sampled_from([None, Decimal("0.5"), Decimal("0.1")]))
    def refund(self, data, fraction) -> None:
        debit_id, debit_entry = data.draw(st.sampled_from(self.debits))
        refunds = [
            e.allocations
            for _, e in self.journal
            if e.type is EntryType.REFUND and e.related_id == debit_id
        ]
        record = ledger.DebitRecord(debit_id, ledger.refundable(debit_entry.allocations, refunds))
        if record.refundable == 0:
            return
        amount = None
        if fraction is not None:
            with localcontext() as ctx:  # the test rounds on purpose; money code never does
                ctx.traps[Inexact] = False
                amount = (record.refundable * fraction).quantize(Decimal("0.000001"), ROUND_DOWN)
        if amount == 0:
            return
        self._book(ledger.refund(self.state, record, amount=amount, now=self.now))

    @precondition(
        lambda self: any(
            g.remaining > 0 and g.void_time is None for g in self.state.grants.values()
        )
    )
    @rule(data=st.data())
    def void(self, data) -> None:
        live = sorted(
            g.id for g in self.state.grants.values() if g.remaining > 0 and g.void_time is None
        )
        # Voiding a grant that backs active holds is refused and changes nothing.
        with contextlib.suppress(GrantHeld):
            self._book(ledger.void(self.state, data.draw(st.sampled_from(live)), now=self.now))

    @rule(amount=amounts, minutes=st.integers(1, 600))
    def hold(self, amount, minutes) -> None:
        self.counter += 1
        expire = self.now + timedelta(minutes=minutes)
        try:
            out = hold_rules.create_hold(
                self.state,
                hold_id=f"h{self.counter}",
                amount=amount,
                expire_time=expire,
                now=self.now,
            )
        except BillingError:
            return
        self._book(out)

    @precondition(lambda self: any(h.state is HoldState.ACTIVE for h in self.state.holds.values()))
    @rule(
        data=st.data(), factor=st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(1), Decimal(2)])
    )
    def capture_or_release(self, data, factor) -> None:
        active = sorted(h.id for h in self.state.holds.values() if h.state is HoldState.ACTIVE)
        hold = self.state.holds[data.draw(st.sampled_from(active))]
        try:
            if factor == 0:
                out = hold_rules.release_hold(self.state, hold.id, now=self.now)
            else:
                out = hold_rules.capture_hold(
                    self.state, hold.id, amount=hold.amount * factor, now=self.now
                )
        except BillingError:
            return
        ids = self._book(out)
        if factor:
            self.debits.append((ids[0], out.entries[0]))

    @rule(hours=st.integers(1, 72))
    def advance(self, hours) -> None:
        self.now += timedelta(hours=hours)

    @rule()
    def sweep(self) -> None:
        self._book(expiry_rules.expire_due(self.state, self.now))

    @invariant()
    def journal_explains_state(self) -> None:
        per_grant: dict[str | None, Decimal] = {}
        by_type: dict[EntryType, Decimal] = {}
        for _, e in self.journal:
            assert e.amount == sum((a.amount for a in e.allocations), ZERO)
            by_type[e.type] = by_type.get(e.type, ZERO) + e.amount
            for a in e.allocations:
                per_grant[a.grant_id] = per_grant.get(a.grant_id, ZERO) + a.amount
        for g in self.state.grants.values():
            assert g.remaining >= 0
            assert g.remaining == per_grant.get(g.id, ZERO)
        assert self.state.overage == -per_grant.get(None, ZERO)
        if self.state.wallet.overage_policy is OveragePolicy.DENY:
            assert self.state.overage == 0
        granted = by_type.get(EntryType.GRANT, ZERO)
        consumed = -(
            by_type.get(EntryType.DEBIT, ZERO)
            + by_type.get(EntryType.REFUND, ZERO)
            + by_type.get(EntryType.CAPTURE, ZERO)
        )
        expired = -by_type.get(EntryType.EXPIRY, ZERO)
        voided = -by_type.get(EntryType.VOID, ZERO)
        remaining = sum((g.remaining for g in self.state.grants.values()), ZERO)
        assert granted == consumed + expired + voided + remaining - self.state.overage

    @invariant()
    def the_reports_agree_with_the_journal(self) -> None:
        # Consumption sums to debits, captures and refunds; the unused prepaid credits of the
        # revenue report are what the prepaid grants hold (domain/reports.py).
        kinds = {g.id: g.kind for g in self.state.grants.values()}
        moves = [
            Movement("w", e.occurred_time, e.type, kinds.get(a.grant_id or ""), a.amount)
            for _, e in self.journal
            for a in e.allocations
        ]
        if not moves:
            return
        start = min(m.time for m in moves)
        end = max(m.time for m in moves) + timedelta(seconds=1)
        usage = (EntryType.DEBIT, EntryType.CAPTURE, EntryType.REFUND)
        consumed = -sum((e.amount for _, e in self.journal if e.type in usage), ZERO)
        report = reports.consumption_report(moves, start, end, reports.Bucket.MONTH)
        assert report.total.total == consumed
        periods = reports.revenue_report(
            [], [(m, "CREDITS") for m in moves], start, end, reports.Bucket.MONTH
        )
        unused = periods[-1].figures[("", "CREDITS")].prepaid_unused
        assert unused == sum(
            (g.remaining for g in self.state.grants.values() if g.kind is GrantKind.PREPAID), ZERO
        )

    @invariant()
    def balance_is_consistent(self) -> None:
        view = project(self.state, self.now)
        assert view.available >= 0
        assert view.available == view.prepaid_available + view.promotional_available
        assert view.net == view.available - view.overage

    @invariant()
    def every_active_hold_can_be_captured_in_full(self) -> None:
        # A hold is a guarantee: its grants still hold what it reserves, and capturing the held
        # amount succeeds, whatever was booked since (expiry sweeps and clock moves included).
        assert hold_rules.uncovered_holds(self.state, self.now) == []
        for hold in self.state.holds.values():
            if hold.active_at(self.now):
                out = hold_rules.capture_hold(self.state, hold.id, amount=hold.amount, now=self.now)
                assert out.entries[0].amount == -hold.amount


LedgerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestLedgerConservation = LedgerMachine.TestCase
