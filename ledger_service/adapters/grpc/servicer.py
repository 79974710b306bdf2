"""`billing.ledger.v1.LedgerService` over grpc.aio: validate, call a use case, convert.

One method per RPC of the contract (about thirty), each a few lines in the same shape, in the
contract's order; that is why this module runs past 400 lines (the conversion rules themselves
are in convert.py and convert_automation.py, the webhook RPCs in webhooks.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc

from billing_common import api_keys, paging, principal
from billing_common.errors import BillingError, InvalidArgument, RequestIdConflict, Violation
from billing_common.grpc_errors import item_error, to_grpc_status
from billing_common.grpc_handlers import Ctx, rpc, stream_rpc
from billing_common.idempotency import fingerprint
from billing_common.money import exact, format_amount
from billing_common.protoconv import timestamp, to_datetime
from ledger_service import limits
from ledger_service.adapters.grpc import convert, convert_automation, convert_reports
from ledger_service.adapters.grpc.errors import DOMAIN
from ledger_service.adapters.grpc.pool import PoolRpcs
from ledger_service.adapters.grpc.signals import SignalRpcs
from ledger_service.adapters.grpc.webhooks import WebhookRpcs
from ledger_service.app import commands as cmd
from ledger_service.app.ports import StoredEntry
from ledger_service.app.service import LedgerApp
from ledger_service.app.webhooks import WebhookApp
from ledger_service.domain import tenancy
from ledger_service.domain.authorize import Decision
from ledger_service.domain.errors import WalletCustomerMismatch
from ledger_service.domain.model import Hold

DEBIT_BATCH_MAX = limits.DEBIT_BATCH_MAX
EVENT_PAGE = 500
EVENT_POLL_INTERVAL_S = 0.2

handler = rpc(DOMAIN)


class LedgerServicer(WebhookRpcs, SignalRpcs, PoolRpcs, ledger_pb2_grpc.LedgerServiceServicer):
    def __init__(
        self,
        app: LedgerApp,
        webhooks: WebhookApp,
        tokens: paging.PageTokens,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.webhooks = webhooks

    @handler
    async def CreateWallet(self, request: pb.CreateWalletRequest, context: Ctx) -> bytes:
        command = convert.create_wallet(request)
        payload = await self.app.create_wallet(
            command,
            lambda w: pb.CreateWalletResponse(wallet=convert.wallet(w)).SerializeToString(),
            _caller(),
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def GetWallet(self, request: pb.GetWalletRequest, context: Ctx) -> pb.GetWalletResponse:
        wallet, _ = await self.app.get_wallet(
            convert.identifier(request.wallet_id, "wallet_id"), principal.current().customers
        )
        return pb.GetWalletResponse(wallet=convert.wallet(wallet))

    @handler
    async def ListWallets(
        self, request: pb.ListWalletsRequest, context: Ctx
    ) -> pb.ListWalletsResponse:
        if not request.customer_id:  # every customer's wallets: an operator's question
            api_keys.require_scope(
                principal.current(), principal.ADMIN, "ListWallets without a customer_id"
            )
        limit = paging.page_size(request.page_size)
        after = self.tokens.cursor("ListWallets", request.page_token, "seq") or 0
        rows = await self.app.list_wallets(
            request.customer_id, after, limit + 1, principal.current().customers
        )
        token = self._next("ListWallets", "seq", rows, limit)
        return pb.ListWalletsResponse(
            wallets=[convert.wallet(w) for _, w in rows[:limit]], next_page_token=token
        )

    @handler
    async def CreateGrant(self, request: pb.CreateGrantRequest, context: Ctx) -> bytes:
        command = convert.create_grant(request)
        # The grant's state is the state at the write's own time, inside its transaction.
        payload = await self.app.create_grant(
            command,
            lambda g, entries, now: pb.CreateGrantResponse(
                grant=convert.grant(g, now), entries=[convert.entry(e) for e in entries]
            ).SerializeToString(),
            _caller(),
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def GetGrant(self, request: pb.GetGrantRequest, context: Ctx) -> pb.GetGrantResponse:
        found, at = await self.app.grant_now(
            convert.identifier(request.grant_id, "grant_id"), principal.current().customers
        )
        return pb.GetGrantResponse(grant=convert.grant(found, at))

    @handler
    async def ListGrants(
        self, request: pb.ListGrantsRequest, context: Ctx
    ) -> pb.ListGrantsResponse:
        limit = paging.page_size(request.page_size)
        query = cmd.GrantQuery(
            wallet_id=convert.identifier(request.wallet_id, "wallet_id"),
            state=convert.grant_state(request.state),
            after_seq=self.tokens.cursor("ListGrants", request.page_token, "seq") or 0,
            limit=limit + 1,
        )
        rows, now = await self.app.list_grants(query, principal.current().customers)
        token = self._next("ListGrants", "seq", rows, limit)
        return pb.ListGrantsResponse(
            grants=[convert.grant(g, now) for _, g in rows[:limit]], next_page_token=token
        )

    @handler
    async def VoidGrant(self, request: pb.VoidGrantRequest, context: Ctx) -> bytes:
        command = convert.void_grant(request)
        payload = await self.app.void_grant(
            command,
            lambda g, e, now: pb.VoidGrantResponse(
                grant=convert.grant(g, now), entry=convert.entry(e)
            ).SerializeToString(),
            _caller(),
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def Debit(self, request: pb.DebitRequest, context: Ctx) -> bytes:
        command = convert.debit(request, self._latest())
        # Concurrent writes share transactions (see app/pipeline.py); the wallet's owner is
        # checked there, under its lock.
        payload = await self.app.debit(command, _encode_debit, _caller(), request.customer_id)
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def DebitBatch(
        self, request: pb.DebitBatchRequest, context: Ctx
    ) -> pb.DebitBatchResponse:
        count = len(request.debits)
        if not 1 <= count <= DEBIT_BATCH_MAX:
            raise InvalidArgument.field(
                "debits",
                f"must hold 1 to {DEBIT_BATCH_MAX} debits, not {count}",
                "INVALID_BATCH_SIZE",
            )
        results: list[pb.DebitResult | None] = [None] * count
        commands, positions = self._valid_debits(request, results)
        foreign = await self._foreign([request.debits[i] for i in positions], positions)
        if foreign:
            kept = [(i, c) for i, c in zip(positions, commands, strict=True) if i not in foreign]
            for i, exc in foreign.items():
                results[i] = pb.DebitResult(error=item_error(exc))
            positions, commands = [i for i, _ in kept], [c for _, c in kept]
        if commands:
            outcomes = await self.app.debit_batch(commands, _encode_debit, _caller())
            for i, outcome in zip(positions, outcomes, strict=True):
                if isinstance(outcome, BillingError):
                    results[i] = pb.DebitResult(error=item_error(outcome))
                else:
                    results[i] = pb.DebitResult(entry=pb.DebitResponse.FromString(outcome).entry)
        answered = [r for r in results if r is not None]
        assert len(answered) == count, "every item is refused, booked or replayed"
        return pb.DebitBatchResponse(results=answered)

    def _valid_debits(
        self, request: pb.DebitBatchRequest, results: list[pb.DebitResult | None]
    ) -> tuple[list[cmd.Debit], list[int]]:
        """The items that pass validation as commands, with their positions; each bad item's
        error goes into `results`. Bad items are refused on their own; the others go through.
        A request_id first seen on a bad item makes its later occurrences repeat that error
        (same content) or conflict."""
        commands: list[cmd.Debit] = []
        positions: list[int] = []
        refused_first: dict[str, tuple[bytes, pb.DebitResult]] = {}
        seen: set[str] = set()
        latest = self._latest()
        for i, item in enumerate(request.debits):
            if (first := refused_first.get(item.request_id)) is not None:
                if fingerprint("Debit", convert.debit_content(item)) == first[0]:
                    results[i] = first[1]
                else:
                    results[i] = pb.DebitResult(error=item_error(_conflict(item.request_id)))
                continue
            try:
                commands.append(convert.debit(item, latest, f"debits[{i}]."))
                positions.append(i)
            except BillingError as exc:
                results[i] = refused = pb.DebitResult(error=item_error(exc))
                if item.request_id and item.request_id not in seen:
                    content = fingerprint("Debit", convert.debit_content(item))
                    refused_first[item.request_id] = (content, refused)
            seen.add(item.request_id)
        return commands, positions

    @handler
    async def RefundDebit(self, request: pb.RefundDebitRequest, context: Ctx) -> bytes:
        command = convert.refund(request)
        payload = await self.app.refund(
            command,
            lambda entries: pb.RefundDebitResponse(
                entries=[convert.entry(e) for e in entries]
            ).SerializeToString(),
            _caller(),
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def GetBalance(
        self, request: pb.GetBalanceRequest, context: Ctx
    ) -> pb.GetBalanceResponse:
        wallet, view = await self.app.balance(
            convert.identifier(request.wallet_id, "wallet_id"),
            to_datetime(request, "as_of_time"),
            principal.current().customers,
        )
        return pb.GetBalanceResponse(balance=convert.balance(wallet, view))

    @handler
    async def GetConsumptionReport(
        self, request: pb.GetConsumptionReportRequest, context: Ctx
    ) -> pb.GetConsumptionReportResponse:
        if not request.wallet_id and not request.customer_id:  # every customer's wallets
            api_keys.require_scope(
                principal.current(), principal.ADMIN, "GetConsumptionReport of every customer"
            )
        wallet_id = request.wallet_id and convert.identifier(request.wallet_id, "wallet_id")
        customer_id = request.customer_id and convert.identifier(request.customer_id, "customer_id")
        if wallet_id and customer_id:
            raise InvalidArgument.field(
                "customer_id", "set wallet_id or customer_id, not both", "CONFLICTING_FIELDS"
            )
        span = convert_reports.report_range(request, convert_reports.CONSUMPTION_BUCKET)
        limit = paging.page_size(request.page_size)
        after = self.tokens.cursor("GetConsumptionReport", request.page_token, "seq") or 0
        rows = await self.app.consumption(
            wallet_id, customer_id, span, after, limit + 1, principal.current().customers
        )
        return pb.GetConsumptionReportResponse(
            wallets=[
                convert_reports.wallet_consumption(w.id, w.customer_id, w.unit, report)
                for w, report in rows[:limit]
            ],
            next_page_token=self._next(
                "GetConsumptionReport", "seq", [(w.seq, w) for w, _ in rows], limit
            ),
        )

    @handler
    async def GetRevenueReport(
        self, request: pb.GetRevenueReportRequest, context: Ctx
    ) -> pb.GetRevenueReportResponse:
        if not request.customer_id:  # every customer's revenue: an operator's question
            api_keys.require_scope(
                principal.current(), principal.ADMIN, "GetRevenueReport of every customer"
            )
        customer_id = request.customer_id and convert.identifier(request.customer_id, "customer_id")
        span = convert_reports.report_range(request, convert_reports.REVENUE_BUCKET)
        limit = paging.page_size(request.page_size)
        after = self.tokens.cursor("GetRevenueReport", request.page_token, "seq") or 0
        reports, total, more = await self.app.revenue(
            customer_id, span, after, limit, principal.current().customers
        )
        token = (
            self.tokens.encode("GetRevenueReport", {"seq": reports[-1].first_wallet_seq})
            if more
            else ""
        )
        return pb.GetRevenueReportResponse(
            customers=[convert_reports.customer_revenue(c) for c in reports],
            total=convert_reports.revenue_periods(total),
            next_page_token=token,
        )

    @handler
    async def ListEntries(
        self, request: pb.ListEntriesRequest, context: Ctx
    ) -> pb.ListEntriesResponse:
        limit = paging.page_size(request.page_size)
        start = end = None
        if request.HasField("book_time_range"):
            start = to_datetime(request.book_time_range, "start_time", "book_time_range.start_time")
            end = to_datetime(request.book_time_range, "end_time", "book_time_range.end_time")
            if start is not None and end is not None and end <= start:
                raise InvalidArgument.field(
                    "book_time_range.end_time", "must be after start_time", "INVALID_TIME_RANGE"
                )
        query = cmd.EntryQuery(
            wallet_id=convert.identifier(request.wallet_id, "wallet_id"),
            types=convert.entry_types(request.types),
            start=start,
            end=end,
            before_seq=self.tokens.cursor("ListEntries", request.page_token, "before_seq"),
            limit=limit + 1,
            member_id=convert.member(request.member_id, "member_id"),
        )
        rows = await self.app.list_entries(query, principal.current().customers)
        token = self._next("ListEntries", "before_seq", rows, limit)
        return pb.ListEntriesResponse(
            entries=[convert.entry(e) for _, e in rows[:limit]], next_page_token=token
        )

    @handler
    async def RunExpiry(self, request: pb.RunExpiryRequest, context: Ctx) -> pb.RunExpiryResponse:
        entries = await self.app.run_expiry(request.wallet_id, principal.current().customers)
        return pb.RunExpiryResponse(entries=[convert.entry(e) for e in entries])

    @handler
    @exact  # LedgerApp.verify_wallet sums amounts outside the domain: under MONEY too
    async def VerifyWallet(
        self, request: pb.VerifyWalletRequest, context: Ctx
    ) -> pb.VerifyWalletResponse:
        report = await self.app.verify_wallet(
            convert.identifier(request.wallet_id, "wallet_id"), principal.current().customers
        )
        return pb.VerifyWalletResponse(
            consistent=report.consistent,
            differences=[
                pb.VerifyDifference(subject=s, stored=format_amount(a), recomputed=format_amount(b))
                for s, a, b in report.differences
            ],
            granted=format_amount(report.granted),
            consumed=format_amount(report.consumed),
            expired=format_amount(report.expired),
            voided=format_amount(report.voided),
            remaining=format_amount(report.remaining),
            overage=format_amount(report.overage),
        )

    @handler
    async def CreateHold(self, request: pb.CreateHoldRequest, context: Ctx) -> bytes:
        command = convert.create_hold(request)
        payload = await self.app.create_hold(
            command, self._encode_hold(pb.CreateHoldResponse), _caller()
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def CaptureHold(self, request: pb.CaptureHoldRequest, context: Ctx) -> bytes:
        command = convert.capture_hold(request)
        payload = await self.app.capture_hold(
            command, self._encode_hold(pb.CaptureHoldResponse), _caller()
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def ReleaseHold(self, request: pb.ReleaseHoldRequest, context: Ctx) -> bytes:
        command = convert.release_hold(request)
        payload = await self.app.release_hold(
            command, self._encode_hold(pb.ReleaseHoldResponse), _caller()
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def GetHold(self, request: pb.GetHoldRequest, context: Ctx) -> pb.GetHoldResponse:
        found, at = await self.app.hold_now(
            convert.identifier(request.hold_id, "hold_id"), principal.current().customers
        )
        return pb.GetHoldResponse(hold=convert.hold(found, at))

    @handler
    async def Authorize(self, request: pb.AuthorizeRequest, context: Ctx) -> bytes:
        current = principal.current()
        if request.hold:  # it writes: write on top of read
            api_keys.require_scope(current, principal.WRITE, "Authorize with hold")
        command = convert.authorize(request)
        if command.hold:
            return await self.app.authorize_hold(command, _encode_authorize, _caller())
        wallet, decision, at = await self.app.authorize_check(
            command.wallet, command.amount, current.customers, command.feature, command.member_id
        )
        return _encode_authorize(decision, wallet.id, None, None, at)

    @handler
    async def SetTopUpRule(self, request: pb.SetTopUpRuleRequest, context: Ctx) -> bytes:
        idem, rule = convert_automation.topup_rule(request)
        payload = await self.app.set_topup_rule(
            idem,
            rule,
            lambda r: pb.SetTopUpRuleResponse(
                rule=convert_automation.topup_rule_out(r)
            ).SerializeToString(),
            _caller(),
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def GetTopUpRule(
        self, request: pb.GetTopUpRuleRequest, context: Ctx
    ) -> pb.GetTopUpRuleResponse:
        rule = await self.app.topup_rule(
            convert.identifier(request.wallet_id, "wallet_id"), principal.current().customers
        )
        return pb.GetTopUpRuleResponse(rule=convert_automation.topup_rule_out(rule))

    @handler
    async def ClearTopUpRule(self, request: pb.ClearTopUpRuleRequest, context: Ctx) -> bytes:
        payload = await self.app.clear_topup_rule(
            convert.idem(request, "ClearTopUpRule"),
            convert.identifier(request.wallet_id, "wallet_id"),
            lambda r: pb.ClearTopUpRuleResponse(
                rule=convert_automation.topup_rule_out(r)
            ).SerializeToString(),
            _caller(),
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def ListTopUps(
        self, request: pb.ListTopUpsRequest, context: Ctx
    ) -> pb.ListTopUpsResponse:
        limit = paging.page_size(request.page_size)
        rows = await self.app.list_topups(
            convert.identifier(request.wallet_id, "wallet_id"),
            self.tokens.cursor("ListTopUps", request.page_token, "before_seq"),
            limit + 1,
            principal.current().customers,
        )
        token = self._next("ListTopUps", "before_seq", rows, limit)
        return pb.ListTopUpsResponse(
            top_ups=[convert_automation.topup(t) for _, t in rows[:limit]], next_page_token=token
        )

    @handler
    async def ConfirmTopUp(self, request: pb.ConfirmTopUpRequest, context: Ctx) -> bytes:
        payload = await self.app.confirm_topup(
            convert.idem(request, "ConfirmTopUp"),
            convert.identifier(request.top_up_id, "top_up_id"),
            lambda t: pb.ConfirmTopUpResponse(
                top_up=convert_automation.topup(t)
            ).SerializeToString(),
            _caller(),
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def FailTopUp(self, request: pb.FailTopUpRequest, context: Ctx) -> bytes:
        payload = await self.app.fail_topup(
            convert.idem(request, "FailTopUp"),
            convert.identifier(request.top_up_id, "top_up_id"),
            request.reason,
            lambda t: pb.FailTopUpResponse(top_up=convert_automation.topup(t)).SerializeToString(),
            _caller(),
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def SetAlertRules(self, request: pb.SetAlertRulesRequest, context: Ctx) -> bytes:
        rules = convert_automation.alert_rules(request)
        payload = await self.app.set_alert_rules(
            convert.idem(request, "SetAlertRules"),
            convert.identifier(request.wallet_id, "wallet_id"),
            rules,
            lambda stored: pb.SetAlertRulesResponse(
                rules=[convert_automation.alert_rule_out(r) for r in stored]
            ).SerializeToString(),
            _caller(),
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def ListAlertRules(
        self, request: pb.ListAlertRulesRequest, context: Ctx
    ) -> pb.ListAlertRulesResponse:
        rules = await self.app.alert_rules(
            convert.identifier(request.wallet_id, "wallet_id"), principal.current().customers
        )
        return pb.ListAlertRulesResponse(
            rules=[convert_automation.alert_rule_out(r) for r in rules]
        )

    @handler
    async def CreateAllotmentSchedule(
        self, request: pb.CreateAllotmentScheduleRequest, context: Ctx
    ) -> bytes:
        idem, schedule = convert_automation.schedule(request)
        payload = await self.app.create_schedule(
            idem,
            schedule,
            lambda s: pb.CreateAllotmentScheduleResponse(
                schedule=convert_automation.schedule_out(s)
            ).SerializeToString(),
            _caller(),
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @handler
    async def ListAllotmentSchedules(
        self, request: pb.ListAllotmentSchedulesRequest, context: Ctx
    ) -> pb.ListAllotmentSchedulesResponse:
        found = await self.app.schedules(
            convert.identifier(request.wallet_id, "wallet_id"), principal.current().customers
        )
        return pb.ListAllotmentSchedulesResponse(
            schedules=[convert_automation.schedule_out(s) for s in found]
        )

    @handler
    async def EndAllotmentSchedule(
        self, request: pb.EndAllotmentScheduleRequest, context: Ctx
    ) -> bytes:
        payload = await self.app.end_schedule(
            convert.idem(request, "EndAllotmentSchedule"),
            convert.identifier(request.schedule_id, "schedule_id"),
            to_datetime(request, "end_time"),
            lambda s: pb.EndAllotmentScheduleResponse(
                schedule=convert_automation.schedule_out(s)
            ).SerializeToString(),
            _caller(),
        )
        return payload  # encoded once (see grpc_handlers.add_servicer)

    @stream_rpc(DOMAIN)
    async def WatchWalletEvents(
        self, request: pb.WatchWalletEventsRequest, context: Ctx
    ) -> AsyncIterator[pb.WatchWalletEventsResponse]:
        """Events after the cursor, then new ones as they commit (polled every
        EVENT_POLL_INTERVAL_S). The cursor only grows, so a reconnect with the last cursor seen
        misses nothing and repeats nothing."""
        try:
            if request.after_cursor < 0:
                raise InvalidArgument.field(
                    "after_cursor", "must not be negative", "INVALID_CURSOR"
                )
            types = convert_automation.event_types(request.types)
            customers = principal.current().customers
            if request.wallet_id:
                await self.app.get_wallet(
                    convert.identifier(request.wallet_id, "wallet_id"), customers
                )
        except BillingError as exc:
            await context.abort_with_status(to_grpc_status(exc, DOMAIN))
            return
        cursor = request.after_cursor
        while True:
            events, cursor, full = await self.app.visible_events_after(
                request.wallet_id, cursor, types, EVENT_PAGE, customers
            )
            for event in events:
                yield pb.WatchWalletEventsResponse(event=convert_automation.wallet_event(event))
            if not full:
                await asyncio.sleep(EVENT_POLL_INTERVAL_S)

    async def _foreign(
        self, debits: Sequence[pb.DebitRequest], positions: Sequence[int] | None = None
    ) -> dict[int, WalletCustomerMismatch]:
        """The debits (by position) whose stated customer does not own their wallet: refused
        before anything is written. A wallet's owner never changes, so checking before the write
        transaction is as good as checking inside it. Unknown wallets are left to the write
        (WALLET_NOT_FOUND)."""
        stated = [
            (i if positions is None else positions[i], d)
            for i, d in enumerate(debits)
            if d.customer_id
        ]
        if not stated:
            return {}
        owners = await self.app.read(
            lambda repo: repo.wallet_owners(d.wallet_id for _, d in stated)
        )
        # A wallet the caller may not see is not there: left to the write (WALLET_NOT_FOUND).
        customers = principal.current().customers
        owners = {w: c for w, c in owners.items() if tenancy.may_see(customers, c)}
        prefix = "" if positions is None else "debits[{}]."
        return {
            i: WalletCustomerMismatch(
                f"wallet {d.wallet_id!r} does not belong to customer {d.customer_id!r}",
                violations=[Violation(prefix.format(i) + "customer_id", "does not own the wallet")],
            )
            for i, d in stated
            if owners.get(d.wallet_id, d.customer_id) != d.customer_id
        }

    def _latest(self) -> datetime:
        """The furthest future occurred_time a debit may have."""
        return self.app.clock.now() + self.app.policy.future_skew

    def _encode_hold(self, response: type) -> Callable[[Hold, StoredEntry, datetime], bytes]:
        """Encoder for the responses that carry a hold and its entry; the hold's state is the
        state at the write's own time (`now`, taken inside its transaction)."""

        def encode(h: Hold, e: StoredEntry, now: datetime) -> bytes:
            message = response(hold=convert.hold(h, now), entry=convert.entry(e))
            return bytes(message.SerializeToString())

        return encode


def _caller() -> cmd.Caller:
    """Who the running call is for: its actor and the customers it may see."""
    current = principal.current()
    return cmd.Caller(current.actor, current.customers)


def _conflict(request_id: str) -> RequestIdConflict:
    return RequestIdConflict(
        f"request_id {request_id!r} appears twice in the batch with different content"
    )


def _encode_debit(stored: StoredEntry) -> bytes:
    return pb.DebitResponse(entry=convert.entry(stored)).SerializeToString()


def _encode_authorize(
    decision: Decision, wallet_id: str, hold: Hold | None, entry: StoredEntry | None, at: datetime
) -> bytes:
    response = pb.AuthorizeResponse(
        allowed=decision.allowed,
        reason=convert.AUTHORIZE_REASON.out(decision.reason),
        wallet_id=wallet_id,
        available_before=format_amount(decision.available_before),
        available_after=format_amount(decision.available_after),
        overage_amount=format_amount(decision.overage),
        shortfall=format_amount(decision.shortfall),
        decide_time=timestamp(at),
        top_up_amount=format_amount(decision.top_up),
    )
    if decision.member_remaining is not None:
        response.member_remaining = format_amount(decision.member_remaining)
    if hold is not None and entry is not None:
        response.hold.CopyFrom(convert.hold(hold, at))
        response.entry.CopyFrom(convert.entry(entry))
    return response.SerializeToString()
