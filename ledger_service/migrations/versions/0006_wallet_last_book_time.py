"""the time of each wallet's last booked write (a write's time never goes before it)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("wallets", sa.Column("last_book_time", TS, nullable=True))
    # Every booked write leaves a journal entry (holds too) or a wallet event, at its book_time.
    op.execute(
        """
        UPDATE wallets SET last_book_time = GREATEST(
            create_time,
            (SELECT max(book_time) FROM entries WHERE entries.wallet_id = wallets.id),
            (SELECT max(book_time) FROM wallet_events WHERE wallet_events.wallet_id = wallets.id)
        )
        """
    )
    op.alter_column("wallets", "last_book_time", nullable=False)


def downgrade() -> None:
    op.drop_column("wallets", "last_book_time")
