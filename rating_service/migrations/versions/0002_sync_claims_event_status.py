"""in-progress request claims, event status

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
    op.add_column(
        "idempotency_keys", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "events", sa.Column("status", sa.Text(), server_default="ACCEPTED", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("events", "status")
    op.drop_column("idempotency_keys", "lease_until")
