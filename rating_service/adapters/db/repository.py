"""The rating service's storage adapter: one repository over the stores of each aggregate or
read model (`*_store.py`), sharing the caller's connection and transaction.

Ingest works on whole batches so 1,000 events cost a fixed number of round trips. Lock order,
always (the same as README and app/ingest.py): idempotency key -> invoice rows (FOR SHARE, sorted)
-> event ids (by inserting them) -> aggregate keys (advisory locks, sorted). CloseBillingPeriod
takes the invoice row FOR UPDATE.
"""

from __future__ import annotations

from rating_service.adapters.db.catalogue_store import CatalogueStore
from rating_service.adapters.db.charges_store import ChargeStore
from rating_service.adapters.db.events_store import EventStore
from rating_service.adapters.db.fixed_charges_store import FixedChargeStore
from rating_service.adapters.db.idempotency_store import ClaimStore
from rating_service.adapters.db.invoices_store import InvoiceStore
from rating_service.adapters.db.leadership import Leadership
from rating_service.adapters.db.rows import ROWS_PER_STATEMENT, chunks, lock_key, new_id
from rating_service.adapters.db.undos_store import UndoStore
from rating_service.app.records import (
    ChargeRow,
    Claim,
    InvoiceRow,
    StoredPlan,
    StoredPrice,
    UndoRow,
)
from rating_service.domain.batch import AggKey

__all__ = [
    "ROWS_PER_STATEMENT",
    "AggKey",
    "ChargeRow",
    "Claim",
    "InvoiceRow",
    "Leadership",
    "RatingRepository",
    "StoredPlan",
    "StoredPrice",
    "UndoRow",
    "chunks",
    "lock_key",
    "new_id",
]


class RatingRepository(
    ClaimStore,
    CatalogueStore,
    EventStore,
    ChargeStore,
    UndoStore,
    InvoiceStore,
    FixedChargeStore,
):
    """Everything the use cases store and read, on one connection."""
