"""audit: who wrote each journal entry and created each wallet, rule and schedule

`entries.actor`, `wallets.created_by`, `alert_rules.created_by`, `topup_rules.updated_by`,
`allotment_schedules.created_by` and `.ended_by`: the actor of the call ("key:<id>",
"cert:<cn>", "anonymous") or "system" for what the ledger books on its own. Rows written before
this revision keep "" (not recorded).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

AUDITED = [
    ("wallets", "created_by"),
    ("alert_rules", "created_by"),
    ("topup_rules", "updated_by"),
    ("allotment_schedules", "created_by"),
    ("allotment_schedules", "ended_by"),
]


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column("entries", sa.Column("actor", sa.Text, nullable=False, server_default=""))
    for table, column in AUDITED:
        op.add_column(table, sa.Column(column, sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    for table, column in reversed(AUDITED):
        op.drop_column(table, column)
    op.drop_column("entries", "actor")
