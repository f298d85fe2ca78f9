"""PostgreSQL: ``jifen_redeem`` also stores the request's receipt under its
Idempotency-Key, takes ids chosen beforehand, and guards the coupon's status.

The till's path (``app.till``) reads without locking and renders the receipt
before it writes, so one call must do all that the request changes: claim the
key with its stored response, and write the redemption under the ids the
receipt already shows. Nothing is locked between the read and the call, so the
call refuses a coupon whose points or status changed meanwhile (SQLSTATE
23514, constraint ``coupon_points_changed``), and returns no row when the key
was taken meanwhile; either way it has changed nothing, and the till falls
back to the locking path. The locking path passes NULL for the new arguments. The function is in
``0007_redeem.pg.sql``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from pathlib import Path

from alembic import op


# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


OLD_SIGNATURE = (
    "bigint, bigint, bigint, bigint, bigint, bigint, text, text, "
    "bigint, bigint, bigint, bigint, bigint, bigint, bigint, text, text, timestamptz"
)


def load(name: str) -> None:
    """Run the SQL file ``name`` kept beside this migration."""
    op.execute(Path(__file__).with_name(name).read_text())


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION jifen_redeem({OLD_SIGNATURE})")
        load("0007_redeem.pg.sql")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION jifen_redeem")
        op.execute("DROP FUNCTION jifen_move_balance")
        # 0006 created both; its own files bring them back as they were.
        load("0006_move_balance.pg.sql")
        load("0006_redeem.pg.sql")
