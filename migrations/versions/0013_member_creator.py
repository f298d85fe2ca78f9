"""Members record who created them.

Four eyes on a large award mean two people: the approver may not be the
requester, nor an account the requester created. ``created_by_id`` says who
added each member; rows made before this revision keep NULL.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_context().dialect.name == 'sqlite':
        # SQLite adds a column with its foreign key inline only; a batch rebuild
        # of ``members`` would trip every foreign key pointing at it.
        op.execute(
            'ALTER TABLE members ADD COLUMN created_by_id INTEGER '
            'CONSTRAINT fk_members_created_by_id_members REFERENCES members (id)'
        )
        return
    op.add_column('members', sa.Column('created_by_id', sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f('fk_members_created_by_id_members'), 'members', 'members', ['created_by_id'], ['id']
    )


def downgrade():
    if op.get_context().dialect.name == 'sqlite':
        # Rebuilt, as SQLite drops no column a table's foreign key names (migration 0019's
        # downgrade leaves it as one); renamed into place the legacy way, as other tables'
        # triggers name ``members``.
        op.execute('PRAGMA legacy_alter_table = ON')
        with op.batch_alter_table('members', recreate='always') as batch:
            batch.drop_column('created_by_id')
        op.execute('PRAGMA legacy_alter_table = OFF')
        return
    op.drop_constraint(op.f('fk_members_created_by_id_members'), 'members', type_='foreignkey')
    op.drop_column('members', 'created_by_id')
