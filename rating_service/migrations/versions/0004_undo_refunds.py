"""undo_refunds: the refunds a synchronous refusal owes, delivered until acknowledged

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "undo_refunds",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("meter_id", sa.Text(), nullable=False),
        sa.Column("wallet_id", sa.Text(), nullable=False),
        sa.Column("debit_entry_id", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("ledger_request_id", sa.Text(), nullable=False, unique=True),
        sa.Column("ledger_entry_id", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("internal_errors", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("forward_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "undo_refunds_pending_idx",
        "undo_refunds",
        ["forward_after", "id"],
        postgresql_where=sa.text("status = 'PENDING'"),
    )


def downgrade() -> None:
    op.drop_index("undo_refunds_pending_idx", table_name="undo_refunds")
    op.drop_table("undo_refunds")
