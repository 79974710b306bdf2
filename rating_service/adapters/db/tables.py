"""The rating service's tables (SQLAlchemy Core). Amounts and quantities are NUMERIC, times are
timestamptz. The service owns this database; the ledger's money state is reached only over gRPC.

- events: every accepted event, once (its id is the dedup key).
- aggregates: the materialised aggregate per (assignment, meter, period), changed in the same
  transaction as the event that changes it; unique_values backs UNIQUE_COUNT.
- charges: one per (event, meter): the incremental charge and where it stands with the ledger;
  refund_parts: how a negative charge is returned from earlier debits.
- undo_refunds: refunds owed by a synchronous refusal (the debits the ledger booked on an event's
  other meters), recorded with the decision and delivered until the ledger acknowledges them.
- invoices: one row per (assignment, period); a FINAL invoice keeps a snapshot and never changes.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from billing_common.api_key_store import api_keys_table
from billing_common.columns import MONEY, TS, money_column

metadata = MetaData()


idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("request_id", Text, primary_key=True),
    Column("method", Text, nullable=False),
    Column("fingerprint", LargeBinary, nullable=False),
    # NULL while the request is in progress (synchronous ingest claims first, in its own
    # transaction); a retry meanwhile is told to retry later.
    Column("response", LargeBinary, nullable=True),
    Column("create_time", TS, nullable=False),
    # In-progress claims only: after this instant the claim's holder is presumed dead (a crash)
    # and a retry takes the request over. Renewed before each event of a synchronous request.
    Column("lease_until", TS, nullable=True),
)

meters = Table(
    "meters",
    metadata,
    Column("id", Text, primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Column("key", Text, nullable=False, unique=True),
    Column("event_type", Text, nullable=False),
    Column("aggregation", Text, nullable=False),
    Column("value_property", Text, nullable=False, server_default=""),
    Column("filters", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("description", Text, nullable=False, server_default=""),
    Column("create_time", TS, nullable=False),
    # Who created it: the caller's actor ("key:<id>", "cert:<cn>", "anonymous"); "" before it
    # was recorded. Catalogue rows are never changed (a new price is a new version), so this is
    # their whole audit.
    Column("created_by", Text, nullable=False, server_default=""),
)

price_versions = Table(
    "price_versions",
    metadata,
    Column("price_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Column("meter_id", Text, nullable=False),
    Column("unit", Text, nullable=False),
    Column("model", Text, nullable=False),
    money_column("unit_price"),
    money_column("package_size"),
    money_column("package_price"),
    # [{"up_to": "100" | null, "unit_price": "0.1", "flat_price": "0"}]: decimal strings, exact.
    Column("tiers", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("effective_time", TS, nullable=False),
    Column("create_time", TS, nullable=False),
    # Who created it: the caller's actor ("key:<id>", "cert:<cn>", "anonymous"); "" before it
    # was recorded. Catalogue rows are never changed (a new price is a new version), so this is
    # their whole audit.
    Column("created_by", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("price_id", "version"),
    UniqueConstraint("price_id", "effective_time", name="price_versions_effective_key"),
)

plans = Table(
    "plans",
    metadata,
    Column("id", Text, primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Column("name", Text, nullable=False, server_default=""),
    Column("cadence", Text, nullable=False),
    Column("billing_anchor", TS, nullable=True),
    money_column("fixed_charge"),
    Column("unit", Text, nullable=False),
    # FixedChargeCollection: INVOICE (only invoiced) or DEBIT (debited each period).
    Column("fixed_charge_collection", Text, nullable=False, server_default="INVOICE"),
    money_column("minimum_commitment"),
    # CommitmentPeriod: PER_PERIOD (each billing period) or ANNUAL (each commitment year).
    Column("commitment_period", Text, nullable=False, server_default="PER_PERIOD"),
    # A first period cut short by the assignment's start pays its share of the fixed charge.
    Column("prorate_fixed_charge", Boolean, nullable=False, server_default=text("false")),
    # [{"price_id": "...", "included_quantity": "100"}]
    Column("prices", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("create_time", TS, nullable=False),
    # Who created it: the caller's actor ("key:<id>", "cert:<cn>", "anonymous"); "" before it
    # was recorded. Catalogue rows are never changed (a new price is a new version), so this is
    # their whole audit.
    Column("created_by", Text, nullable=False, server_default=""),
)

assignments = Table(
    "assignments",
    metadata,
    Column("id", Text, primary_key=True),
    Column("customer_id", Text, nullable=False),
    Column("plan_id", Text, nullable=False),
    Column("wallet_id", Text, nullable=False),
    Column("start_time", TS, nullable=False),
    Column("create_time", TS, nullable=False),
    # Who created it: the caller's actor ("key:<id>", "cert:<cn>", "anonymous"); "" before it
    # was recorded. Catalogue rows are never changed (a new price is a new version), so this is
    # their whole audit.
    Column("created_by", Text, nullable=False, server_default=""),
    # When the plan ends (EndPlanAssignment, the one change an assignment takes); null while it
    # runs on. `ended_by`: that call's actor ("" while it runs on).
    Column("end_time", TS, nullable=True),
    Column("ended_by", Text, nullable=False, server_default=""),
    UniqueConstraint("customer_id", "start_time", name="assignments_customer_start_key"),
)

events = Table(
    "events",
    metadata,
    Column("id", Text, primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Column("customer_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("occurred_time", TS, nullable=False),
    Column("properties", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("assignment_id", Text, nullable=False),
    Column("accept_time", TS, nullable=False),
    # ACCEPTED; HELD while a synchronous caller waits for the ledger (a duplicate is told to
    # retry); DENIED when a synchronous refusal undid it (it counts nowhere, the id stays taken).
    Column("status", Text, nullable=False, server_default="ACCEPTED"),
    Index("events_customer_type_time_idx", "customer_id", "type", "occurred_time"),
)

aggregates = Table(
    "aggregates",
    metadata,
    Column("assignment_id", Text, nullable=False),
    Column("meter_id", Text, nullable=False),
    Column("period_start", TS, nullable=False),
    Column("period_end", TS, nullable=False),
    money_column("quantity"),
    Column("latest_time", TS, nullable=True),
    Column("latest_event_id", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("assignment_id", "meter_id", "period_start"),
)

unique_values = Table(
    "unique_values",
    metadata,
    Column("assignment_id", Text, nullable=False),
    Column("meter_id", Text, nullable=False),
    Column("period_start", TS, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("assignment_id", "meter_id", "period_start", "value"),
)

charges = Table(
    "charges",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("meter_id", Text, nullable=False),
    Column("price_id", Text, nullable=False),
    Column("price_version", Integer, nullable=False),
    Column("assignment_id", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("wallet_id", Text, nullable=False),
    Column("period_start", TS, nullable=False),
    Column("period_end", TS, nullable=False),
    Column("occurred_time", TS, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("quantity_before", MONEY, nullable=False),
    Column("quantity_after", MONEY, nullable=False),
    # PENDING -> ACKNOWLEDGED | DENIED | FAILED (a permanent ledger refusal other than DENY)
    Column("status", Text, nullable=False),
    Column("ledger_request_id", Text, nullable=False, unique=True),
    Column("ledger_entry_id", Text, nullable=False, server_default=""),
    # Positive charges: how much later negative charges have taken back.
    money_column("refunded"),
    # Negative charges: the part no earlier debit could return (their debits were denied).
    money_column("unrefundable"),
    # How the ledger covered the charge (signed like amount): by grant kind, and overage.
    money_column("prepaid"),
    money_column("promotional"),
    money_column("overage"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    # How many of those attempts the ledger answered INTERNAL (or UNKNOWN, DATA_LOSS): only
    # `ForwarderPolicy.internal_answers_max` are retried, then the charge is FAILED.
    Column("internal_errors", Integer, nullable=False, server_default=text("0")),
    Column("forward_after", TS, nullable=False),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("create_time", TS, nullable=False),
    # The pool member the event was for (its debit names it); empty for none.
    Column("member_id", Text, nullable=False, server_default=""),
    UniqueConstraint("event_id", "meter_id", name="charges_event_meter_key"),
    Index(
        "charges_pending_idx", "forward_after", "id", postgresql_where=text("status = 'PENDING'")
    ),
    Index("charges_aggregate_idx", "assignment_id", "meter_id", "period_start", "id"),
)

refund_parts = Table(
    "refund_parts",
    metadata,
    Column("charge_id", BigInteger, nullable=False),
    Column("debit_charge_id", BigInteger, nullable=False),
    Column("debit_entry_id", Text, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("ledger_request_id", Text, nullable=False, unique=True),
    Column("ledger_entry_id", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("charge_id", "debit_charge_id"),
)

undo_refunds = Table(
    "undo_refunds",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("meter_id", Text, nullable=False),
    Column("wallet_id", Text, nullable=False),
    # The booked debit to refund in full, and the exact RefundDebit request (stored, so every
    # attempt sends the same bytes and the ledger replays rather than conflicting).
    Column("debit_entry_id", Text, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("description", Text, nullable=False),
    Column("ledger_request_id", Text, nullable=False, unique=True),
    Column("ledger_entry_id", Text, nullable=False, server_default=""),
    # PENDING -> DONE | FAILED (a permanent refusal, or the last of the bounded INTERNAL answers)
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("internal_errors", Integer, nullable=False, server_default=text("0")),
    Column("forward_after", TS, nullable=False),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("create_time", TS, nullable=False),
    Index(
        "undo_refunds_pending_idx",
        "forward_after",
        "id",
        postgresql_where=text("status = 'PENDING'"),
    ),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Text, primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Column("customer_id", Text, nullable=False),
    Column("assignment_id", Text, nullable=False),
    Column("period_start", TS, nullable=False),
    Column("period_end", TS, nullable=False),
    Column("status", Text, nullable=False, server_default="DRAFT"),
    Column("close_time", TS, nullable=True),
    # Who closed it (the CloseBillingPeriod caller's actor); "" while DRAFT.
    Column("closed_by", Text, nullable=False, server_default=""),
    # The FINAL invoice as computed at close (JSON of decimal strings); null while DRAFT.
    Column("snapshot", JSONB, nullable=True),
    UniqueConstraint("assignment_id", "period_start", name="invoices_assignment_period_key"),
    Index("invoices_customer_period_idx", "customer_id", "period_start"),
)

# API keys (billing_common/api_key_store.py): only their hashes.
api_keys = api_keys_table(metadata)


# A plan's fixed charge per period, debited from the wallet (FixedChargeCollection.DEBIT): one row
# per (assignment, period start), written before it is sent (app/fixed_charges.py).
fixed_charges = Table(
    "fixed_charges",
    metadata,
    Column("assignment_id", Text, primary_key=True),
    Column("period_start", TS, primary_key=True),
    Column("period_end", TS, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("wallet_id", Text, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("ledger_request_id", Text, nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("forward_after", TS, nullable=False),
    Column("create_time", TS, nullable=False),
    Column("ledger_entry_id", Text, nullable=False, server_default=""),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("internal_errors", Integer, nullable=False, server_default=text("0")),
    Index("fixed_charges_due_idx", "forward_after", postgresql_where=text("status = 'PENDING'")),
)
