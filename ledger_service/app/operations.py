"""The writes that share transactions: each is one caller's request, applied to a locked wallet.

The write pipeline (`pipeline.py`) gathers operations of any wallets into one transaction
(`LedgerApp.apply_group`): claim every request id, find each operation's wallet, lock the wallets
in id order, take the time, then apply the operations in arrival order, each to the state the
previous ones left. An operation is three small steps around a pure domain function:

- `locate`: its wallet (a hold's, an entry's or a grant's wallet is read first; `named_wallet`
  when the command names it, so the group can claim and lock in one step);
- `missing`: the error of its target not existing, which is also the answer when the wallet
  belongs to a customer its caller may not see (`domain/tenancy.py`, checked under the lock);
- `load`: rows it needs beyond the locked state (ended grants a refund touches, a hold that has
  ended), read under the lock;
- `apply`: the domain rule, at the transaction's time; a `BillingError` refuses this operation
  alone (nothing of it is written and its request id is released);
- `encode`: its response from the state after it and its own entries, encoded once and stored
  with its request id.

`conflict_key`: two operations whose `load` reads rows the other writes (two refunds of one
debit) never share a transaction; the later one waits for the next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from billing_common.errors import BillingError, InvalidArgument, Violation
from ledger_service.app import commands as cmd
from ledger_service.app.ports import LedgerStore, StoredEntry, new_id
from ledger_service.domain import authorize as authorize_rules
from ledger_service.domain import automation, ledger, pool
from ledger_service.domain import holds as hold_rules
from ledger_service.domain.errors import (
    EntryNotFound,
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
    GrantNotFound,
    HoldNotFound,
    InsufficientCredits,
    MemberBudgetExceeded,
    MemberNotFound,
    NotADebit,
    RefundExceedsDebit,
    ScheduleNotFound,
    WalletCustomerMismatch,
    WalletNotFound,
)
from ledger_service.domain.model import Allocation, EntryType, Grant, Hold, WalletState

# What the write operations can raise (tests/unit/test_use_case_errors.py checks it).
RAISES = (
    InvalidArgument,
    WalletCustomerMismatch,
    GrantNotFound,
    HoldNotFound,
    EntryNotFound,
    NotADebit,
    InsufficientCredits,
    MemberBudgetExceeded,
    MemberNotFound,
    RefundExceedsDebit,
    ScheduleNotFound,
    GrantAlreadyEnded,
    GrantAlreadyVoided,
    GrantHeld,
    WalletNotFound,  # `missing`: also another tenant's wallet (domain/tenancy.py)
)

# A change to a locked wallet's state, applied alike to the state as loaded and as current.
Change = Callable[[WalletState], WalletState]


class Operation(Protocol):
    @property
    def idem(self) -> cmd.Idem: ...

    @property
    def conflict_key(self) -> str | None: ...

    @property
    def caller(self) -> cmd.Caller: ...

    def missing(self) -> BillingError: ...

    @property
    def named_wallet(self) -> str | None: ...

    async def locate(self, store: LedgerStore) -> str: ...

    async def check_replay(self, store: LedgerStore) -> None: ...

    async def load(self, store: LedgerStore, state: WalletState) -> Change | None: ...

    def members(self, state: WalletState) -> tuple[str, ...]: ...

    @property
    def members_required(self) -> bool: ...

    def apply(self, state: WalletState, now: datetime) -> ledger.Outcome: ...

    def encode(
        self, state: WalletState, entries: Sequence[StoredEntry], now: datetime
    ) -> bytes: ...


class _Defaults:
    """What most operations do: share a transaction with anything, check nothing more on a
    replay, need nothing beyond the locked state."""

    @property
    def conflict_key(self) -> str | None:
        return None

    @property
    def named_wallet(self) -> str | None:
        """The wallet, when the command names it (no read needed to locate it)."""
        return None

    async def check_replay(self, store: LedgerStore) -> None:
        """Checks a replay of a stored request still has to pass (a BillingError refuses it)."""

    async def load(self, store: LedgerStore, state: WalletState) -> Change | None:
        return None

    def members(self, state: WalletState) -> tuple[str, ...]:
        """The pool members whose budget the operation checks (loaded under the lock, after
        `load`, into `state.members`: group.py)."""
        return ()

    @property
    def members_required(self) -> bool:
        """A member it names must exist (MEMBER_NOT_FOUND otherwise). Not for a capture or a
        refund of what a removed member left behind: those go on, against no budget."""
        return True


class _WalletCommand(Protocol):
    """A command with `idem` and `wallet_id`."""

    @property
    def idem(self) -> cmd.Idem: ...

    @property
    def wallet_id(self) -> str: ...


class _Direct(_Defaults):
    """An operation whose command names its wallet."""

    command: _WalletCommand

    @property
    def idem(self) -> cmd.Idem:
        return self.command.idem

    @property
    def wallet_id(self) -> str:
        return self.command.wallet_id

    @property
    def named_wallet(self) -> str | None:
        return self.command.wallet_id

    async def locate(self, store: LedgerStore) -> str:
        return self.wallet_id

    def missing(self) -> BillingError:
        return WalletNotFound(f"wallet {self.wallet_id!r} does not exist")


@dataclass(frozen=True, slots=True)
class DebitOp(_Direct):
    command: cmd.Debit
    encoder: Callable[[StoredEntry], bytes]
    caller: cmd.Caller
    # The customer the caller says owns the wallet ("" when it does not say).
    customer_id: str = ""
    # Where the customer_id came from, for the violation ("customer_id", "debits[3].customer_id").
    customer_field: str = "customer_id"

    def _check_owner(self, owner: str) -> None:
        if self.customer_id and owner != self.customer_id:
            raise WalletCustomerMismatch(
                f"wallet {self.wallet_id!r} does not belong to customer {self.customer_id!r}",
                violations=[Violation(self.customer_field, "does not own the wallet")],
            )

    async def check_replay(self, store: LedgerStore) -> None:
        # Stating the customer is a check, not part of the debit: a replay must pass it too.
        if self.customer_id:
            owners = await store.wallet_owners([self.wallet_id])
            self._check_owner(owners.get(self.wallet_id, self.customer_id))

    def members(self, state: WalletState) -> tuple[str, ...]:
        return (self.command.member_id,) if self.command.member_id else ()

    def apply(self, state: WalletState, now: datetime) -> ledger.Outcome:
        self._check_owner(state.wallet.customer_id)
        d = self.command
        return pool.debit(
            state,
            d.member_id,
            d.amount,
            now,
            lambda s: automation.debit_with_cover(
                s,
                now,
                new_id,
                amount=d.amount,
                occurred_time=d.occurred_time or now,  # the adapter bounded it
                feature=d.feature,
                description=d.description,
                source_event_id=d.source_event_id,
                metadata=d.metadata,
            ),
        )

    def encode(self, state: WalletState, entries: Sequence[StoredEntry], now: datetime) -> bytes:
        (debit,) = [s for s in entries if s.entry.type is EntryType.DEBIT]
        return self.encoder(debit)


@dataclass(frozen=True, slots=True)
class CreateGrantOp(_Direct):
    command: cmd.CreateGrant
    encoder: Callable[[Grant, list[StoredEntry], datetime], bytes]
    grant_id: str
    caller: cmd.Caller

    def apply(self, state: WalletState, now: datetime) -> ledger.Outcome:
        c = self.command
        effective = c.effective_time or now
        if c.expire_time is not None and c.expire_time <= effective:
            raise InvalidArgument.field(
                "expire_time", "must be after effective_time", "INVALID_TIME_RANGE"
            )
        new_grant = Grant(
            id=self.grant_id,
            wallet_id=c.wallet_id,
            kind=c.kind,
            amount=c.amount,
            remaining=c.amount,
            priority=c.priority,
            effective_time=effective,
            expire_time=c.expire_time,
            create_time=now,
            cost_unit_price=c.cost_unit_price,
            cost_currency=c.cost_currency,
            external_reference=c.external_reference,
            metadata=c.metadata,
            features=c.features,
        )
        return ledger.grant(state, new_grant, now=now, description=c.description)

    def encode(self, state: WalletState, entries: Sequence[StoredEntry], now: datetime) -> bytes:
        return self.encoder(state.grants[self.grant_id], list(entries), now)


@dataclass(frozen=True, slots=True)
class VoidGrantOp(_Defaults):
    command: cmd.VoidGrant
    encoder: Callable[[Grant, StoredEntry, datetime], bytes]
    caller: cmd.Caller

    @property
    def idem(self) -> cmd.Idem:
        return self.command.idem

    def missing(self) -> BillingError:
        return GrantNotFound(f"grant {self.command.grant_id!r} does not exist")

    async def locate(self, store: LedgerStore) -> str:
        target = await store.get_grant(self.command.grant_id)
        if target is None:
            raise self.missing()
        return target.wallet_id

    async def load(self, store: LedgerStore, state: WalletState) -> Change | None:
        return await _with_grants(store, state, [self.command.grant_id])

    def apply(self, state: WalletState, now: datetime) -> ledger.Outcome:
        return ledger.void(state, self.command.grant_id, now=now, reason=self.command.reason)

    def encode(self, state: WalletState, entries: Sequence[StoredEntry], now: datetime) -> bytes:
        return self.encoder(state.grants[self.command.grant_id], entries[0], now)


@dataclass(slots=True)
class RefundOp(_Defaults):
    command: cmd.Refund
    encoder: Callable[[list[StoredEntry]], bytes]
    caller: cmd.Caller
    # The debit's allocations (read by `locate`) and, under the lock, what is still refundable.
    _debit: Sequence[Allocation] = ()
    _record: ledger.DebitRecord | None = None
    _member_id: str = ""  # the debit's pool member
    _debit_booked: datetime | None = None

    @property
    def idem(self) -> cmd.Idem:
        return self.command.idem

    def missing(self) -> BillingError:
        return EntryNotFound(f"entry {self.command.entry_id!r} does not exist")

    @property
    def conflict_key(self) -> str | None:
        # Its refundable part is read from the refunds stored before this transaction.
        return "refund:" + self.command.entry_id

    def members(self, state: WalletState) -> tuple[str, ...]:
        return (self._member_id,) if self._member_id else ()

    @property
    def members_required(self) -> bool:
        return False

    async def locate(self, store: LedgerStore) -> str:
        original = await store.get_entry(self.command.entry_id)
        if original is None:
            raise self.missing()
        if original.entry.type not in (EntryType.DEBIT, EntryType.CAPTURE):
            raise NotADebit.field(
                "entry_id",
                f"is a {original.entry.type.value} entry, not a DEBIT",
                "ENTRY_NOT_A_DEBIT",
            )
        self._debit = original.entry.allocations
        self._member_id = original.entry.member_id
        self._debit_booked = original.book_time
        return original.wallet_id

    async def load(self, store: LedgerStore, state: WalletState) -> Change | None:
        # Earlier refunds are read under the wallet's lock: one committed while this call waited
        # for it counts.
        net = ledger.refundable(self._debit, await store.refunds_of(self.command.entry_id))
        self._record = ledger.DebitRecord(self.command.entry_id, net)
        return await _with_grants(store, state, [a.grant_id for a in net if a.grant_id])

    def apply(self, state: WalletState, now: datetime) -> ledger.Outcome:
        assert self._record is not None, "located first"
        c = self.command
        record = self._record
        assert self._debit_booked is not None, "located first"
        return pool.refund(
            state,
            self._member_id,
            self._debit_booked,
            lambda s: ledger.refund(s, record, amount=c.amount, now=now, description=c.description),
        )

    def encode(self, state: WalletState, entries: Sequence[StoredEntry], now: datetime) -> bytes:
        return self.encoder(list(entries))


HoldEncoder = Callable[[Hold, StoredEntry, datetime], bytes]


@dataclass(frozen=True, slots=True)
class CreateHoldOp(_Direct):
    command: cmd.CreateHold
    encoder: HoldEncoder
    hold_id: str
    caller: cmd.Caller

    def members(self, state: WalletState) -> tuple[str, ...]:
        return (self.command.member_id,) if self.command.member_id else ()

    def apply(self, state: WalletState, now: datetime) -> ledger.Outcome:
        c = self.command
        return pool.hold(
            state,
            c.member_id,
            self.hold_id,
            c.amount,
            now,
            lambda s: hold_rules.create_hold(
                s,
                hold_id=self.hold_id,
                amount=c.amount,
                expire_time=now + c.timeout,
                now=now,
                feature=c.feature,
                description=c.description,
            ),
        )

    def encode(self, state: WalletState, entries: Sequence[StoredEntry], now: datetime) -> bytes:
        (entry,) = [s for s in entries if s.entry.type is EntryType.HOLD]
        return self.encoder(state.holds[self.hold_id], entry, now)


AuthorizeEncoder = Callable[
    [authorize_rules.Decision, str, Hold | None, StoredEntry | None, datetime], bytes
]


@dataclass(slots=True)
class AuthorizeOp(_Defaults):
    """Authorize with a hold: decided and placed under the wallet's lock, like CreateHold, so
    concurrent holds and debits are serialised with it. A denial writes nothing (group.py)."""

    command: cmd.Authorize
    encoder: AuthorizeEncoder
    hold_id: str
    caller: cmd.Caller
    _decision: authorize_rules.Decision | None = None

    @property
    def idem(self) -> cmd.Idem:
        return self.command.idem

    @property
    def named_wallet(self) -> str | None:
        return self.command.wallet.wallet_id or None

    def missing(self) -> BillingError:
        return wallet_missing(self.command.wallet)

    async def locate(self, store: LedgerStore) -> str:
        ref = self.command.wallet
        if ref.wallet_id:
            return ref.wallet_id
        found = await store.state_now_of(ref.customer_id, ref.unit)
        if found is None:
            raise self.missing()
        return found.wallet.id

    def members(self, state: WalletState) -> tuple[str, ...]:
        return (self.command.member_id,) if self.command.member_id else ()

    def apply(self, state: WalletState, now: datetime) -> ledger.Outcome:
        c = self.command
        self._decision, outcome = authorize_rules.authorize_hold(
            state,
            hold_id=self.hold_id,
            amount=c.amount,
            expire_time=now + c.timeout,
            now=now,
            feature=c.feature,
            description=c.description,
            new_id=new_id,
            member_id=c.member_id,
        )
        return outcome

    def encode(self, state: WalletState, entries: Sequence[StoredEntry], now: datetime) -> bytes:
        assert self._decision is not None, "applied first"
        held = [s for s in entries if s.entry.type is EntryType.HOLD]
        placed = state.holds[self.hold_id] if held else None
        return self.encoder(self._decision, state.wallet.id, placed, held[0] if held else None, now)


def wallet_missing(ref: cmd.WalletRef) -> WalletNotFound:
    """The error of a wallet that is not there (or that the caller may not see)."""
    if ref.wallet_id:
        return WalletNotFound(f"wallet {ref.wallet_id!r} does not exist")
    return WalletNotFound(f"customer {ref.customer_id!r} has no {ref.unit} wallet")


@dataclass(frozen=True, slots=True)
class HoldChangeOp(_Defaults):
    """Capture or release: `change` is the domain rule for the hold."""

    idem: cmd.Idem
    hold_id: str
    change: Callable[[WalletState, datetime], ledger.Outcome]
    entry_type: EntryType
    encoder: HoldEncoder
    caller: cmd.Caller

    def missing(self) -> BillingError:
        return HoldNotFound(f"hold {self.hold_id!r} does not exist")

    async def locate(self, store: LedgerStore) -> str:
        found = await store.get_hold(self.hold_id)
        if found is None:
            raise self.missing()
        return found.wallet_id

    async def load(self, store: LedgerStore, state: WalletState) -> Change | None:
        if self.hold_id in state.holds:
            return None
        # Not active under the lock: it may have ended while this call waited, so what was read
        # before the lock is stale. Read it again (the domain then refuses it as not active), or
        # a capture that waited would end the hold a second time.
        current = await store.get_hold(self.hold_id)
        assert current is not None, "holds are never deleted"
        return lambda s: replace(s, holds={**s.holds, self.hold_id: current})

    def members(self, state: WalletState) -> tuple[str, ...]:
        found = state.holds.get(self.hold_id)
        return (found.member_id,) if found is not None and found.member_id else ()

    @property
    def members_required(self) -> bool:
        return False

    def apply(self, state: WalletState, now: datetime) -> ledger.Outcome:
        return self.change(state, now)

    def encode(self, state: WalletState, entries: Sequence[StoredEntry], now: datetime) -> bytes:
        (entry,) = [s for s in entries if s.entry.type is self.entry_type]
        return self.encoder(state.holds[self.hold_id], entry, now)


async def _with_grants(
    store: LedgerStore, state: WalletState, grant_ids: Sequence[str]
) -> Change | None:
    """Ended grants an operation touches, loaded into the locked wallet's state."""
    loaded = await store.add_grants(state, grant_ids)
    if loaded is state:
        return None
    extra = {g: loaded.grants[g] for g in loaded.grants if g not in state.grants}
    return lambda s: replace(s, grants={**extra, **s.grants})
