"""The rating part of the demo: a customer on a plan sends usage events; each becomes a priced
charge, the ledger debits it (history lines carry the event id), and the draft invoice matches."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.ledger.v1 import ledger_pb2_grpc
from billing.rating.v1 import rating_pb2 as pb
from billing.rating.v1 import rating_pb2_grpc

from billing_common.protoconv import timestamp
from demo.page import Customer
from demo.show import heading, table

STATUS = {v: pb.EventStatus.Name(v).removeprefix("EVENT_STATUS_") for v in pb.EventStatus.values()}
ETYPE = {v: lpb.EntryType.Name(v).removeprefix("ENTRY_TYPE_") for v in lpb.EntryType.values()}
SETTLE_ROUNDS_MAX = 100  # x 0.1 s


def rid() -> str:
    return str(uuid.uuid4())


async def run(ledger_channel: grpc.aio.Channel, rating_channel: grpc.aio.Channel) -> Customer:
    """The scenario; returns its customer and wallet (the customer page's)."""
    ledger = ledger_pb2_grpc.LedgerServiceStub(ledger_channel)
    rating = rating_pb2_grpc.RatingServiceStub(rating_channel)
    now = datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    customer = f"globex-{uuid.uuid4().hex[:6]}"
    print(heading(f"Rating: customer {customer} on a usage plan"))

    wallet = (
        await ledger.CreateWallet(
            lpb.CreateWalletRequest(
                request_id=rid(),
                customer_id=customer,
                unit="CREDITS",
                overage_policy=lpb.OVERAGE_POLICY_ALLOW_OVERAGE,
            )
        )
    ).wallet
    for kind, amount in ((lpb.GRANT_KIND_PROMOTIONAL, "20"), (lpb.GRANT_KIND_PREPAID, "500")):
        await ledger.CreateGrant(
            lpb.CreateGrantRequest(
                request_id=rid(),
                wallet_id=wallet.wallet_id,
                kind=kind,
                amount=amount,
                effective_time=timestamp(month),  # usable by this month's usage, sent late or not
            )
        )
    print(f"Wallet {wallet.wallet_id}: 20 promotional + 500 prepaid credits, overage allowed.")

    suffix = uuid.uuid4().hex[:6]
    tokens = (
        await rating.CreateMeter(
            pb.CreateMeterRequest(
                request_id=rid(),
                key=f"llm_tokens_{suffix}",
                event_type="llm.completion",
                aggregation=pb.AGGREGATION_SUM,
                value_property="tokens",
                description="LLM tokens",
            )
        )
    ).meter
    users = (
        await rating.CreateMeter(
            pb.CreateMeterRequest(
                request_id=rid(),
                key=f"active_users_{suffix}",
                event_type="app.login",
                aggregation=pb.AGGREGATION_UNIQUE_COUNT,
                value_property="user",
                description="Active users",
            )
        )
    ).meter
    token_price = (
        await rating.CreatePrice(
            pb.CreatePriceRequest(
                request_id=rid(),
                meter_id=tokens.meter_id,
                unit="CREDITS",
                model=pb.PRICING_MODEL_GRADUATED,
                tiers=[
                    pb.Tier(up_to="1000", unit_price="0.02"),
                    pb.Tier(up_to="", unit_price="0.01"),
                ],
                # No effective_time: in force from now (prices never take effect in the past).
            )
        )
    ).price
    user_price = (
        await rating.CreatePrice(
            pb.CreatePriceRequest(
                request_id=rid(),
                meter_id=users.meter_id,
                unit="CREDITS",
                model=pb.PRICING_MODEL_PER_UNIT,
                unit_price="5",
            )
        )
    ).price
    plan = (
        await rating.CreatePlan(
            pb.CreatePlanRequest(
                request_id=rid(),
                name="Team",
                cadence=pb.CADENCE_MONTHLY,
                billing_anchor_time=timestamp(month),
                fixed_charge="49",
                # Debited from the wallet at the start of each period, once per period.
                fixed_charge_collection=pb.FIXED_CHARGE_COLLECTION_DEBIT,
                # This first month starts today: it pays its share of the 49.
                prorate_fixed_charge=True,
                # Seed 003's annual true-up: 1,200 credits of usage a year, trued up once.
                minimum_commitment="1200",
                commitment_period=pb.COMMITMENT_PERIOD_ANNUAL,
                unit="CREDITS",
                prices=[
                    pb.PlanPrice(price_id=token_price.price_id, included_quantity="200"),
                    pb.PlanPrice(price_id=user_price.price_id),
                ],
            )
        )
    ).plan
    await rating.AssignPlan(
        pb.AssignPlanRequest(
            request_id=rid(),
            customer_id=customer,
            plan_id=plan.plan_id,
            wallet_id=wallet.wallet_id,
            # No start_time: from now (an assignment never takes effect in the past).
        )
    )
    # The usage below happens after the plan starts: spread over the next minute (events up to
    # 5 minutes ahead are accepted), in the order the offsets say.
    started = datetime.now(UTC)
    print(
        "Plan 'Team', monthly: 49 credits fixed, debited from the wallet as each period starts"
        " (this first, shorter month pays its share);"
        " LLM tokens graduated (first 200 included, "
        "then 0.02 for the next 1,000, then 0.01); 5 credits per active user; "
        "a commitment of 1,200 credits of usage a year."
    )

    def ev(event_id: str, kind: str, minutes: int, **props: str) -> pb.Event:
        """`minutes` before the end of the demo's minute of usage: larger is earlier."""
        return pb.Event(
            event_id=f"{customer}-{event_id}",
            customer_id=customer,
            type=kind,
            occurred_time=timestamp(started + timedelta(seconds=60 - minutes)),
            properties=props,
        )

    batch = [
        ev("t1", "llm.completion", 50, tokens="600", model="large"),
        ev("u1", "app.login", 45, user="ann"),
        ev("t2", "llm.completion", 40, tokens="700", model="small"),
        ev("u2", "app.login", 30, user="bob"),
        ev("u3", "app.login", 20, user="ann"),
        ev("t3", "llm.completion", 10, tokens="250", model="large"),
    ]
    request = pb.IngestEventsRequest(request_id=rid(), events=batch)
    response = await rating.IngestEvents(request)
    replay = await rating.IngestEvents(request)  # a producer retry: the same answer, no new charge
    assert replay == response
    resent = await rating.IngestEvents(pb.IngestEventsRequest(request_id=rid(), events=batch[:1]))
    rows = [
        (
            r.event_id.removeprefix(customer + "-"),
            STATUS[r.status],
            c.quantity_before,
            c.quantity_after,
            c.amount,
        )
        for r in response.results
        for c in r.charges
    ]
    print(
        "\nIngestEvents (asynchronous): each event priced incrementally,"
        " price(after) - price(before)"
    )
    print(table(["event", "status", "qty before", "qty after", "charge"], rows, right=(2, 3, 4)))
    print(
        f"Same event id sent again in a new batch: {STATUS[resent.results[0].status]}; "
        "a repeated user (ann) costs 0."
    )

    sync = await rating.IngestEvents(
        pb.IngestEventsRequest(
            request_id=rid(),
            mode=pb.INGEST_MODE_SYNC,
            events=[ev("t4", "llm.completion", 5, tokens="100", model="small")],
        )
    )
    r = sync.results[0]
    print(
        f"Synchronous event t4: {STATUS[r.status]}, charge {r.charges[0].amount}, "
        f"available balance after it {r.available_after}."
    )

    invoice = None
    for _ in range(SETTLE_ROUNDS_MAX):  # the forwarder delivers the asynchronous charges
        invoice = (await rating.GetInvoice(pb.GetInvoiceRequest(customer_id=customer))).invoice
        settled = all(line.pending_amount == "0" for line in invoice.lines)
        if settled and invoice.fixed_charge_paid == invoice.fixed_charge:
            break
        await asyncio.sleep(0.1)
    assert invoice is not None

    balance = (await ledger.GetBalance(lpb.GetBalanceRequest(wallet_id=wallet.wallet_id))).balance
    print(heading("Ledger after the forwarder delivered the charges"))
    print(
        f"Available {balance.available} (prepaid {balance.prepaid_available}, "
        f"promotional {balance.promotional_available}), overage {balance.overage}."
    )
    entries = (
        await ledger.ListEntries(lpb.ListEntriesRequest(wallet_id=wallet.wallet_id, page_size=20))
    ).entries
    print(
        table(
            ["type", "amount", "event", "description"],
            [
                (
                    ETYPE[e.type],
                    e.amount,
                    e.source_event_id.removeprefix(customer + "-"),
                    e.description,
                )
                for e in entries
            ],
            right=(1,),
        )
    )

    print(heading(f"Draft invoice {invoice.invoice_id}"))
    start = invoice.period_start_time.ToDatetime(tzinfo=UTC).date()
    end = invoice.period_end_time.ToDatetime(tzinfo=UTC).date()
    print(f"Period {start} to {end}, status DRAFT, unit {invoice.unit}")
    lines = [
        (
            f"Fixed charge (paid from the wallet {invoice.fixed_charge_paid})",
            "",
            invoice.fixed_charge,
        )
    ]
    for line in invoice.lines:
        lines.append((line.description, line.quantity, line.amount))
        for t in line.tiers:
            lines.append((f"  tier {t.tier_index + 1} at {t.unit_price}", t.quantity, t.amount))
    lines.append(("Total", "", invoice.total))
    print(table(["line", "quantity", "amount"], lines, right=(1, 2)))
    print(
        f"Usage paid with promotional credits {invoice.promotional_credits_applied}, "
        f"prepaid credits {invoice.prepaid_credits_applied}; overage due {invoice.overage_due} "
        f"(settled since: {invoice.overage_settled})."
    )
    year_end = invoice.commitment_end_time.ToDatetime(tzinfo=UTC).date()
    print(
        f"Annual commitment: {invoice.commitment_used} of 1200 credits used in the year to "
        f"{year_end}, {invoice.commitment_remaining} to go; true-up on this invoice "
        f"{invoice.true_up} (the year's shortfall is invoiced once, on its last invoice)."
    )
    return Customer(customer, wallet.wallet_id)
