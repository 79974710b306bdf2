"""recurring allotments, absolute expiry of top-up credits

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "allotment_schedules",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("wallet_id", sa.String(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("cadence", sa.Text(), nullable=False),
        sa.Column("anchor_time", TS, nullable=False),
        sa.Column("expiry", sa.Text(), nullable=False),
        sa.Column("expire_after", sa.Interval(), nullable=True),
        sa.Column("rollover_cap", sa.Numeric(), nullable=True),
        sa.Column("end_time", TS, nullable=True),
        sa.Column("next_index", sa.Integer(), nullable=False),
        sa.Column("next_time", TS, nullable=False),
        sa.Column("closed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("unit_price", sa.Numeric(), server_default=sa.text("0"), nullable=False),
        sa.Column("currency", sa.Text(), server_default="", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["wallet_id"], ["wallets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq"),
    )
    op.create_index("allotment_schedules_wallet_idx", "allotment_schedules", ["wallet_id", "seq"])
    op.create_index("allotment_schedules_due_idx", "allotment_schedules", ["next_time"])
    op.add_column("topup_rules", sa.Column("expire_time", TS, nullable=True))


def downgrade() -> None:
    op.drop_column("topup_rules", "expire_time")
    op.drop_table("allotment_schedules")
