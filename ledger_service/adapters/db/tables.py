"""The ledger's tables (SQLAlchemy Core). Amounts are NUMERIC (unconstrained: validation caps
them at 38 significant / 18 fractional digits), times are timestamptz.

Materialised projections of the journal: grants.remaining (and the expired/voided/overage-paid
counters) and wallets.overage. VerifyWallet recomputes them from entries + allocations.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Interval,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from billing_common.api_key_store import api_keys_table
from billing_common.columns import MONEY, TS, money_column

metadata = MetaData()


wallets = Table(
    "wallets",
    metadata,
    Column("id", String, primary_key=True),
    Column("customer_id", Text, nullable=False),
    Column("unit", Text, nullable=False),
    Column("overage_policy", Text, nullable=False),
    Column("late_event_grace", Interval, nullable=False),
    money_column("overage"),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("create_time", TS, nullable=False),
    # When the last write was booked on the wallet: the next write's time is never before it
    # (see ledger.write_time), so book_time is monotone along the wallet's journal.
    Column("last_book_time", TS, nullable=False),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    # Who created it (the actor of the CreateWallet call); "" before it was recorded.
    Column("created_by", Text, nullable=False, server_default=""),
    UniqueConstraint("customer_id", "unit", name="wallets_customer_unit_key"),
)

grants = Table(
    "grants",
    metadata,
    Column("id", String, primary_key=True),
    Column("wallet_id", String, ForeignKey("wallets.id"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("remaining", MONEY, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("effective_time", TS, nullable=False),
    Column("expire_time", TS),
    Column("create_time", TS, nullable=False),
    Column("void_time", TS),
    money_column("expired_amount"),
    money_column("voided_amount"),
    money_column("overage_paid"),
    money_column("overage_returned"),
    money_column("cost_unit_price"),
    Column("cost_currency", Text, nullable=False, server_default=""),
    Column("external_reference", Text, nullable=False, server_default=""),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    # The features a scoped grant applies to, sorted; '{}': every feature.
    Column("features", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    # The grants a write may touch: with a remainder, or owed settlement returns. Keeps the cost
    # of loading a wallet independent of how many grants it ever had.
    Index(
        "grants_live_idx",
        "wallet_id",
        postgresql_where=text("remaining > 0 OR overage_paid > overage_returned"),
    ),
    Index("grants_wallet_seq_idx", "wallet_id", "seq"),
    # The expiry sweep's scan: grants that may still have something to write off.
    Index(
        "grants_expiry_idx",
        "expire_time",
        postgresql_where=text("remaining > 0 AND expire_time IS NOT NULL"),
    ),
)

entries = Table(
    "entries",
    metadata,
    Column("id", String, primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Column("wallet_id", String, ForeignKey("wallets.id"), nullable=False),
    Column("type", Text, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("occurred_time", TS, nullable=False),
    Column("book_time", TS, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("feature", Text, nullable=False, server_default=""),
    Column("source_event_id", Text, nullable=False, server_default=""),
    Column("request_id", Text, nullable=False, server_default=""),
    # Who wrote it (see app/ports.StoredEntry.actor); "" before it was recorded.
    Column("actor", Text, nullable=False, server_default=""),
    Column("related_id", Text, nullable=False, server_default=""),
    Column("available_after", MONEY, nullable=False),
    Column("overage_after", MONEY, nullable=False),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # The pool member it was for ("" for none) and how much went past its budget (0017).
    Column("member_id", Text, nullable=False, server_default=""),
    money_column("over_budget"),
    Index("entries_wallet_seq_idx", "wallet_id", "seq"),
    Index("entries_wallet_book_idx", "wallet_id", "book_time"),
    Index("entries_related_idx", "related_id", postgresql_where=text("related_id <> ''")),
    Index(
        "entries_member_idx",
        "wallet_id",
        "member_id",
        "book_time",
        postgresql_where=text("member_id <> ''"),
    ),
)

allocations = Table(
    "allocations",
    metadata,
    Column("entry_id", String, ForeignKey("entries.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("grant_id", String, ForeignKey("grants.id")),  # NULL: overage
    Column("amount", MONEY, nullable=False),
    Index("allocations_grant_idx", "grant_id"),
)

holds = Table(
    "holds",
    metadata,
    Column("id", String, primary_key=True),
    Column("wallet_id", String, ForeignKey("wallets.id"), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("state", Text, nullable=False),
    Column("create_time", TS, nullable=False),
    Column("expire_time", TS, nullable=False),
    Column("end_time", TS),
    money_column("captured_amount"),
    Column("feature", Text, nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("member_id", Text, nullable=False, server_default=""),  # the pool member (0017)
    # The holds a write must see: not ended yet (timed-out ones until the sweeper releases them).
    Index("holds_active_idx", "wallet_id", postgresql_where=text("state = 'ACTIVE'")),
    Index("holds_timeout_idx", "expire_time", postgresql_where=text("state = 'ACTIVE'")),
)

hold_allocations = Table(
    "hold_allocations",
    metadata,
    Column("hold_id", String, ForeignKey("holds.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("grant_id", String, ForeignKey("grants.id"), nullable=False),
    Column("amount", MONEY, nullable=False),
)

wallet_events = Table(
    "wallet_events",
    metadata,
    # The cursor of WatchWalletEvents: written in the same transaction as the change it reports.
    # Taken by wallet_event_cursor() (migration 0009), which gives the transaction its id first:
    # the settled event horizon relies on it (adapters/db/event_horizon.py).
    Column(
        "seq",
        BigInteger,
        primary_key=True,
        autoincrement=False,
        server_default=text("wallet_event_cursor()"),
    ),
    Column("id", String, nullable=False, unique=True),
    Column("wallet_id", String, ForeignKey("wallets.id"), nullable=False),
    Column("type", Text, nullable=False),
    Column("occurred_time", TS, nullable=False),
    Column("book_time", TS, nullable=False),
    Column("data", JSONB, nullable=False),
    Index("wallet_events_wallet_seq_idx", "wallet_id", "seq"),
)

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", String, primary_key=True),
    Column("wallet_id", String, ForeignKey("wallets.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("threshold", MONEY, nullable=False),
    Column("min_interval", Interval),
    Column("armed", Boolean, nullable=False),
    Column("last_fire_time", TS),
    # Who set the rules (SetAlertRules, or CreateWallet for the defaults); "" before recorded.
    Column("created_by", Text, nullable=False, server_default=""),
    # The pool member whose budget it watches; "" for the wallet's balance (0017).
    Column("member_id", Text, nullable=False, server_default=""),
    Index("alert_rules_wallet_idx", "wallet_id", "position"),
)

topup_rules = Table(
    "topup_rules",
    metadata,
    Column("wallet_id", String, ForeignKey("wallets.id"), primary_key=True),
    Column("threshold", MONEY, nullable=False),
    Column("amount", MONEY),
    Column("target", MONEY),
    Column("kind", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("expire_after", Interval),
    Column("expire_time", TS),
    Column("unit_price", MONEY, nullable=False),
    Column("currency", Text, nullable=False),
    Column("daily_cap", MONEY),
    Column("monthly_cap", MONEY),
    Column("payment", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("armed", Boolean, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("retry_after", TS),
    Column("schedule_id", String),
    # Who set the rule now in force (SetTopUpRule replaces it whole; the ledger's own changes,
    # arming and failures, are not authorship); "" before recorded.
    Column("updated_by", Text, nullable=False, server_default=""),
)

topups = Table(
    "topups",
    metadata,
    Column("id", String, primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Column("wallet_id", String, ForeignKey("wallets.id"), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("unit_price", MONEY, nullable=False),
    Column("currency", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("create_time", TS, nullable=False),
    Column("end_time", TS),
    Column("grant_id", Text, nullable=False, server_default=""),
    Column("failure_reason", Text, nullable=False, server_default=""),
    Column("kind", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("expire_time", TS),
    Column("schedule_id", String),
    Index("topups_wallet_seq_idx", "wallet_id", "seq"),
    Index("topups_wallet_time_idx", "wallet_id", "create_time"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String, primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Column("wallet_id", String, ForeignKey("wallets.id")),  # NULL: every wallet
    Column("url", Text, nullable=False),
    Column("types", ARRAY(Text), nullable=False),  # empty: every type
    Column("description", Text, nullable=False, server_default=""),
    # The signing secret, AES-GCM encrypted (adapters/secrets.py), and the id of its key; during
    # a rotation's overlap window the replaced one too, until previous_secret_expire_time.
    Column("secret_key_id", Text, nullable=False),
    Column("secret_ciphertext", LargeBinary, nullable=False),
    Column("previous_secret_key_id", Text),
    Column("previous_secret_ciphertext", LargeBinary),
    Column("previous_secret_expire_time", TS),
    # The dispatcher's position in wallet_events: every event up to it has its delivery row.
    Column("cursor", BigInteger, nullable=False),
    Column("create_time", TS, nullable=False),
    Column("delete_time", TS),
    Index("webhook_endpoints_active_idx", "seq", postgresql_where=text("delete_time IS NULL")),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String, primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Column("endpoint_id", String, ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("event_seq", BigInteger, ForeignKey("wallet_events.seq"), nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_status_code", Integer),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("next_attempt_time", TS),
    Column("create_time", TS, nullable=False),
    Column("end_time", TS),
    # One delivery per (endpoint, event), however often the dispatcher runs.
    UniqueConstraint("endpoint_id", "event_seq", name="webhook_deliveries_endpoint_event_key"),
    Index("webhook_deliveries_endpoint_seq_idx", "endpoint_id", "seq"),
    # The deliverer's scan: pending deliveries by due time.
    Index(
        "webhook_deliveries_due_idx",
        "next_attempt_time",
        postgresql_where=text("state = 'PENDING'"),
    ),
    # The purge's scan: finished deliveries by the time they ended.
    Index(
        "webhook_deliveries_ended_idx",
        "end_time",
        postgresql_where=text("state <> 'PENDING'"),
    ),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("delivery_id", String, ForeignKey("webhook_deliveries.id"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("attempt_time", TS, nullable=False),
    Column("status_code", Integer),
    Column("error", Text, nullable=False, server_default=""),
)

allotment_schedules = Table(
    "allotment_schedules",
    metadata,
    Column("id", String, primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False, unique=True),
    Column("wallet_id", String, ForeignKey("wallets.id"), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("kind", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("cadence", Text, nullable=False),
    Column("anchor_time", TS, nullable=False),
    Column("expiry", Text, nullable=False),
    Column("expire_after", Interval),
    Column("rollover_cap", MONEY),
    Column("end_time", TS),
    # Periods granted so far: bumped in the same transaction as the grant, under the wallet lock.
    Column("next_index", Integer, nullable=False),
    # When the next period starts: what the sweeper's scan looks at.
    Column("next_time", TS, nullable=False),
    Column("closed", Boolean, nullable=False, server_default=text("false")),
    money_column("unit_price"),
    Column("currency", Text, nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    # Who created it and who ended it (EndAllotmentSchedule); "" when not (yet) recorded.
    Column("created_by", Text, nullable=False, server_default=""),
    Column("ended_by", Text, nullable=False, server_default=""),
    Index("allotment_schedules_wallet_idx", "wallet_id", "seq"),
    Index("allotment_schedules_due_idx", "next_time"),
)

# A pooled wallet's members and their budgets (0017; ledger_service/README.md, "Pooled wallets").
pool_members = Table(
    "pool_members",
    metadata,
    Column("wallet_id", String, ForeignKey("wallets.id"), primary_key=True),
    Column("member_id", Text, primary_key=True),
    Column("budget_amount", MONEY),
    Column("budget_share", MONEY),
    Column("budget_period", Text, nullable=False, server_default=""),
    Column("policy", Text, nullable=False),
    Column("create_time", TS, nullable=False),
    Column("update_time", TS, nullable=False),
    Column("share_period_start", TS),
    Column("share_budget", MONEY),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("request_id", Text, primary_key=True),
    Column("method", Text, nullable=False),
    Column("fingerprint", LargeBinary, nullable=False),
    Column("response", LargeBinary),
    Column("create_time", TS, nullable=False),
)

# API keys (billing_common/api_key_store.py): only their hashes.
api_keys = api_keys_table(metadata)

# Consumption signals (domain/burn.py): a wallet's policy (NULL columns: the defaults) and when
# the sweeper last evaluated it.
wallet_signals = Table(
    "wallet_signals",
    metadata,
    Column("wallet_id", String, ForeignKey("wallets.id"), primary_key=True),
    Column("spike_multiple", MONEY),
    Column("slowdown_fraction", MONEY),
    Column("depletion_days", Integer),
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    Column("evaluate_time", TS),
    Column("updated_by", Text, nullable=False, server_default=""),
    Column("warm_up_days", Integer),
    Index("wallet_signals_evaluate_idx", "evaluate_time"),
)

# Signal episodes: one row per event (BURN_SPIKE, SLOWDOWN, DEPLETION_EXPECTED) the sweeper
# emitted, open until the signal's condition clears (close_time). The partial unique index
# makes a second open episode of the same signal impossible, whatever the process.
wallet_signal_episodes = Table(
    "wallet_signal_episodes",
    metadata,
    Column("event_id", String, primary_key=True),
    Column("wallet_id", String, ForeignKey("wallets.id"), nullable=False),
    Column("signal", Text, nullable=False),
    Column("open_time", TS, nullable=False),
    Column("close_time", TS),
    Index(
        "wallet_signal_episodes_open_key",
        "wallet_id",
        "signal",
        unique=True,
        postgresql_where=text("close_time IS NULL"),
    ),
)
