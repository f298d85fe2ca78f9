"""Console settings: dated points-per-yuan rates, and communities that can be deactivated.

A community's rate (points per yuan) can change from a given day: each change
is a row of ``points_rates``, keyed ``(community_id, id)``; before the first
row the community's own ``points_per_yuan`` holds. Each redemption already
stores the rate it used. A platform admin can deactivate a community: its
members can no longer sign in, and its books stay as they are.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('points_rates',
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('points_per_yuan', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('points_per_yuan > 0', name=op.f('ck_points_rates_points_per_yuan_positive')),
    sa.ForeignKeyConstraint(['community_id', 'created_by_id'], ['members.community_id', 'members.id'], name=op.f('fk_points_rates_community_id_created_by_id_members')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_points_rates_community_id_communities')),
    sa.PrimaryKeyConstraint('community_id', 'id', name=op.f('pk_points_rates')),
    sa.UniqueConstraint('community_id', 'effective_from', name=op.f('uq_points_rates_community_id_effective_from'))
    )
    with op.batch_alter_table('points_rates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_points_rates_id'), ['id'], unique=False)

    # Plain ADD COLUMN: on SQLite a batch rebuild of ``communities`` would trip
    # every foreign key pointing at it.
    op.add_column('communities', sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade():
    op.drop_column('communities', 'active')

    with op.batch_alter_table('points_rates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_points_rates_id'))

    op.drop_table('points_rates')
