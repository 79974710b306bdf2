"""audit: who wrote each journal entry and created each wallet

`entries.actor` and `wallets.created_by`: the actor of the call ("key:<id>", "cert:<cn>",
"anonymous") or "system" for what the ledger books on its own. Rows written before this revision
keep "" (not recorded).

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
    op.add_column("entries", sa.Column("actor", sa.Text, nullable=False, server_default=""))
    op.add_column("wallets", sa.Column("created_by", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("wallets", "created_by")
    op.drop_column("entries", "actor")
