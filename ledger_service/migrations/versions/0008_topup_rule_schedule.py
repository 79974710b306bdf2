"""top-up rules linked to the subscription (allotment schedule) their blocks are bought under

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
    op.add_column("topup_rules", sa.Column("schedule_id", sa.String(), nullable=True))
    op.add_column("topups", sa.Column("schedule_id", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("topups", "schedule_id")
    op.drop_column("topup_rules", "schedule_id")
