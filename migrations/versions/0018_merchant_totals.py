"""A merchant's redemption totals from its history's index alone (PostgreSQL).

Every page of a merchant's history carries the totals of all its redemptions. At
a city's size those rows lie one or two to a page over the whole table, so the
sums read about 1,600 pages for one merchant's 2,400 rows (bench/city.py: the
history at 0.70 of a small database's rate). ``ix_redemptions_merchant`` now
carries the summed columns and the status, so the sums read the index only.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

SUMMED = ["status", "points", "points_value_fen", "discount_fen", "cash_fen", "bill_fen"]


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_redemptions_merchant", table_name="redemptions")
    op.create_index(
        "ix_redemptions_merchant",
        "redemptions",
        ["community_id", "merchant_id", "id"],
        postgresql_include=SUMMED,
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_redemptions_merchant", table_name="redemptions")
    op.create_index("ix_redemptions_merchant", "redemptions", ["community_id", "merchant_id", "id"])
