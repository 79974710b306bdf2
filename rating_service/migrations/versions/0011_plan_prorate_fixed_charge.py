"""a plan may prorate the fixed charge of a first period cut short by the assignment's start
(`prorate_fixed_charge`; false, the whole charge, for every existing plan)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "plans",
        sa.Column("prorate_fixed_charge", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("plans", "prorate_fixed_charge")
