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
from ledger_service.app.ports import (
    LedgerStore,
    StoredEntry,
    new_id,
)
from ledger_service.app.reads import LedgerReads
from ledger_service.app.wallet_automation import WalletAutomation
from ledger_service.domain import automation
from ledger_service.domain import holds as hold_rules
from ledger_service.domain.errors import (
    CaptureExceedsHold,
    GrantNotFound,
    HoldNotActive,
    HoldNotFound,
    WalletAlreadyExists,
    WalletNotFound,
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
    WalletNotFound,
    HoldNotActive,
    CaptureExceedsHold,
)

__all__ = ["LedgerApp", "LedgerCore", "LedgerPolicy", "Locked", "VerifyReport"]


class LedgerApp(WalletAutomation, LedgerReads, Maintenance):
    """Every use case of the ledger: wallets, grants, usage and holds here; automation, reads and
    maintenance in their own modules."""

    # -- wallets ----------------------------------------------------------------------------

    async def create_wallet(self, c: cmd.CreateWallet, encode: Callable[[Wallet], bytes]) -> bytes:
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
            if not await repo.insert_wallet(wallet):
                raise WalletAlreadyExists(
                    f"customer {c.customer_id!r} already has a {c.unit} wallet"
                )
            await repo.replace_alert_rules(
                wallet.id, automation.default_alert_rules(wallet.id, new_id)
            )
            return encode(wallet)

        return await self.once(c.idem, work)

    async def list_wallets(
        self, customer_id: str, after_seq: int, limit: int
    ) -> list[tuple[int, Wallet]]:
        return await self.read(lambda repo: repo.list_wallets(customer_id, after_seq, limit))

    # -- grants -----------------------------------------------------------------------------

    async def create_grant(
        self, c: cmd.CreateGrant, encode: Callable[[Grant, list[StoredEntry], datetime], bytes]
    ) -> bytes:
        """`encode` gets the grant (its state after the write), the entries the write booked for
        it (its GRANT entry, then any overage settlement it paid) and the write's time."""
        return await self.submit(ops.CreateGrantOp(c, encode, new_id()))

    async def get_grant(self, grant_id: str) -> Grant:
        grant, _ = await self.grant_now(grant_id)
        return grant

    async def grant_now(self, grant_id: str) -> tuple[Grant, datetime]:
        """A grant and the time its state is to be evaluated at."""

        async def work(repo: LedgerStore) -> tuple[Grant | None, datetime | None]:
            found = await repo.get_grant(grant_id)
            if found is None:
                return None, None
            return found, self.clock.now()

        grant, at = await self.read(work)
        if grant is None or at is None:
            raise GrantNotFound(f"grant {grant_id!r} does not exist")
        return grant, at

    async def list_grants(self, q: cmd.GrantQuery) -> tuple[list[tuple[int, Grant]], datetime]:
        """A page of a wallet's grants and the time their states are evaluated (and filtered)
        at."""

        async def work(repo: LedgerStore) -> tuple[list[tuple[int, Grant]], datetime]:
            if await repo.get_wallet(q.wallet_id) is None:
                raise WalletNotFound(f"wallet {q.wallet_id!r} does not exist")
            at = self.clock.now()
            return await repo.list_grants(q.wallet_id, q.state, at, q.after_seq, q.limit), at

        return await self.read(work)

    async def void_grant(
        self, c: cmd.VoidGrant, encode: Callable[[Grant, StoredEntry, datetime], bytes]
    ) -> bytes:
        return await self.submit(ops.VoidGrantOp(c, encode))

    # -- usage ------------------------------------------------------------------------------

    async def debit(
        self, c: cmd.Debit, encode: Callable[[StoredEntry], bytes], customer_id: str = ""
    ) -> bytes:
        """One debit through the write pipeline. `customer_id`, when given, must own the wallet
        (checked under its lock: WALLET_CUSTOMER_MISMATCH otherwise)."""
        return await self.submit(ops.DebitOp(c, encode, customer_id))

    async def debit_batch(
        self, debits: Sequence[cmd.Debit], encode: Callable[[StoredEntry], bytes]
    ) -> list[bytes | BillingError]:
        """Book debits in one transaction of their own; each succeeds or fails on its own.
        Returns, per debit in order, the encoded DebitResponse or the error."""
        return await self.apply_group([ops.DebitOp(d, encode) for d in debits])

    async def refund(self, c: cmd.Refund, encode: Callable[[list[StoredEntry]], bytes]) -> bytes:
        return await self.submit(ops.RefundOp(c, encode))

    # -- holds ------------------------------------------------------------------------------

    async def create_hold(
        self, c: cmd.CreateHold, encode: Callable[[Hold, StoredEntry, datetime], bytes]
    ) -> bytes:
        """`encode` gets the hold, its entry and the write's time (to show its state at)."""
        return await self.submit(ops.CreateHoldOp(c, encode, new_id()))

    async def capture_hold(
        self, c: cmd.CaptureHold, encode: Callable[[Hold, StoredEntry, datetime], bytes]
    ) -> bytes:
        return await self.submit(
            ops.HoldChangeOp(
                c.idem,
                c.hold_id,
                lambda state, now: hold_rules.capture_hold(
                    state, c.hold_id, amount=c.amount, now=now, description=c.description
                ),
                EntryType.CAPTURE,
                encode,
            )
        )

    async def release_hold(
        self, c: cmd.ReleaseHold, encode: Callable[[Hold, StoredEntry, datetime], bytes]
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
            )
        )

    async def get_hold(self, hold_id: str) -> Hold:
        hold, _ = await self.hold_now(hold_id)
        return hold

    async def hold_now(self, hold_id: str) -> tuple[Hold, datetime]:
        """A hold and the time its state is to be evaluated at."""

        async def work(repo: LedgerStore) -> tuple[Hold | None, datetime | None]:
            found = await repo.get_hold(hold_id)
            if found is None:
                return None, None
            return found, self.clock.now()

        hold, at = await self.read(work)
        if hold is None or at is None:
            raise HoldNotFound(f"hold {hold_id!r} does not exist")
        return hold, at
