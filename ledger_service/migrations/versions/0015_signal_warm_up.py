"""signals: a wallet's warm-up days in its signal policy

`wallet_signals.warm_up_days`: the days after a wallet's creation during which none of its
signals fires (NULL: the default, 14).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("wallet_signals", sa.Column("warm_up_days", sa.Integer))


def downgrade() -> None:
    op.drop_column("wallet_signals", "warm_up_days")
