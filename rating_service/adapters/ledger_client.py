"""The ledger over its own gRPC contract (generated stubs; never its database).

Foreign errors become ours here, at one boundary: the ledger's gRPC code becomes a
`LedgerRefusal` (`refusal_of`, the one table of what each code means for a charge). A call that
failed for a transient reason (unreachable, deadline, UNAVAILABLE, ...: RETRY_LATER) is
LedgerUnavailable and is retried by the caller; any other answer, per item or of the whole call
about one item, is a `Refused` with that meaning and the ledger's ErrorInfo reason. A whole
DebitBatch of several debits refused for a reason that is not transient is BatchRefused (the
caller splits the batch).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import grpc
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.ledger.v1 import ledger_pb2_grpc
from google.rpc import error_details_pb2, status_pb2

from billing_common.client_auth import KeyFromFile, bearer_interceptors
from billing_common.money import format_amount
from billing_common.protoconv import timestamp
from rating_service import limits
from rating_service.app.ports import (
    BatchRefused,
    Booked,
    DebitItem,
    LedgerAllocation,
    LedgerRefusal,
    LedgerUnavailable,
    Refused,
    TopUpView,
    WalletView,
)
from rating_service.domain.status import GrantKind

_KINDS = {
    lpb.GRANT_KIND_PREPAID: GrantKind.PREPAID,
    lpb.GRANT_KIND_PROMOTIONAL: GrantKind.PROMOTIONAL,
}

# What each answer of the ledger means for a charge (README "Retry rules"):
# - About the request itself: sending it again gets the same answer, so the charge stops
#   (FAILED) at once instead of being retried forever.
_PERMANENT = frozenset(
    c.value[0]
    for c in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
    )
)
# - The ledger failed on this request: a passing fault (a database restart it did not recognise)
#   or a bug every retry hits again. Retried a bounded number of times, then FAILED.
_LEDGER_FAILED = frozenset(
    c.value[0]
    for c in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS)
)
# - Everything else is transient and retried until it passes: the ledger unreachable, overloaded
#   or restarting (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, CANCELLED), and
#   what an operator fixes for every charge at once (UNAUTHENTICATED, PERMISSION_DENIED: our
#   credential; UNIMPLEMENTED: an older ledger). Failing every charge for those would lose them.


# - A denial: the wallet (or the pool member the usage is for) may not spend it now. The event
#   is DENIED, as it would be by a DENY wallet without credits; sent again under a new id after
#   a top-up (or the member's next budget period) it may pass.
_DENIALS = frozenset({"INSUFFICIENT_CREDITS", "MEMBER_BUDGET_EXCEEDED"})


def refusal_of(code: int, reason: str) -> LedgerRefusal:
    """What a refusal with this gRPC code (its number) and ErrorInfo reason means."""
    if code == grpc.StatusCode.FAILED_PRECONDITION.value[0] and reason in _DENIALS:
        return LedgerRefusal.DENIED
    if code in _PERMANENT:
        return LedgerRefusal.PERMANENT
    if code in _LEDGER_FAILED:
        return LedgerRefusal.LEDGER_FAILED
    return LedgerRefusal.RETRY_LATER


def refused(code: int, reason: str, message: str) -> Refused:
    return Refused(refusal_of(code, reason), reason, message)


def _booked(entry: lpb.Entry) -> Booked:
    return Booked(
        entry_id=entry.entry_id,
        available_after=entry.available_after,
        allocations=tuple(
            LedgerAllocation(a.grant_id, Decimal(a.amount), a.overage) for a in entry.allocations
        ),
    )


def _reason(exc: grpc.aio.AioRpcError) -> str:
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason
    return exc.code().name


def _refused(exc: grpc.aio.AioRpcError) -> Refused:
    return refused(exc.code().value[0], _reason(exc), exc.details() or "")


# Top-ups read per ListTopUps call, and at most this many calls per invoice.
TOP_UP_PAGE = 500
TOP_UP_PAGES_MAX = 20


class LedgerClient:
    def __init__(
        self,
        target: str,
        timeout_s: float = 10.0,
        calls_max: int = limits.LEDGER_CALLS_IN_FLIGHT_MAX,
        credentials: grpc.ChannelCredentials | None = None,
        key_file: Path | None = None,
    ) -> None:
        """`credentials`: TLS to the ledger (ledger_tls in main.py builds them from the
        settings); None: plain text, only by the development switch ledger_plaintext."""
        self.calls_max = calls_max
        # Reconnect quickly after a ledger outage (gRPC's default backoff grows to 120 s).
        options = [
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 5000),
        ]
        # The rating service's own API key for the ledger goes with every call.
        interceptors = None if key_file is None else bearer_interceptors(KeyFromFile(key_file))
        if credentials is None:
            self.channel = grpc.aio.insecure_channel(
                target, options=options, interceptors=interceptors
            )
        else:
            self.channel = grpc.aio.secure_channel(
                target, credentials, options=options, interceptors=interceptors
            )
        self.stub = ledger_pb2_grpc.LedgerServiceStub(self.channel)
        self.timeout_s = timeout_s

    async def close(self) -> None:
        await self.channel.close()

    async def debit_batch(self, items: Sequence[DebitItem]) -> list[Booked | Refused]:
        request = lpb.DebitBatchRequest(
            debits=[
                lpb.DebitRequest(
                    request_id=i.request_id,
                    wallet_id=i.wallet_id,
                    amount=format_amount(i.amount),
                    occurred_time=timestamp(i.occurred_time),
                    feature=i.feature,
                    description=i.description,
                    source_event_id=i.source_event_id,
                    customer_id=i.customer_id,
                    member_id=i.member_id,
                )
                for i in items
            ]
        )
        try:
            response: lpb.DebitBatchResponse = await self.stub.DebitBatch(
                request, timeout=self.timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            message = f"DebitBatch failed: {exc.code().name}: {exc.details()}"
            answer = _refused(exc)
            if answer.refusal == LedgerRefusal.RETRY_LATER:
                raise LedgerUnavailable(message) from exc
            if len(items) > 1:
                raise BatchRefused(message, answer) from exc
            return [answer]  # the answer is about the one debit sent
        results: list[Booked | Refused] = []
        for r in response.results:
            if r.HasField("entry"):
                results.append(_booked(r.entry))
            else:
                results.append(refused(r.error.code, r.error.reason, r.error.message))
        if len(results) != len(items):
            raise LedgerUnavailable("DebitBatch answered with the wrong number of results")
        return results

    async def refund(
        self, request_id: str, entry_id: str, amount: Decimal, description: str
    ) -> Booked | Refused:
        request = lpb.RefundDebitRequest(
            request_id=request_id,
            entry_id=entry_id,
            amount=format_amount(amount),
            description=description,
        )
        try:
            response: lpb.RefundDebitResponse = await self.stub.RefundDebit(
                request, timeout=self.timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            if (answer := _refused(exc)).refusal != LedgerRefusal.RETRY_LATER:
                return answer
            raise LedgerUnavailable(
                f"RefundDebit failed: {exc.code().name}: {exc.details()}"
            ) from exc
        return _booked(response.entries[0])

    async def grant_kinds(self, grant_ids: Sequence[str]) -> dict[str, str]:
        # One call per grant, at most `calls_max` in flight: an invoice that drew on thousands
        # of grants must not open thousands of calls (and their buffers) at once.
        slots = asyncio.Semaphore(self.calls_max)

        async def one(grant_id: str) -> tuple[str, str]:
            async with slots:
                response: lpb.GetGrantResponse = await self.stub.GetGrant(
                    lpb.GetGrantRequest(grant_id=grant_id), timeout=self.timeout_s
                )
            return grant_id, _KINDS.get(response.grant.kind, GrantKind.PREPAID)

        try:
            return dict(await asyncio.gather(*(one(g) for g in dict.fromkeys(grant_ids))))
        except grpc.aio.AioRpcError as exc:
            raise LedgerUnavailable(f"GetGrant failed: {exc.code().name}: {exc.details()}") from exc

    async def outstanding_overage(self, wallet_id: str, as_of: datetime | None) -> Decimal:
        # No as_of while the period is open: the ledger's now, never our clock's (the ledger
        # refuses an as_of later than its own now with AS_OF_IN_FUTURE).
        request = lpb.GetBalanceRequest(wallet_id=wallet_id)
        if as_of is not None:
            request.as_of_time.CopyFrom(timestamp(as_of))
        try:
            # A read waits (within the timeout) for a channel that is reconnecting after a
            # ledger restart, rather than failing at once.
            response: lpb.GetBalanceResponse = await self.stub.GetBalance(
                request, timeout=self.timeout_s, wait_for_ready=True
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return Decimal(0)
            raise LedgerUnavailable(
                f"GetBalance failed: {exc.code().name}: {exc.details()}"
            ) from exc
        return Decimal(response.balance.overage or "0")

    async def top_ups(self, wallet_id: str, start: datetime, end: datetime) -> list[TopUpView]:
        found: list[TopUpView] = []
        request = lpb.ListTopUpsRequest(wallet_id=wallet_id, page_size=TOP_UP_PAGE)
        for _ in range(TOP_UP_PAGES_MAX):  # newest first: stop once past the period's start
            try:
                response: lpb.ListTopUpsResponse = await self.stub.ListTopUps(
                    request, timeout=self.timeout_s, wait_for_ready=True
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return []
                raise LedgerUnavailable(
                    f"ListTopUps failed: {exc.code().name}: {exc.details()}"
                ) from exc
            for t in response.top_ups:
                created = t.create_time.ToDatetime(tzinfo=UTC)
                if created < start:
                    return sorted(found, key=lambda v: v.create_time)
                if created < end and t.state == lpb.TOP_UP_STATE_COMPLETED:
                    found.append(
                        TopUpView(
                            t.top_up_id,
                            Decimal(t.amount),
                            Decimal(t.unit_price),
                            t.currency,
                            created,
                        )
                    )
            if not response.next_page_token:
                break
            request.page_token = response.next_page_token
        return sorted(found, key=lambda v: v.create_time)

    async def wallet(self, wallet_id: str) -> WalletView | None:
        try:
            response: lpb.GetWalletResponse = await self.stub.GetWallet(
                lpb.GetWalletRequest(wallet_id=wallet_id), timeout=self.timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise LedgerUnavailable(
                f"GetWallet failed: {exc.code().name}: {exc.details()}"
            ) from exc
        return WalletView(response.wallet.unit, response.wallet.customer_id)
