"""holds

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "holds",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("wallet_id", sa.String(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("captured_amount", sa.Numeric(), server_default=sa.text("0"), nullable=False),
        sa.Column("feature", sa.Text(), server_default="", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "holds_active_idx", "holds", ["wallet_id"], postgresql_where=sa.text("state = 'ACTIVE'")
    )
    op.create_index(
        "holds_timeout_idx", "holds", ["expire_time"], postgresql_where=sa.text("state = 'ACTIVE'")
    )
    op.create_table(
        "hold_allocations",
        sa.Column("hold_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.String(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.ForeignKeyConstraint(["hold_id"], ["holds.id"]),
        sa.ForeignKeyConstraint(["grant_id"], ["grants.id"]),
        sa.PrimaryKeyConstraint("hold_id", "position"),
    )


def downgrade() -> None:
    op.drop_table("hold_allocations")
    op.drop_index("holds_timeout_idx", table_name="holds")
    op.drop_index("holds_active_idx", table_name="holds")
    op.drop_table("holds")
