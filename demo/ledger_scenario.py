"""The ledger part of the demo: a wallet, prepaid and promotional credits with different expiries,
usage, a refund, a refused overdraw and an idempotent retry, then the balance and the history."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc

from billing_common.money import format_amount
from billing_common.protoconv import duration, timestamp
from demo.show import heading, table

KIND = {pb.GRANT_KIND_PREPAID: "prepaid", pb.GRANT_KIND_PROMOTIONAL: "promotional"}
STATE = {
    v: pb.GrantState.Name(v).removeprefix("GRANT_STATE_").lower() for v in pb.GrantState.values()
}
ETYPE = {v: pb.EntryType.Name(v).removeprefix("ENTRY_TYPE_") for v in pb.EntryType.values()}


def rid() -> str:
    return str(uuid.uuid4())


def day(message: object, field: str) -> str:
    """The date of a Timestamp field, or "never" when it is unset (presence, not a zero value)."""
    if not message.HasField(field):  # type: ignore[attr-defined]
        return "never"
    return getattr(message, field).ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d")  # type: ignore[no-any-return]


async def run(channel: grpc.aio.Channel) -> str:
    stub = ledger_pb2_grpc.LedgerServiceStub(channel)
    now = datetime.now(UTC)
    customer = f"acme-{uuid.uuid4().hex[:6]}"
    print(heading(f"Ledger: customer {customer}"))

    wallet = (
        await stub.CreateWallet(
            pb.CreateWalletRequest(
                request_id=rid(),
                customer_id=customer,
                unit="CREDITS",
                overage_policy=pb.OVERAGE_POLICY_DENY,
            )
        )
    ).wallet
    print(f"Wallet {wallet.wallet_id} in {wallet.unit}, hard stop when credits run out (DENY).")

    grants = [
        ("Welcome credits", pb.GRANT_KIND_PROMOTIONAL, "1000", now + timedelta(days=30), "0", ""),
        (
            "Starter Pack, $100",
            pb.GRANT_KIND_PREPAID,
            "10000",
            now + timedelta(days=365),
            "0.01",
            "USD",
        ),
    ]
    created = []
    for description, kind, amount, expire, price, currency in grants:
        created.append(
            await stub.CreateGrant(
                pb.CreateGrantRequest(
                    request_id=rid(),
                    wallet_id=wallet.wallet_id,
                    kind=kind,
                    amount=amount,
                    expire_time=timestamp(expire),
                    description=f"+{amount} credits: {description}",
                    cost_basis=pb.CostBasis(unit_price=price, currency=currency),
                )
            )
        )
        print(
            f"Granted {amount:>6} {KIND[kind]:<11} credits, "
            f"expiring {expire:%Y-%m-%d}  ({description})"
        )

    report = await stub.Debit(
        pb.DebitRequest(
            request_id="demo-report-" + customer,
            wallet_id=wallet.wallet_id,
            amount="1500",
            feature="Report Generation",
        )
    )
    kinds = {g.grant.grant_id: KIND[g.grant.kind] for g in created}
    used = ", ".join(
        f"{a.amount.lstrip('-')} from {kinds[a.grant_id]}" for a in report.entry.allocations
    )
    print(
        f"\nDebited 1500 for Report Generation, burning promotional credits first: {used}; "
        f"{report.entry.available_after} left."
    )
    retry = await stub.Debit(
        pb.DebitRequest(
            request_id="demo-report-" + customer,
            wallet_id=wallet.wallet_id,
            amount="1500",
            feature="Report Generation",
        )
    )
    print(
        f"Retried the same request_id: same entry {retry.entry.entry_id == report.entry.entry_id}, "
        f"nothing booked twice."
    )

    batch = await stub.DebitBatch(
        pb.DebitBatchRequest(
            debits=[
                pb.DebitRequest(
                    request_id=rid(), wallet_id=wallet.wallet_id, amount="0.25", feature="API call"
                )
                for _ in range(400)
            ]
        )
    )
    print(
        f"DebitBatch of {len(batch.results)} API calls at 0.25 credits: "
        f"{sum(r.HasField('entry') for r in batch.results)} booked, "
        f"{batch.results[-1].entry.available_after} left."
    )

    job = await stub.Debit(
        pb.DebitRequest(
            request_id=rid(),
            wallet_id=wallet.wallet_id,
            amount="300",
            feature="AI training job",
        )
    )
    await stub.RefundDebit(
        pb.RefundDebitRequest(
            request_id=rid(),
            entry_id=job.entry.entry_id,
            description="+300 credits: training job failed",
        )
    )
    print("An AI training job (300) failed and was refunded to the grants it came from.")

    # A feature-scoped grant: only reports may burn it, and they burn it before anything else.
    reports = await stub.CreateGrant(
        pb.CreateGrantRequest(
            request_id=rid(),
            wallet_id=wallet.wallet_id,
            kind=pb.GRANT_KIND_PROMOTIONAL,
            amount="500",
            expire_time=timestamp(now + timedelta(days=30)),
            description="+500 credits: Report Generation only",
            features=["Report Generation"],
        )
    )
    kinds[reports.grant.grant_id] = "the Report Generation grant"
    scoped = await stub.Debit(
        pb.DebitRequest(
            request_id=rid(), wallet_id=wallet.wallet_id, amount="600", feature="Report Generation"
        )
    )
    used = ", ".join(
        f"{a.amount.lstrip('-')} from {kinds[a.grant_id]}" for a in scoped.entry.allocations
    )
    print(
        "Granted 500 credits for Report Generation only; a 600-credit report burns them before"
        f" any other grant: {used}. No other feature can use them."
    )

    # Authorize before each action: a check, then a check that holds the credits for the job.
    export = await stub.Authorize(
        pb.AuthorizeRequest(wallet_id=wallet.wallet_id, amount="50000", feature="Bulk export")
    )
    print(
        f"Authorize a 50000-credit export? allowed={export.allowed} "
        f"({pb.AuthorizeReason.Name(export.reason)}, {export.shortfall} short): "
        "a denial is an answer, nothing written."
    )
    held = await stub.Authorize(
        pb.AuthorizeRequest(
            request_id=rid(),
            wallet_id=wallet.wallet_id,
            amount="200",
            feature="AI agent run",
            hold=True,
            hold_timeout=duration(timedelta(minutes=10)),
        )
    )
    captured = await stub.CaptureHold(
        pb.CaptureHoldRequest(request_id=rid(), hold_id=held.hold.hold_id, amount="180")
    )
    print(
        f"Authorize with hold for an AI agent run (200): allowed={held.allowed}, "
        f"{held.available_before} -> {held.available_after} available while it ran; "
        f"captured {captured.hold.captured_amount}, the rest released."
    )

    try:
        await stub.Debit(
            pb.DebitRequest(
                request_id=rid(),
                wallet_id=wallet.wallet_id,
                amount="50000",
                feature="Bulk export",
            )
        )
    except grpc.aio.AioRpcError as exc:
        print(f"A 50000-credit export was refused: {exc.code().name}: {exc.details()}")

    balance = (await stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet.wallet_id))).balance
    print(heading("Balance"))
    print(
        table(
            ["", "credits"],
            [
                ["available", balance.available],
                ["  prepaid", balance.prepaid_available],
                ["  promotional", balance.promotional_available],
                ["held", balance.held],
                ["overage", balance.overage],
                ["pending expiry", balance.pending_expiry],
                ["usable by any feature", balance.unscoped_available],
                *([f"usable by {f.feature}", f.available] for f in balance.features),
            ],
            right=[1],
        )
    )
    print()
    print(
        table(
            ["grant", "kind", "remaining", "expires", "state"],
            [
                [
                    g.grant_id[:8],
                    KIND[g.kind],
                    g.remaining_amount,
                    day(g, "expire_time"),
                    STATE[g.state],
                ]
                for g in balance.grants
            ],
            right=[2],
        )
    )

    history = []
    page = pb.ListEntriesRequest(wallet_id=wallet.wallet_id, page_size=500)
    while True:
        response = await stub.ListEntries(page)
        history += response.entries
        if not response.next_page_token:
            break
        page.page_token = response.next_page_token
    print(heading("History, newest first (runs of identical lines folded)"))
    print(
        table(
            ["booked", "type", "amount", "balance", "description"], statement(history), right=[2, 3]
        )
    )
    await automation(stub, wallet.wallet_id)

    verify = await stub.VerifyWallet(pb.VerifyWalletRequest(wallet_id=wallet.wallet_id))
    print(
        f"\nVerifyWallet: journal and balances agree: {verify.consistent} "
        f"(granted {verify.granted} = consumed {verify.consumed} + remaining {verify.remaining})"
    )
    wallet_id: str = wallet.wallet_id
    return wallet_id


def statement(entries: list[pb.Entry]) -> list[list[str]]:
    """Entries as statement lines, with a run of identical debits folded into one line."""
    rows: list[list[str]] = []
    run: list[pb.Entry] = []

    def flush() -> None:
        if not run:
            return
        last = run[0]  # newest of the run: its balance is the balance after the run
        count = f"{len(run)} x " if len(run) > 1 else ""
        total = sum((Decimal(e.amount) for e in run), Decimal(0))
        rows.append(
            [
                last.book_time.ToDatetime(tzinfo=UTC).strftime("%H:%M:%S"),
                ETYPE[last.type],
                format_amount(total),
                last.available_after,
                count + last.description,
            ]
        )
        run.clear()

    for e in entries:
        if run and (e.description != run[0].description or e.type != run[0].type):
            flush()
        run.append(e)
    flush()
    return rows


EVENT = {
    v: pb.WalletEventType.Name(v).removeprefix("WALLET_EVENT_TYPE_")
    for v in pb.WalletEventType.values()
}
WATCH_QUIET_S = 0.6


async def automation(stub: ledger_pb2_grpc.LedgerServiceStub, wallet_id: str) -> None:
    """An automatic top-up rule and the default low-balance alerts, seen as durable events."""
    print(heading("Automation: low-balance alerts and an automatic top-up"))
    await stub.SetTopUpRule(
        pb.SetTopUpRuleRequest(
            request_id=rid(),
            rule=pb.TopUpRule(
                wallet_id=wallet_id,
                threshold="1000",
                amount="5000",
                kind=pb.GRANT_KIND_PREPAID,
                unit_price="0.009",
                currency="USD",
                payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
                expire_after=duration(timedelta(days=365)),
            ),
        )
    )
    print("Top-up rule: below 1000 credits, buy 5000 at $0.009 (10% off), at once.")
    start = await last_cursor(stub, wallet_id)
    await stub.DebitBatch(
        pb.DebitBatchRequest(
            debits=[
                pb.DebitRequest(
                    request_id=rid(), wallet_id=wallet_id, amount="50", feature="Image generation"
                )
                for _ in range(180)
            ]
        )
    )
    print(
        "180 image generations at 50 credits each drain the wallet past 50%, 25%, 10%"
        " and the top-up threshold."
    )
    rows = []
    for event in await watch(stub, wallet_id, start):
        data = json.loads(event.data_json)
        detail = ", ".join(
            f"{k}={data[k]}"
            for k in ("name", "threshold", "available", "amount", "unit_price")
            if k in data
        )
        rows.append([str(event.cursor), EVENT[event.type], detail])
    print(table(["cursor", "event (WatchWalletEvents)", "details"], rows))
    balance = (await stub.GetBalance(pb.GetBalanceRequest(wallet_id=wallet_id))).balance
    print(f"Available after the drain and one automatic top-up: {balance.available}.")
    beyond = Decimal(balance.available) + 1000
    answer = await stub.Authorize(
        pb.AuthorizeRequest(
            wallet_id=wallet_id, amount=format_amount(beyond), feature="Bulk export"
        )
    )
    print(
        f"Authorize {beyond} (1000 more than available)? allowed={answer.allowed} "
        f"({pb.AuthorizeReason.Name(answer.reason)}): a debit would buy a {answer.top_up_amount}"
        " top-up first, so the check counts it (and buys nothing)."
    )


async def last_cursor(stub: ledger_pb2_grpc.LedgerServiceStub, wallet_id: str) -> int:
    seen = await watch(stub, wallet_id, 0)
    return seen[-1].cursor if seen else 0


async def watch(
    stub: ledger_pb2_grpc.LedgerServiceStub, wallet_id: str, after: int
) -> list[pb.WalletEvent]:
    """The wallet's events after a cursor, read from the stream until it goes quiet."""
    call = stub.WatchWalletEvents(
        pb.WatchWalletEventsRequest(wallet_id=wallet_id, after_cursor=after)
    )
    seen: list[pb.WalletEvent] = []
    try:
        while True:
            seen.append((await asyncio.wait_for(call.read(), WATCH_QUIET_S)).event)
    except TimeoutError:
        pass
    finally:
        call.cancel()
    return seen
