"""signals: per-wallet signal policy and evaluation time, open signal episodes

`wallet_signals` holds a wallet's signal policy (NULL: the default) and when the sweeper last
evaluated its signals; `wallet_signal_episodes` one row per episode (BURN_SPIKE, SLOWDOWN,
DEPLETION_EXPECTED), keyed by the wallet event that opened it (written in the same transaction,
under the wallet's lock), open until `close_time`.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "wallet_signals",
        sa.Column("wallet_id", sa.String, sa.ForeignKey("wallets.id"), primary_key=True),
        sa.Column("spike_multiple", sa.Numeric),
        sa.Column("slowdown_fraction", sa.Numeric),
        sa.Column("depletion_days", sa.Integer),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("evaluate_time", TS),
        sa.Column("updated_by", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("wallet_signals_evaluate_idx", "wallet_signals", ["evaluate_time"])
    op.create_table(
        "wallet_signal_episodes",
        sa.Column("event_id", sa.String, primary_key=True),
        sa.Column("wallet_id", sa.String, sa.ForeignKey("wallets.id"), nullable=False),
        sa.Column("signal", sa.Text, nullable=False),
        sa.Column("open_time", TS, nullable=False),
        sa.Column("close_time", TS),
    )
    # At most one open episode per wallet and signal, whatever the process.
    op.create_index(
        "wallet_signal_episodes_open_key",
        "wallet_signal_episodes",
        ["wallet_id", "signal"],
        unique=True,
        postgresql_where=sa.text("close_time IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("wallet_signal_episodes_open_key", "wallet_signal_episodes")
    op.drop_table("wallet_signal_episodes")
    op.drop_index("wallet_signals_evaluate_idx", "wallet_signals")
    op.drop_table("wallet_signals")
