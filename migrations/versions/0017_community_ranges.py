"""Indexes that read one community's ledger entries and coupons as one range.

At a city's size a community's rows lie among every other community's, and the
reconciliation report read them by scanning ``ledger_entries`` and ``coupons``
whole (bench/city.py: 4.5 s for one community's report over ten million
entries). ``ix_ledger_entries_community_id_transaction_id`` takes the place of
the index by ``transaction_id`` alone: every read of a transaction's entries
names its community too (the balance trigger of 0015 included), and on
PostgreSQL it carries what the report's checks sum, so they read it alone.
``ix_coupons_community_id_status`` counts a community's coupons by status.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_ledger_entries_community_id_transaction_id",
        "ledger_entries",
        ["community_id", "transaction_id"],
        postgresql_include=["account_id", "unit", "amount"],
    )
    op.drop_index("ix_ledger_entries_transaction_id", table_name="ledger_entries")
    op.create_index("ix_coupons_community_id_status", "coupons", ["community_id", "status"])


def downgrade():
    op.drop_index("ix_coupons_community_id_status", table_name="coupons")
    op.create_index(
        "ix_ledger_entries_transaction_id",
        "ledger_entries",
        ["transaction_id"],
        postgresql_include=["community_id", "unit", "amount"],
    )
    op.drop_index("ix_ledger_entries_community_id_transaction_id", table_name="ledger_entries")
