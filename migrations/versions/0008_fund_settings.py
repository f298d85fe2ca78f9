"""Fund settings: which fund reimburses merchants, and the statement approval threshold.

A community holds a charity fund (慈善基金) and a community fund (社区基金); one
of them pays merchants back for redeemed points (the community fund unless the
community says otherwise). Settlement statements above the threshold (¥500 by
default) need a second fund admin to approve.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN, with each column's CHECK inline: on SQLite a batch
    # rebuild of ``communities`` would trip every foreign key pointing at it.
    op.add_column('communities', sa.Column(
        'reimbursing_fund', sa.String(32), sa.CheckConstraint("reimbursing_fund IN ('charity', 'community')", name=op.f('ck_communities_fund')),
        server_default='community', nullable=False))
    op.add_column('communities', sa.Column(
        'statement_approval_threshold_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
        sa.CheckConstraint('statement_approval_threshold_fen >= 0', name=op.f('ck_communities_statement_threshold_nonnegative')),
        server_default='50000', nullable=False))


def downgrade():
    op.drop_column('communities', 'statement_approval_threshold_fen')
    op.drop_column('communities', 'reimbursing_fund')
