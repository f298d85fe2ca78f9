"""PostgreSQL: a ledger transaction's balance is summed once per transaction, not
once per entry (``0015_balanced_once.pg.sql``).

The deferred balance trigger summed the whole transaction for each of its entries,
so a transaction of n entries cost n * n: the reason a convert run's coupons were
funded a hundred wallets per transaction. Nothing else changes: every entry's
trigger still fires, and any entry that is not followed, in id order, by another
of the same transaction inserted with it sums the transaction.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from pathlib import Path

from alembic import op

# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

#: Migration 0001's body, as that migration made it (migration history never changes).
SUM_FOR_EVERY_ENTRY = """
CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    off record;
BEGIN
    SELECT unit, SUM(amount) AS total INTO off
      FROM ledger_entries
     WHERE transaction_id = NEW.transaction_id
     GROUP BY unit
    HAVING SUM(amount) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: % sum to %',
            NEW.transaction_id, off.unit, off.total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entries_balanced';
    END IF;
    RETURN NULL;
END $$;
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(Path(__file__).with_name("0015_balanced_once.pg.sql").read_text())


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(SUM_FOR_EVERY_ENTRY)
