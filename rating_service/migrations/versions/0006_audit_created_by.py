"""audit: who created each catalogue row and who closed each invoice

`created_by` on meters, price_versions, plans and assignments (rows that are never changed: a
new price is a new version, a new plan a new assignment) and `closed_by` on invoices: the actor
of the call ("key:<id>", "cert:<cn>", "anonymous"). Rows written before this revision keep ""
(not recorded).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CATALOGUE = ("meters", "price_versions", "plans", "assignments")


def upgrade() -> None:
    # A constant default: PostgreSQL adds the columns without rewriting the tables.
    for table in CATALOGUE:
        op.add_column(table, sa.Column("created_by", sa.Text, nullable=False, server_default=""))
    op.add_column("invoices", sa.Column("closed_by", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("invoices", "closed_by")
    for table in CATALOGUE:
        op.drop_column(table, "created_by")
