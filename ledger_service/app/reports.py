"""Reports: consumption per wallet (of one wallet, one customer or every customer) and revenue
per customer and in total. Reads only, in one read transaction each; the figures are the domain's
(`domain/reports.py`) over sums the storage makes in SQL."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from ledger_service.app.core import LedgerCore
from ledger_service.app.ports import LedgerStore
from ledger_service.domain import tenancy
from ledger_service.domain.errors import WalletNotFound
from ledger_service.domain.model import Wallet
from ledger_service.domain.reports import (
    Bucket,
    ConsumptionReport,
    Movement,
    RevenuePeriod,
    consumption_report,
    revenue_report,
)

# What these use cases can raise (tests/unit/test_use_case_errors.py checks it against the code).
RAISES = (WalletNotFound,)


@dataclass(frozen=True, slots=True)
class ReportRange:
    """[start, end) in buckets; checked by the servicer (end after start, at most BUCKETS_MAX
    buckets, a bucket the report accepts)."""

    start: datetime
    end: datetime
    bucket: Bucket


@dataclass(frozen=True, slots=True)
class CustomerRevenue:
    customer_id: str
    periods: list[RevenuePeriod]
    first_wallet_seq: int = 0  # the page cursor: customers come in the order of their first wallet


class LedgerReports(LedgerCore):
    async def consumption(
        self,
        wallet_id: str,
        customer_id: str,
        span: ReportRange,
        after_seq: int,
        limit: int,
        customers: tenancy.Customers,
    ) -> list[tuple[int, Wallet, ConsumptionReport]]:
        """One wallet's report; or a page of wallets' (of `customer_id`, or of every customer
        when it is ""), only of the caller's customers. A wallet the caller may not see is
        WALLET_NOT_FOUND, a customer it may not see has no wallets, as for ones that do not
        exist."""

        async def work(repo: LedgerStore) -> list[tuple[int, Wallet, ConsumptionReport]]:
            if wallet_id:
                wallet, _ = await self._visible_wallet(repo, wallet_id, customers)
                page = [(0, wallet)]
            elif customer_id and not tenancy.may_see(customers, customer_id):
                return []
            else:
                page = await repo.list_wallets(customer_id, after_seq, limit, customers)
            found = await repo.consumption_movements(
                [w.id for _, w in page], span.start, span.end, span.bucket
            )
            return [
                (
                    seq,
                    w,
                    consumption_report(
                        (m for m in found if m.wallet_id == w.id), span.start, span.end, span.bucket
                    ),
                )
                for seq, w in page
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
                [c for _, c in page], span.start, span.end, span.bucket
            )
            reports = [
                replace(self._revenue_of(c, found, span), first_wallet_seq=seq) for seq, c in page
            ]
            if customer_id:
                total = reports[0].periods if reports else self._revenue_of("", [], span).periods
            else:
                together = await repo.revenue_movements(
                    None if visible is None else sorted(visible),
                    span.start,
                    span.end,
                    span.bucket,
                    together=True,
                )
                total = self._revenue_of("", together, span).periods
            return reports, total, len(listed) > limit

        return await self.read(work)

    @staticmethod
    def _revenue_of(
        customer_id: str, found: list[tuple[str, Movement, str, bool]], span: ReportRange
    ) -> CustomerRevenue:
        mine = [(m, unit, opening) for c, m, unit, opening in found if c == customer_id]
        return CustomerRevenue(
            customer_id,
            revenue_report(
                [(m, unit) for m, unit, opening in mine if opening],
                [(m, unit) for m, unit, opening in mine if not opening],
                span.start,
                span.end,
                span.bucket,
            ),
        )
