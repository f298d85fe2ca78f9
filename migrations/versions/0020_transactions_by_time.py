"""A community's ledger transactions by time from their index alone (PostgreSQL).

The reconciliation report, the month close and an issuance run read one
community's transactions by time, and need of each only its id, kind and what
it reverses. At a city's size those rows lie two to a page among fifty
communities' (the heap is in the order they were posted), so each such read
visited about 45,000 pages for one community's 100,000 transactions
(``bin/bench profile city``: the report in total at 3.2 times the small
database's time, and the coupon run's eligibility at 2.4 times).
``ix_ledger_transactions_community_created_at`` now carries those columns, so
the reads take them from the index, where a community's rows lie together. It
replaces the index of the same key, so a posting still writes one entry to it.

Built without ``CONCURRENTLY``, as 0017's: writes to the table wait while it is
built, seconds at the city benchmark's size.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

INDEX = "ix_ledger_transactions_community_created_at"
CARRIED = ["id", "kind", "reverses_id"]


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="ledger_transactions")
    op.create_index(
        INDEX, "ledger_transactions", ["community_id", "created_at"], postgresql_include=CARRIED
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="ledger_transactions")
    op.create_index(INDEX, "ledger_transactions", ["community_id", "created_at"])
