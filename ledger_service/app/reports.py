"""Reports: consumption per wallet (of one wallet, one customer or every customer) and revenue
per customer and in total. Reads only, two statements each; the figures are the domain's
(`domain/reports.py`) over sums the storage makes in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ledger_service.app.core import LedgerCore
from ledger_service.app.ports import LedgerStore
from ledger_service.domain import tenancy
from ledger_service.domain.errors import WalletNotFound
from ledger_service.domain.reports import (
    Bucket,
    ConsumptionReport,
    Movement,
    ReportWallet,
    RevenuePeriod,
    consumption_report,
    revenue_report,
)

# What these use cases can raise (tests/unit/test_use_case_errors.py checks it against the code).
RAISES = (WalletNotFound,)


@dataclass(frozen=True, slots=True)
class ReportRange:
    """[start, end) in buckets; checked by the servicer (end after start, at most
    REPORT_BUCKETS_MAX buckets, a bucket the report accepts)."""

    start: datetime
    end: datetime
    bucket: Bucket


@dataclass(frozen=True, slots=True)
class CustomerRevenue:
    customer_id: str
    periods: list[RevenuePeriod]
    # The page cursor: customers come in the order of their first wallet.
    first_wallet_seq: int = 0


class LedgerReports(LedgerCore):
    async def consumption(
        self,
        wallet_id: str,
        customer_id: str,
        span: ReportRange,
        after_seq: int,
        limit: int,
        customers: tenancy.Customers,
    ) -> list[tuple[ReportWallet, ConsumptionReport]]:
        """One wallet's report; or a page of wallets' (of `customer_id`, or of every customer
        when it is ""), only of the caller's customers. A wallet the caller may not see is
        WALLET_NOT_FOUND, a customer it may not see has no wallets, as for ones that do not
        exist."""
        if customer_id and not tenancy.may_see(customers, customer_id):
            return []

        async def work(repo: LedgerStore) -> list[tuple[ReportWallet, ConsumptionReport]]:
            page = await repo.report_wallets(wallet_id, customer_id, after_seq, limit, customers)
            if wallet_id:
                missing = WalletNotFound(f"wallet {wallet_id!r} does not exist")
                if not page:
                    raise missing
                tenancy.check(customers, page[0].customer_id, missing)
            found = await repo.consumption_movements(
                [w.id for w in page], span.start, span.end, span.bucket
            )
            per_wallet: dict[str, list[Movement]] = {w.id: [] for w in page}
            for m in found:
                per_wallet[m.wallet_id].append(m)
            return [
                (w, consumption_report(per_wallet[w.id], span.start, span.end, span.bucket))
                for w in page
            ]

        return await self.read(work)

    async def revenue(
        self,
        customer_id: str,
        span: ReportRange,
        after_seq: int,
        limit: int,
        customers: tenancy.Customers,
    ) -> tuple[list[CustomerRevenue], list[RevenuePeriod], bool]:
        """A page of at most `limit` customers' revenue reports (only `customer_id`'s when
        set), the total over every customer the caller may see (with `customer_id`: that
        customer's), and whether more customers follow."""
        visible = customers
        if customer_id:
            visible = frozenset({customer_id} if customers is None else {customer_id} & customers)

        async def work(
            repo: LedgerStore,
        ) -> tuple[list[CustomerRevenue], list[RevenuePeriod], bool]:
            listed = await repo.revenue_customers(after_seq, limit + 1, visible)
            page = listed[:limit]
            found = await repo.revenue_movements(
                [c for _, c in page],
                visible,
                span.start,
                span.end,
                span.bucket,
                total=not customer_id,
            )
            reports = [CustomerRevenue(c, _revenue_of(c, found, span), seq) for seq, c in page]
            if customer_id:
                total = reports[0].periods if reports else _revenue_of(None, [], span)
            else:
                total = _revenue_of(None, found, span)
            return reports, total, len(listed) > limit

        return await self.read(work)


def _revenue_of(
    customer_id: str | None, found: list[tuple[str | None, Movement, str, bool]], span: ReportRange
) -> list[RevenuePeriod]:
    """The revenue report of one customer of `found` (None: the total rows)."""
    mine = [(m, unit, opening) for c, m, unit, opening in found if c == customer_id]
    return revenue_report(
        [(m, unit) for m, unit, opening in mine if opening],
        [(m, unit) for m, unit, opening in mine if not opening],
        span.start,
        span.end,
        span.bucket,
    )
