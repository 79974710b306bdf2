"""a plan assignment can end: `end_time` (null while it runs on) and `ended_by` (the actor of
EndPlanAssignment, "" while it runs on) on assignments

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
    # A null column and a constant default: PostgreSQL adds them without rewriting the table.
    op.add_column("assignments", sa.Column("end_time", sa.TIMESTAMP(timezone=True), nullable=True))
    op.add_column(
        "assignments", sa.Column("ended_by", sa.Text, nullable=False, server_default="")
    )


def downgrade() -> None:
    op.drop_column("assignments", "ended_by")
    op.drop_column("assignments", "end_time")
