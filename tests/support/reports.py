"""A journal computed by hand for the report tests (tests/e2e/test_ledger_reports.py, the CLI's):
prepaid and promotional grants at their cost basis, debits across them by feature, a partial
refund, expiry after partial use, a void after partial use, overage and the grant that settles
it. Its expected figures are written beside the tests that check them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from billing.ledger.v1 import ledger_pb2 as pb
from billing.ledger.v1 import ledger_pb2_grpc

from billing_common.clock import FakeClock
from billing_common.protoconv import timestamp
from tests.support.ledger import debit_request, make_wallet, rid
from tests.support.servers import START

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


async def grant(
    stub: ledger_pb2_grpc.LedgerServiceStub,
    wallet_id: str,
    amount: str,
    kind: int,
    priority: int,
    price: str = "",
    expire: datetime | None = None,
) -> str:
    request = pb.CreateGrantRequest(
        request_id=rid(), wallet_id=wallet_id, kind=kind, amount=amount, priority=priority
    )
    if price:
        request.cost_basis.CopyFrom(pb.CostBasis(unit_price=price, currency="USD"))
    if expire is not None:
        request.expire_time.CopyFrom(timestamp(expire))
    return (await stub.CreateGrant(request)).grant.grant_id


@dataclass
class Journal:
    wallet: pb.Wallet
    grants: dict[str, str]  # name -> grant id


async def book_journal(stub: ledger_pb2_grpc.LedgerServiceStub, clock: FakeClock) -> Journal:
    """The journal of the module docstring, one step at a time (the clock starts at START, a
    Thursday 00:00 UTC; the wallet has no late-event grace, so expiry is due at expire_time).

    | day | what                                     | burns                      |
    | 0   | promo 20 (prio 0), P1 100 @ 0.5 USD      |                            |
    |     | (prio 1, expires day 3), P2 50 @ 0.4 USD |                            |
    |     | (prio 2); debit 30 chat                  | promo 20, P1 10            |
    | 1   | debit 25 search; refund 5 of it          | P1 25, then P1 +5          |
    | 2   | debit 20 chat                            | P1 20 (P1 has 50 left)     |
    | 3   | expiry of P1's 50; debit 10 chat; void   | P2 10; P2's 40 voided      |
    | 4   | debit 15 search                          | overage 15                 |
    | 5   | P3 40 @ 0.25 USD settles the overage     | P3 15 (25 left)            |
    """
    wallet = await make_wallet(stub, policy=pb.OVERAGE_POLICY_ALLOW_OVERAGE, grace=timedelta(0))
    w = wallet.wallet_id
    names = {
        "promo": await grant(stub, w, "20", pb.GRANT_KIND_PROMOTIONAL, 0),
        "p1": await grant(stub, w, "100", pb.GRANT_KIND_PREPAID, 1, "0.5", START + 3 * DAY),
        "p2": await grant(stub, w, "50", pb.GRANT_KIND_PREPAID, 2, "0.4"),
    }
    clock.set(START + HOUR)
    await stub.Debit(debit_request(w, "30", feature="chat"))
    clock.set(START + DAY + HOUR)
    search = (await stub.Debit(debit_request(w, "25", feature="search"))).entry.entry_id
    clock.set(START + DAY + 2 * HOUR)
    await stub.RefundDebit(pb.RefundDebitRequest(request_id=rid(), entry_id=search, amount="5"))
    clock.set(START + 2 * DAY + HOUR)
    await stub.Debit(debit_request(w, "20", feature="chat"))
    clock.set(START + 3 * DAY + HOUR)
    expired = (await stub.RunExpiry(pb.RunExpiryRequest(wallet_id=w))).entries
    assert [(e.type, e.amount) for e in expired] == [(pb.ENTRY_TYPE_EXPIRY, "-50")]
    clock.set(START + 3 * DAY + 2 * HOUR)
    await stub.Debit(debit_request(w, "10", feature="chat"))
    clock.set(START + 3 * DAY + 3 * HOUR)
    await stub.VoidGrant(pb.VoidGrantRequest(request_id=rid(), grant_id=names["p2"]))
    clock.set(START + 4 * DAY + HOUR)
    await stub.Debit(debit_request(w, "15", feature="search"))
    clock.set(START + 5 * DAY + HOUR)
    names["p3"] = await grant(stub, w, "40", pb.GRANT_KIND_PREPAID, 3, "0.25")
    clock.set(START + 8 * DAY)
    return Journal(wallet, names)
