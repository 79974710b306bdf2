"""webhook retention: finished deliveries by end time, for the purge

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "webhook_deliveries_ended_idx",
        "webhook_deliveries",
        ["end_time"],
        postgresql_where=sa.text("state <> 'PENDING'"),
    )


def downgrade() -> None:
    op.drop_index("webhook_deliveries_ended_idx", table_name="webhook_deliveries")
