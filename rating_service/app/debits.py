"""The one way a charge becomes a ledger debit, and a stored charge an API view: shared by
synchronous ingest, the forwarder and the invoice queries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from rating_service.app.ports import DebitItem
from rating_service.app.records import ChargeRow
from rating_service.domain.charges import describe
from rating_service.domain.events import ChargeView
from rating_service.domain.status import ChargeStatus


def debit_item(
    request_id: str,
    wallet_id: str,
    amount: Decimal,
    occurred_time: datetime,
    meter_key: str,
    meter_description: str,
    event_id: str,
    customer_id: str,
    member_id: str = "",
) -> DebitItem:
    """Synchronous ingest and the forwarder must send byte-identical requests for the same
    charge: the ledger answers a retry with the original entry only when the content matches
    (otherwise REQUEST_ID_CONFLICT)."""
    return DebitItem(
        request_id=request_id,
        wallet_id=wallet_id,
        amount=amount,
        occurred_time=occurred_time,
        feature=meter_key,
        source_event_id=event_id,
        customer_id=customer_id,
        description=describe(meter_description or meter_key, event_id),
        member_id=member_id,
    )


def charge_view(c: ChargeRow) -> ChargeView:
    """A stored charge as the API shows it."""
    return ChargeView(
        meter_id=c.meter_id,
        price_id=c.price_id,
        price_version=c.price_version,
        amount=c.amount,
        quantity_before=c.quantity_before,
        quantity_after=c.quantity_after,
        period_start=c.period_start,
        period_end=c.period_end,
        status=ChargeStatus(c.status),
        ledger_entry_id=c.ledger_entry_id,
    )
