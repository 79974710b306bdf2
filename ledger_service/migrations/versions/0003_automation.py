"""wallet events, alert rules, automatic top-ups

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "wallet_events",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("wallet_id", sa.String(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("occurred_time", TS, nullable=False),
        sa.Column("book_time", TS, nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"]),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("wallet_events_wallet_seq_idx", "wallet_events", ["wallet_id", "seq"])
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("wallet_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("threshold", sa.Numeric(), nullable=False),
        sa.Column("min_interval", sa.Interval(), nullable=True),
        sa.Column("armed", sa.Boolean(), nullable=False),
        sa.Column("last_fire_time", TS, nullable=True),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("alert_rules_wallet_idx", "alert_rules", ["wallet_id", "position"])
    op.create_table(
        "topup_rules",
        sa.Column("wallet_id", sa.String(), nullable=False),
        sa.Column("threshold", sa.Numeric(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=True),
        sa.Column("target", sa.Numeric(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("expire_after", sa.Interval(), nullable=True),
        sa.Column("unit_price", sa.Numeric(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("daily_cap", sa.Numeric(), nullable=True),
        sa.Column("monthly_cap", sa.Numeric(), nullable=True),
        sa.Column("payment", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("armed", sa.Boolean(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_after", TS, nullable=True),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"]),
        sa.PrimaryKeyConstraint("wallet_id"),
    )
    op.create_table(
        "topups",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("wallet_id", sa.String(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("unit_price", sa.Numeric(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("create_time", TS, nullable=False),
        sa.Column("end_time", TS, nullable=True),
        sa.Column("grant_id", sa.Text(), server_default="", nullable=False),
        sa.Column("failure_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("expire_time", TS, nullable=True),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq"),
    )
    op.create_index("topups_wallet_seq_idx", "topups", ["wallet_id", "seq"])
    op.create_index("topups_wallet_time_idx", "topups", ["wallet_id", "create_time"])


def downgrade() -> None:
    op.drop_table("topups")
    op.drop_table("topup_rules")
    op.drop_table("alert_rules")
    op.drop_table("wallet_events")
