"""Settlement: statements, payout attempts, merchants' Stripe accounts.

A statement gathers one merchant's redemptions of a month (each redemption
names it through ``statement_id``, which triggers hold to a statement of the
redemption's merchant); partial unique
indexes keep one statement per merchant and month apart from rejected ones, at
most one pending and one succeeded payout attempt per statement. Stripe ids are
unique: a connected account belongs to one merchant, a transfer to one attempt.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('settlement_statements',
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('status', sa.Enum('draft', 'approved', 'paying', 'paid', 'returned', 'rejected', name='statement_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('redemptions', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('points', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rounding_remainder', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('needs_second_approver', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approval_transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('rejected_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('rejected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reject_reason', sa.String(length=500), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(status = 'paid') = (paid_at IS NOT NULL)", name=op.f('ck_settlement_statements_paid_with_time')),
    sa.CheckConstraint("(status = 'rejected') = (rejected_at IS NOT NULL)", name=op.f('ck_settlement_statements_rejected_with_time')),
    sa.CheckConstraint("(status IN ('approved', 'paid', 'paying', 'returned')) = (approval_transaction_id IS NOT NULL) AND (approval_transaction_id IS NULL) = (approved_at IS NULL)", name=op.f('ck_settlement_statements_approved_with_transaction')),
    sa.CheckConstraint('NOT needs_second_approver OR approved_by_id IS NULL OR created_by_id IS NULL OR approved_by_id <> created_by_id', name=op.f('ck_settlement_statements_four_eyes')),
    sa.CheckConstraint('amount_fen >= 0', name=op.f('ck_settlement_statements_amount_nonnegative')),
    sa.CheckConstraint('length(period) = 7', name=op.f('ck_settlement_statements_period_is_month')),
    sa.CheckConstraint('points > 0', name=op.f('ck_settlement_statements_points_positive')),
    sa.CheckConstraint('redemptions > 0', name=op.f('ck_settlement_statements_has_redemptions')),
    sa.CheckConstraint('rounding_remainder >= 0', name=op.f('ck_settlement_statements_remainder_nonnegative')),
    sa.ForeignKeyConstraint(['community_id', 'approval_transaction_id'], ['ledger_transactions.community_id', 'ledger_transactions.id'], name=op.f('fk_settlement_statements_community_id_approval_transaction_id_ledger_transactions')),
    sa.ForeignKeyConstraint(['community_id', 'approved_by_id'], ['members.community_id', 'members.id'], name=op.f('fk_settlement_statements_community_id_approved_by_id_members')),
    sa.ForeignKeyConstraint(['community_id', 'created_by_id'], ['members.community_id', 'members.id'], name=op.f('fk_settlement_statements_community_id_created_by_id_members')),
    sa.ForeignKeyConstraint(['community_id', 'merchant_id'], ['merchants.community_id', 'merchants.id'], name=op.f('fk_settlement_statements_community_id_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['community_id', 'rejected_by_id'], ['members.community_id', 'members.id'], name=op.f('fk_settlement_statements_community_id_rejected_by_id_members')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_settlement_statements_community_id_communities')),
    sa.PrimaryKeyConstraint('community_id', 'id', name=op.f('pk_settlement_statements'))
    )
    with op.batch_alter_table('settlement_statements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_statements_id'), ['id'], unique=False)
        batch_op.create_index('ix_settlement_statements_merchant', ['community_id', 'merchant_id', 'id'], unique=False)
        batch_op.create_index('ix_settlement_statements_period', ['community_id', 'period', 'status'], unique=False)
        batch_op.create_index('uq_settlement_statements_merchant_period', ['community_id', 'merchant_id', 'period'], unique=True, postgresql_where=sa.text("status <> 'rejected'"), sqlite_where=sa.text("status <> 'rejected'"))

    op.create_table('payout_attempts',
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('statement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('method', sa.Enum('stripe', 'bank', name='payout_method', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status', sa.Enum('pending', 'succeeded', 'failed', 'returned', name='payout_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('amount_fen', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('destination', sa.String(length=255), nullable=True),
    sa.Column('stripe_idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('stripe_transfer_id', sa.String(length=255), nullable=True),
    sa.Column('bank_reference', sa.String(length=200), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('return_reason', sa.String(length=500), nullable=True),
    sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('returned_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('return_transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.CheckConstraint("(method = 'stripe') = (stripe_idempotency_key IS NOT NULL) AND (method = 'stripe') = (destination IS NOT NULL) AND (method = 'bank') = (bank_reference IS NOT NULL) AND (method = 'stripe' OR stripe_transfer_id IS NULL)", name=op.f('ck_payout_attempts_method_fields')),
    sa.CheckConstraint("(status = 'failed') = (error IS NOT NULL)", name=op.f('ck_payout_attempts_failed_with_error')),
    sa.CheckConstraint("(status = 'returned') = (return_transaction_id IS NOT NULL) AND (return_transaction_id IS NULL) = (return_reason IS NULL) AND (return_reason IS NULL) = (returned_at IS NULL)", name=op.f('ck_payout_attempts_returned_with_reversal')),
    sa.CheckConstraint("(status IN ('succeeded', 'returned')) = (transaction_id IS NOT NULL) AND (transaction_id IS NULL) = (completed_at IS NULL) AND (method = 'bank' OR status NOT IN ('succeeded', 'returned') OR stripe_transfer_id IS NOT NULL)", name=op.f('ck_payout_attempts_paid_with_transaction')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_payout_attempts_amount_positive')),
    sa.CheckConstraint('number > 0', name=op.f('ck_payout_attempts_number_positive')),
    sa.ForeignKeyConstraint(['community_id', 'created_by_id'], ['members.community_id', 'members.id'], name=op.f('fk_payout_attempts_community_id_created_by_id_members')),
    sa.ForeignKeyConstraint(['community_id', 'return_transaction_id'], ['ledger_transactions.community_id', 'ledger_transactions.id'], name=op.f('fk_payout_attempts_community_id_return_transaction_id_ledger_transactions')),
    sa.ForeignKeyConstraint(['community_id', 'returned_by_id'], ['members.community_id', 'members.id'], name=op.f('fk_payout_attempts_community_id_returned_by_id_members')),
    sa.ForeignKeyConstraint(['community_id', 'statement_id'], ['settlement_statements.community_id', 'settlement_statements.id'], name=op.f('fk_payout_attempts_community_id_statement_id_settlement_statements')),
    sa.ForeignKeyConstraint(['community_id', 'transaction_id'], ['ledger_transactions.community_id', 'ledger_transactions.id'], name=op.f('fk_payout_attempts_community_id_transaction_id_ledger_transactions')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_payout_attempts_community_id_communities')),
    sa.PrimaryKeyConstraint('community_id', 'id', name=op.f('pk_payout_attempts')),
    sa.UniqueConstraint('community_id', 'bank_reference', name=op.f('uq_payout_attempts_community_id_bank_reference')),
    sa.UniqueConstraint('community_id', 'statement_id', 'number', name=op.f('uq_payout_attempts_community_id_statement_id_number')),
    sa.UniqueConstraint('stripe_idempotency_key', name=op.f('uq_payout_attempts_stripe_idempotency_key')),
    sa.UniqueConstraint('stripe_transfer_id', name=op.f('uq_payout_attempts_stripe_transfer_id'))
    )
    with op.batch_alter_table('payout_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payout_attempts_id'), ['id'], unique=False)
        batch_op.create_index('uq_payout_attempts_pending', ['community_id', 'statement_id'], unique=True, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.create_index('uq_payout_attempts_succeeded', ['community_id', 'statement_id'], unique=True, postgresql_where=sa.text("status = 'succeeded'"), sqlite_where=sa.text("status = 'succeeded'"))

    # Plain ADD COLUMN and a unique index: on SQLite a batch rebuild of
    # ``merchants`` would trip every foreign key pointing at it.
    op.add_column('merchants', sa.Column('stripe_account_id', sa.String(length=255), nullable=True))
    op.create_index('uq_merchants_stripe_account_id', 'merchants', ['stripe_account_id'], unique=True)

    # A redemption's statement must exist and be of its merchant. Not a foreign
    # key: PostgreSQL would check a city's month of a million rows one by one,
    # taking most of the settlement's time; these triggers check each UPDATE's
    # rows in one join (PostgreSQL, a statement-level trigger over the changed
    # rows) or each row (SQLite, where that is cheap). ``statement_id`` is not
    # indexed, and redemptions' pages keep room (fillfactor 50), so settling
    # updates each row in place (a HOT update) without touching its indexes.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE redemptions SET (fillfactor = 50)")
        op.execute(PG_CHECK_FUNCTION)
        op.execute(
            "CREATE TRIGGER redemptions_statement_exists AFTER UPDATE ON redemptions"
            " REFERENCING NEW TABLE AS changed FOR EACH STATEMENT"
            " EXECUTE FUNCTION jifen_redemptions_statement_exists()"
        )
        op.execute(PG_KEEP_FUNCTION)
        op.execute(
            "CREATE TRIGGER settlement_statements_keep_lines BEFORE DELETE ON settlement_statements"
            " FOR EACH ROW EXECUTE FUNCTION jifen_statement_keeps_lines()"
        )
    else:
        op.execute(SQLITE_CHECK_TRIGGER)
        op.execute(SQLITE_KEEP_TRIGGER)


PG_CHECK_FUNCTION = """
CREATE FUNCTION jifen_redemptions_statement_exists() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    orphan bigint;
BEGIN
    SELECT changed.id INTO orphan
      FROM changed
     WHERE changed.statement_id IS NOT NULL
       AND NOT EXISTS (
           SELECT 1 FROM settlement_statements s
            WHERE s.community_id = changed.community_id
              AND s.id = changed.statement_id
              AND s.merchant_id = changed.merchant_id)
     LIMIT 1;
    IF orphan IS NOT NULL THEN
        RAISE EXCEPTION 'redemption % names no statement of its merchant', orphan
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = 'redemptions_statement_exists';
    END IF;
    RETURN NULL;
END
$$
"""

PG_KEEP_FUNCTION = """
CREATE FUNCTION jifen_statement_keeps_lines() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM redemptions r
         WHERE r.community_id = OLD.community_id
           AND r.merchant_id = OLD.merchant_id
           AND r.statement_id = OLD.id) THEN
        RAISE EXCEPTION 'statement % still settles redemptions', OLD.id
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = 'settlement_statements_keep_lines';
    END IF;
    RETURN OLD;
END
$$
"""

SQLITE_CHECK_TRIGGER = """
CREATE TRIGGER redemptions_statement_exists
BEFORE UPDATE OF statement_id ON redemptions
WHEN NEW.statement_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM settlement_statements s
     WHERE s.community_id = NEW.community_id
       AND s.id = NEW.statement_id
       AND s.merchant_id = NEW.merchant_id)
BEGIN
    SELECT RAISE(ABORT, 'redemptions_statement_exists: the redemption names no statement of its merchant');
END
"""

SQLITE_KEEP_TRIGGER = """
CREATE TRIGGER settlement_statements_keep_lines
BEFORE DELETE ON settlement_statements
WHEN EXISTS (
    SELECT 1 FROM redemptions r
     WHERE r.community_id = OLD.community_id
       AND r.merchant_id = OLD.merchant_id
       AND r.statement_id = OLD.id)
BEGIN
    SELECT RAISE(ABORT, 'settlement_statements_keep_lines: the statement still settles redemptions');
END
"""


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER settlement_statements_keep_lines ON settlement_statements")
        op.execute("DROP TRIGGER redemptions_statement_exists ON redemptions")
        op.execute("DROP FUNCTION jifen_statement_keeps_lines()")
        op.execute("DROP FUNCTION jifen_redemptions_statement_exists()")
        op.execute("ALTER TABLE redemptions RESET (fillfactor)")
    else:
        op.execute("DROP TRIGGER settlement_statements_keep_lines")
        op.execute("DROP TRIGGER redemptions_statement_exists")

    op.drop_index('uq_merchants_stripe_account_id', table_name='merchants')
    op.drop_column('merchants', 'stripe_account_id')

    with op.batch_alter_table('payout_attempts', schema=None) as batch_op:
        batch_op.drop_index('uq_payout_attempts_succeeded', postgresql_where=sa.text("status = 'succeeded'"), sqlite_where=sa.text("status = 'succeeded'"))
        batch_op.drop_index('uq_payout_attempts_pending', postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_payout_attempts_id'))

    op.drop_table('payout_attempts')
    with op.batch_alter_table('settlement_statements', schema=None) as batch_op:
        batch_op.drop_index('uq_settlement_statements_merchant_period', postgresql_where=sa.text("status <> 'rejected'"), sqlite_where=sa.text("status <> 'rejected'"))
        batch_op.drop_index('ix_settlement_statements_period')
        batch_op.drop_index('ix_settlement_statements_merchant')
        batch_op.drop_index(batch_op.f('ix_settlement_statements_id'))

    op.drop_table('settlement_statements')
