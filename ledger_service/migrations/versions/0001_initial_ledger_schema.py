"""initial ledger schema

Revision ID: 0001
Revises: (none)
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('idempotency_keys',
    sa.Column('request_id', sa.Text(), nullable=False),
    sa.Column('method', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.LargeBinary(), nullable=False),
    sa.Column('response', sa.LargeBinary(), nullable=True),
    sa.Column('create_time', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('request_id')
    )
    op.create_table('wallets',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('customer_id', sa.Text(), nullable=False),
    sa.Column('unit', sa.Text(), nullable=False),
    sa.Column('overage_policy', sa.Text(), nullable=False),
    sa.Column('late_event_grace', sa.Interval(), nullable=False),
    sa.Column('overage', sa.Numeric(), server_default=sa.text('0'), nullable=False),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('create_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seq', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_id', 'unit', name='wallets_customer_unit_key'),
    sa.UniqueConstraint('seq')
    )
    op.create_table('entries',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('seq', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('wallet_id', sa.String(), nullable=False),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('amount', sa.Numeric(), nullable=False),
    sa.Column('occurred_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('book_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('feature', sa.Text(), server_default='', nullable=False),
    sa.Column('source_event_id', sa.Text(), server_default='', nullable=False),
    sa.Column('request_id', sa.Text(), server_default='', nullable=False),
    sa.Column('related_id', sa.Text(), server_default='', nullable=False),
    sa.Column('available_after', sa.Numeric(), nullable=False),
    sa.Column('overage_after', sa.Numeric(), nullable=False),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.ForeignKeyConstraint(['wallet_id'], ['wallets.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq')
    )
    op.create_index('entries_related_idx', 'entries', ['related_id'], unique=False, postgresql_where=sa.text("related_id <> ''"))
    op.create_index('entries_wallet_book_idx', 'entries', ['wallet_id', 'book_time'], unique=False)
    op.create_index('entries_wallet_seq_idx', 'entries', ['wallet_id', 'seq'], unique=False)
    op.create_table('grants',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('wallet_id', sa.String(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('amount', sa.Numeric(), nullable=False),
    sa.Column('remaining', sa.Numeric(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('effective_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expire_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('create_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('void_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expired_amount', sa.Numeric(), server_default=sa.text('0'), nullable=False),
    sa.Column('voided_amount', sa.Numeric(), server_default=sa.text('0'), nullable=False),
    sa.Column('overage_paid', sa.Numeric(), server_default=sa.text('0'), nullable=False),
    sa.Column('overage_returned', sa.Numeric(), server_default=sa.text('0'), nullable=False),
    sa.Column('cost_unit_price', sa.Numeric(), server_default=sa.text('0'), nullable=False),
    sa.Column('cost_currency', sa.Text(), server_default='', nullable=False),
    sa.Column('external_reference', sa.Text(), server_default='', nullable=False),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('seq', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.ForeignKeyConstraint(['wallet_id'], ['wallets.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq')
    )
    op.create_index('grants_live_idx', 'grants', ['wallet_id'], unique=False, postgresql_where=sa.text('remaining > 0 OR overage_paid > overage_returned'))
    op.create_index('grants_wallet_seq_idx', 'grants', ['wallet_id', 'seq'], unique=False)
    op.create_index('grants_expiry_idx', 'grants', ['expire_time'], unique=False, postgresql_where=sa.text('remaining > 0 AND expire_time IS NOT NULL'))
    op.create_table('allocations',
    sa.Column('entry_id', sa.String(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.String(), nullable=True),
    sa.Column('amount', sa.Numeric(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['entries.id'], ),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], ),
    sa.PrimaryKeyConstraint('entry_id', 'position')
    )
    op.create_index('allocations_grant_idx', 'allocations', ['grant_id'], unique=False)


def downgrade() -> None:
    op.drop_index('allocations_grant_idx', table_name='allocations')
    op.drop_table('allocations')
    op.drop_index('grants_expiry_idx', table_name='grants', postgresql_where=sa.text('remaining > 0 AND expire_time IS NOT NULL'))
    op.drop_index('grants_wallet_seq_idx', table_name='grants')
    op.drop_index('grants_live_idx', table_name='grants', postgresql_where=sa.text('remaining > 0 OR overage_paid > overage_returned'))
    op.drop_table('grants')
    op.drop_index('entries_wallet_seq_idx', table_name='entries')
    op.drop_index('entries_wallet_book_idx', table_name='entries')
    op.drop_index('entries_related_idx', table_name='entries', postgresql_where=sa.text("related_id <> ''"))
    op.drop_table('entries')
    op.drop_table('wallets')
    op.drop_table('idempotency_keys')
