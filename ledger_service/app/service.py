"""The ledger's use cases. Each write is one database transaction:

  claim request ids -> lock wallets (sorted) -> load live grants -> apply pure domain rules in
  memory -> persist entries, allocations and changed grants -> store the encoded responses.

Deadlocks and serialization failures are retried here, with fresh time, so callers never see
them. Responses are encoded by the caller-supplied function inside the transaction, so a replay
of a request_id returns the original bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from billing_common.errors import BillingError, RequestIdConflict, ResourceExhausted
from ledger_service.app import commands as cmd
from ledger_service.app import operations as ops
from ledger_service.app.core import LedgerCore, LedgerPolicy, Locked
from ledger_service.app.maintenance import Maintenance, VerifyReport
from ledger_service.app.pool_members import PoolMembers
from ledger_service.app.ports import (
    LedgerStore,
    StoredEntry,
    new_id,
)
from ledger_service.app.reads import LedgerReads
from ledger_service.app.reports import LedgerReports
from ledger_service.app.signals import Signals
from ledger_service.app.wallet_automation import WalletAutomation
from ledger_service.domain import automation, pool, tenancy
from ledger_service.domain import holds as hold_rules
from ledger_service.domain.errors import (
    CaptureExceedsHold,
    CustomerNotFound,
    GrantNotFound,
    HoldNotActive,
    HoldNotFound,
    WalletAlreadyExists,
)
from ledger_service.domain.model import (
    EntryType,
    Grant,
    Hold,
    Wallet,
)

# What these use cases can raise, with what their writes raise in the pipeline (`ops.RAISES`):
# tests/unit/test_use_case_errors.py checks it against the code.
RAISES = (
    *ops.RAISES,
    RequestIdConflict,
    ResourceExhausted,
    WalletAlreadyExists,
    HoldNotActive,
    CaptureExceedsHold,
    CustomerNotFound,  # CreateWallet for a customer outside the caller's tenant binding
)

__all__ = ["LedgerApp", "LedgerCore", "LedgerPolicy", "Locked", "VerifyReport"]


class LedgerApp(WalletAutomation, PoolMembers, LedgerReads, LedgerReports, Maintenance, Signals):
    """Every use case of the ledger: wallets, grants, usage and holds here; automation, reads and
    maintenance in their own modules."""

    # -- wallets ----------------------------------------------------------------------------

    async def create_wallet(
        self, c: cmd.CreateWallet, encode: Callable[[Wallet], bytes], caller: cmd.Caller
    ) -> bytes:
        # Before anything is claimed or written: outside the caller's scope the customer is not
        # there.
        if not tenancy.may_see(caller.customers, c.customer_id):
            raise CustomerNotFound(f"customer {c.customer_id!r} does not exist")

        async def work(repo: LedgerStore) -> bytes:
            wallet = Wallet(
                id=new_id(),
                customer_id=c.customer_id,
                unit=c.unit,
                overage_policy=c.overage_policy,
                # Unset means the default; an explicit zero is kept (no grace at all).
                late_event_grace=(
                    self.policy.default_late_event_grace
                    if c.late_event_grace is None
                    else c.late_event_grace
                ),
                create_time=self.clock.now(),
                metadata=c.metadata,
            )
            if not await repo.insert_wallet(wallet, caller.actor):
                raise WalletAlreadyExists(
                    f"customer {c.customer_id!r} already has a {c.unit} wallet"
                )
            await repo.replace_alert_rules(
                wallet.id, automation.default_alert_rules(wallet.id, new_id), caller.actor
            )
            return encode(wallet)

        return await self.once(c.idem, work)

    async def list_wallets(
        self, customer_id: str, after_seq: int, limit: int, customers: tenancy.Customers
    ) -> list[tuple[int, Wallet]]:
        """A page of wallets (of one customer, or of all), only the caller's customers'."""
        if customer_id and not tenancy.may_see(customers, customer_id):
            return []  # as for a customer without wallets
        return await self.read(
            lambda repo: repo.list_wallets(customer_id, after_seq, limit, customers)
        )

    # -- grants -----------------------------------------------------------------------------

    async def create_grant(
        self,
        c: cmd.CreateGrant,
        encode: Callable[[Grant, list[StoredEntry], datetime], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        """`encode` gets the grant (its state after the write), the entries the write booked for
        it (its GRANT entry, then any overage settlement it paid) and the write's time."""
        return await self.submit(ops.CreateGrantOp(c, encode, new_id(), caller))

    async def grant_now(
        self, grant_id: str, customers: tenancy.Customers
    ) -> tuple[Grant, datetime]:
        """A grant and the time its state is to be evaluated at."""
        missing = GrantNotFound(f"grant {grant_id!r} does not exist")

        async def work(repo: LedgerStore) -> tuple[Grant, datetime]:
            found = await repo.get_grant(grant_id)
            if found is None:
                raise missing
            await self._check_owner(repo, found.wallet_id, customers, missing)
            return found, self.clock.now()

        return await self.read(work)

    async def list_grants(
        self, q: cmd.GrantQuery, customers: tenancy.Customers
    ) -> tuple[list[tuple[int, Grant]], datetime]:
        """A page of a wallet's grants and the time their states are evaluated (and filtered)
        at."""

        async def work(repo: LedgerStore) -> tuple[list[tuple[int, Grant]], datetime]:
            await self._visible_wallet(repo, q.wallet_id, customers)
            at = self.clock.now()
            return await repo.list_grants(q.wallet_id, q.state, at, q.after_seq, q.limit), at

        return await self.read(work)

    async def void_grant(
        self,
        c: cmd.VoidGrant,
        encode: Callable[[Grant, StoredEntry, datetime], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        return await self.submit(ops.VoidGrantOp(c, encode, caller))

    # -- usage ------------------------------------------------------------------------------

    async def debit(
        self,
        c: cmd.Debit,
        encode: Callable[[StoredEntry], bytes],
        caller: cmd.Caller,
        customer_id: str = "",
    ) -> bytes:
        """One debit through the write pipeline. `customer_id`, when given, must own the wallet
        (checked under its lock: WALLET_CUSTOMER_MISMATCH otherwise)."""
        return await self.submit(ops.DebitOp(c, encode, caller, customer_id))

    async def debit_batch(
        self,
        debits: Sequence[cmd.Debit],
        encode: Callable[[StoredEntry], bytes],
        caller: cmd.Caller,
    ) -> list[bytes | BillingError]:
        """Book debits in one transaction of their own; each succeeds or fails on its own (a
        debit of a wallet the caller may not see: WALLET_NOT_FOUND, that item alone).
        Returns, per debit in order, the encoded DebitResponse or the error."""
        return await self.apply_group([ops.DebitOp(d, encode, caller) for d in debits])

    async def refund(
        self, c: cmd.Refund, encode: Callable[[list[StoredEntry]], bytes], caller: cmd.Caller
    ) -> bytes:
        return await self.submit(ops.RefundOp(c, encode, caller))

    # -- holds ------------------------------------------------------------------------------

    async def create_hold(
        self,
        c: cmd.CreateHold,
        encode: Callable[[Hold, StoredEntry, datetime], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        """`encode` gets the hold, its entry and the write's time (to show its state at)."""
        return await self.submit(ops.CreateHoldOp(c, encode, new_id(), caller))

    async def capture_hold(
        self,
        c: cmd.CaptureHold,
        encode: Callable[[Hold, StoredEntry, datetime], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        return await self.submit(
            ops.HoldChangeOp(
                c.idem,
                c.hold_id,
                lambda state, now: pool.capture(
                    state,
                    c.hold_id,
                    c.amount,
                    now,
                    lambda s: hold_rules.capture_hold(
                        s, c.hold_id, amount=c.amount, now=now, description=c.description
                    ),
                ),
                EntryType.CAPTURE,
                encode,
                caller,
            )
        )

    async def release_hold(
        self,
        c: cmd.ReleaseHold,
        encode: Callable[[Hold, StoredEntry, datetime], bytes],
        caller: cmd.Caller,
    ) -> bytes:
        return await self.submit(
            ops.HoldChangeOp(
                c.idem,
                c.hold_id,
                lambda state, now: hold_rules.release_hold(
                    state, c.hold_id, now=now, reason=c.reason
                ),
                EntryType.RELEASE,
                encode,
                caller,
            )
        )

    async def authorize_hold(
        self, c: cmd.Authorize, encode: ops.AuthorizeEncoder, caller: cmd.Caller
    ) -> bytes:
        """Authorize with a hold, through the write pipeline like CreateHold: decided and
        placed under the wallet's lock. `encode` gets the decision, the wallet id, the hold and
        its entry (None when denied) and the decision's time."""
        if c.wallet.customer_id and not tenancy.may_see(caller.customers, c.wallet.customer_id):
            raise ops.wallet_missing(c.wallet)
        return await self.submit(ops.AuthorizeOp(c, encode, new_id(), caller))

    async def hold_now(self, hold_id: str, customers: tenancy.Customers) -> tuple[Hold, datetime]:
        """A hold and the time its state is to be evaluated at."""
        missing = HoldNotFound(f"hold {hold_id!r} does not exist")

        async def work(repo: LedgerStore) -> tuple[Hold, datetime]:
            found = await repo.get_hold(hold_id)
            if found is None:
                raise missing
            await self._check_owner(repo, found.wallet_id, customers, missing)
            return found, self.clock.now()

        return await self.read(work)
