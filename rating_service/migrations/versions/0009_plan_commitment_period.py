"""a plan's minimum commitment can be measured per commitment year (`commitment_period`, ANNUAL)
as well as per billing period (PER_PERIOD, what every existing plan keeps)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "plans",
        sa.Column("commitment_period", sa.Text, nullable=False, server_default="PER_PERIOD"),
    )


def downgrade() -> None:
    op.drop_column("plans", "commitment_period")
