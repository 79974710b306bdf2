"""api_keys: the service's API keys, each stored only as the SHA-256 of the key

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        # NULL: every customer; else the customers the key is bound to.
        sa.Column("customers", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False, unique=True),
        sa.Column("created_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_time", sa.DateTime(timezone=True), nullable=True),
        # CreateApiKey's idempotency: its request id and a hash of the request (never the key).
        sa.Column("request_id", sa.Text(), nullable=True, unique=True),
        sa.Column("request_fingerprint", sa.LargeBinary(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
