"""PostgreSQL: a redemption's writes in one statement, ``jifen_redeem(...)``.

A till waits on every redemption, and the community's coupon-escrow row is
shared by all of its tills, so on PostgreSQL the writes of a redemption go to
the server as one call instead of a round trip each: the ledger transaction
and its two entries, the coupon's posting and its new state, both guarded
balance moves (escrow or wallet, and the receivable: last, so the shared row
is held briefly, and in account-id order as ``app.ledger.post`` moves them)
and the redemption row, which it returns. The functions are in ``0006_*.pg.sql``.
Python has already read, locked, checked and split the bill
(``app.redemptions.quote``); the function writes what it is told (the
accounts by their keys: a merchant's receivable now exists from the day the
merchant is added, and this migration adds the missing ones), and refuses
(SQLSTATE 23514, the ledger's own check violation) if the coupon or balance no
longer holds what Python saw. SQLite, single-writer, takes the ORM path, and
tests/test_redemption_statement.py holds the two to the same rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from pathlib import Path

from alembic import op


# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def load(name: str) -> None:
    """Run the SQL file ``name`` kept beside this migration."""
    op.execute(Path(__file__).with_name(name).read_text())


#: Every merchant gets its receivable account when it is created; these are the older ones.
RECEIVABLES = """
INSERT INTO accounts (community_id, kind, unit, key, merchant_id, balance, may_go_negative,
                      created_at)
SELECT community_id, 'merchant_receivable', 'points', 'merchant_receivable:merchant:' || id, id,
       0, false, CURRENT_TIMESTAMP
  FROM merchants
 WHERE NOT EXISTS (SELECT 1 FROM accounts
                    WHERE accounts.community_id = merchants.community_id
                      AND accounts.key = 'merchant_receivable:merchant:' || merchants.id)
"""


def upgrade():
    op.execute(RECEIVABLES)
    if op.get_bind().dialect.name == "postgresql":
        load("0006_move_balance.pg.sql")
        load("0006_redeem.pg.sql")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION jifen_redeem")
        op.execute("DROP FUNCTION jifen_move_balance")
