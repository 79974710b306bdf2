"""webhook secrets encrypted at rest, with their key id; the replaced secret of a rotation

Each clear secret is sealed with the ledger's secrets key (the sealer the start-up or the `migrate`
command passes in `config.attributes`), and the clear column goes.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import context, op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SEALER = "secrets_sealer"  # ledger_service.adapters.db.migrate.SEALER


def upgrade() -> None:
    for name, kind in (
        ("secret_key_id", sa.Text()),
        ("secret_ciphertext", sa.LargeBinary()),
        ("previous_secret_key_id", sa.Text()),
        ("previous_secret_ciphertext", sa.LargeBinary()),
        ("previous_secret_expire_time", sa.DateTime(timezone=True)),
    ):
        op.add_column("webhook_endpoints", sa.Column(name, kind, nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, secret FROM webhook_endpoints")).all()
    if rows:
        sealer = context.config.attributes.get(SEALER)
        if sealer is None:
            raise RuntimeError(
                "migration 0011 encrypts the stored webhook secrets and needs the secrets key: "
                "run it through the ledger (serve or migrate) with secrets_key_file or "
                "LEDGER_SECRETS_KEY set"
            )
        for row in rows:
            sealed = sealer.seal(row.secret, row.id)
            conn.execute(
                sa.text(
                    "UPDATE webhook_endpoints SET secret_key_id = :k, secret_ciphertext = :c"
                    " WHERE id = :id"
                ),
                {"k": sealed.key_id, "c": sealed.ciphertext, "id": row.id},
            )
    op.alter_column("webhook_endpoints", "secret_key_id", nullable=False)
    op.alter_column("webhook_endpoints", "secret_ciphertext", nullable=False)
    op.drop_column("webhook_endpoints", "secret")


def downgrade() -> None:
    raise NotImplementedError("the clear secrets are gone; restore from a backup instead")
