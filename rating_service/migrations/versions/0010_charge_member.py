"""a charge may name the pool member its event was for (`member_id`, empty for none): its debit
names it, so the usage counts against the member's budget in the ledger

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "charges", sa.Column("member_id", sa.Text, nullable=False, server_default="")
    )


def downgrade() -> None:
    op.drop_column("charges", "member_id")
