"""pooled wallets: members of a wallet with a budget per period

`pool_members`: who may spend a wallet (a pool) by name, each with an optional budget (an
absolute amount, or a share of the pool in percent, resolved once per period into
`share_budget` for the period starting at `share_period_start`), its period (`''`: the budget is
for all time) and the policy when it is reached. `entries.member_id` and `holds.member_id` record
the member a debit, capture, refund or hold was for ('' for none); `entries.over_budget` how much
of an ALLOW member's debit went past its budget; `alert_rules.member_id` the member whose budget
a rule watches ('' for the pool's balance). `ledger_claim_lock_load` (0013) needs no new
version: it returns whole `holds` and `alert_rules` rows. The index serves a member's period spend, read
under the wallet's lock.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TIMESTAMP

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TS = TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pool_members",
        sa.Column("wallet_id", sa.String, sa.ForeignKey("wallets.id"), primary_key=True),
        sa.Column("member_id", sa.Text, primary_key=True),
        sa.Column("budget_amount", sa.Numeric),
        sa.Column("budget_share", sa.Numeric),
        sa.Column("budget_period", sa.Text, nullable=False, server_default=""),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("create_time", TS, nullable=False),
        sa.Column("update_time", TS, nullable=False),
        sa.Column("share_period_start", TS),
        sa.Column("share_budget", sa.Numeric),
    )
    op.add_column(
        "entries", sa.Column("member_id", sa.Text, nullable=False, server_default="")
    )
    op.add_column(
        "entries", sa.Column("over_budget", sa.Numeric, nullable=False, server_default="0")
    )
    op.add_column("holds", sa.Column("member_id", sa.Text, nullable=False, server_default=""))
    op.add_column(
        "alert_rules", sa.Column("member_id", sa.Text, nullable=False, server_default="")
    )
    op.create_index(
        "entries_member_idx",
        "entries",
        ["wallet_id", "member_id", "book_time"],
        postgresql_where=sa.text("member_id <> ''"),
    )


def downgrade() -> None:
    op.drop_index("entries_member_idx", table_name="entries")
    op.drop_column("alert_rules", "member_id")
    op.drop_column("holds", "member_id")
    op.drop_column("entries", "over_budget")
    op.drop_column("entries", "member_id")
    op.drop_table("pool_members")
