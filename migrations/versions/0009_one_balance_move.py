"""PostgreSQL: one guarded balance move, ``jifen_move_balances``, for every posting.

Until now the guarded update was written twice for PostgreSQL: in Python
(``app.ledger``) and in PL/pgSQL (``jifen_move_balance``, called by
``jifen_redeem``). Now ``app.ledger.post`` calls ``jifen_move_balances`` on
PostgreSQL and ``jifen_redeem`` calls it too, so the rule has one author per
database (SQLite keeps the Python one). It takes the community and the
accounts' ids and amounts, locks the rows in id order, refuses (returning the
refused account, having changed nothing) when a non-source account would go
below zero, and otherwise moves them all in one UPDATE. The functions are in
``0009_*.pg.sql``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from pathlib import Path

from alembic import op


# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def load(name: str) -> None:
    """Run the SQL file ``name`` kept beside this migration."""
    op.execute(Path(__file__).with_name(name).read_text())


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        load("0009_move_balances.pg.sql")
        load("0009_redeem.pg.sql")
        op.execute("DROP FUNCTION jifen_move_balance(bigint, bigint)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        load("0006_move_balance.pg.sql")
        op.execute("DROP FUNCTION jifen_redeem")
        load("0007_redeem.pg.sql")
        op.execute("DROP FUNCTION jifen_move_balances(bigint, bigint[], bigint[])")
