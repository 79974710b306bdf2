"""a plan's fixed charge can be debited each period (`fixed_charge_collection`, INVOICE for every
existing plan) and a plan can have a minimum commitment per period (`minimum_commitment`, 0: none);
`fixed_charges`: one row per (assignment, period) whose fixed charge is debited, written before it
is sent, so a crash loses nothing and a restart books nothing twice

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Constant defaults: PostgreSQL adds these columns without rewriting the table.
    op.add_column(
        "plans",
        sa.Column("fixed_charge_collection", sa.Text, nullable=False, server_default="INVOICE"),
    )
    op.add_column(
        "plans",
        sa.Column("minimum_commitment", sa.Numeric, nullable=False, server_default=sa.text("0")),
    )
    op.create_table(
        "fixed_charges",
        sa.Column("assignment_id", sa.Text, primary_key=True),
        sa.Column("period_start", sa.TIMESTAMP(timezone=True), primary_key=True),
        sa.Column("period_end", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("wallet_id", sa.Text, nullable=False),
        sa.Column("amount", sa.Numeric, nullable=False),
        sa.Column("ledger_request_id", sa.Text, nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("forward_after", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("create_time", sa.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("ledger_entry_id", sa.Text, nullable=False, server_default=""),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("internal_errors", sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    op.create_index(
        "fixed_charges_due_idx",
        "fixed_charges",
        ["forward_after"],
        postgresql_where=sa.text("status = 'PENDING'"),
    )


def downgrade() -> None:
    op.drop_table("fixed_charges")
    op.drop_column("plans", "minimum_commitment")
    op.drop_column("plans", "fixed_charge_collection")
