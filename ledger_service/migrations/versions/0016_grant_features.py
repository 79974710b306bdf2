"""grants: the features a grant applies to

`grants.features`: the features (or meters) a scoped grant applies to, sorted; '{}' (every
grant before this revision) means every feature. `ledger_claim_lock_load` (0013) needs no new
version: it returns whole `grants` rows (`SELECT g FROM grants g`), so the new column comes with
them.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "grants",
        sa.Column("features", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
    )


def downgrade() -> None:
    op.drop_column("grants", "features")
