"""Ledger rows written with plain SQL, past ``app.ledger``, for the tests of what the
database itself refuses: the guards exist for code that gets ``post`` wrong."""

from contextlib import contextmanager

import sqlalchemy as sa

from app.extensions import db

INSERT_ENTRY = (
    "INSERT INTO ledger_entries (community_id, transaction_id, account_id, unit, amount) "
    "VALUES (:community_id, :transaction_id, :account_id, :unit, :amount)"
)


def raw_transaction(community_id, memo="raw insert") -> int:
    """A ledger transaction row with no entries yet; its id."""
    return db.session.execute(
        sa.text(
            "INSERT INTO ledger_transactions (community_id, kind, memo, created_at) "
            "VALUES (:community_id, 'award', :memo, CURRENT_TIMESTAMP) RETURNING id"
        ),
        {"community_id": community_id, "memo": memo},
    ).scalar_one()


def raw_entry(community_id, transaction_id, account, amount):
    """An entry of ``amount`` on ``account``, in the account's unit."""
    db.session.execute(
        sa.text(INSERT_ENTRY),
        dict(
            community_id=community_id,
            transaction_id=transaction_id,
            account_id=account.id,
            unit=account.unit.value,
            amount=amount,
        ),
    )


@contextmanager
def triggers_off(table: str):
    """The table's triggers off for the statements inside, in the test's own transaction:
    on PostgreSQL by the replica role (all of a session's triggers, until the block ends),
    on SQLite by dropping them and creating them again."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
        try:
            yield
        finally:
            db.session.execute(sa.text("SET LOCAL session_replication_role = DEFAULT"))
        return
    triggers = db.session.execute(
        sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
        {"t": table},
    ).all()
    for name, _sql in triggers:
        db.session.execute(sa.text(f'DROP TRIGGER "{name}"'))
    try:
        yield
    finally:
        for _name, sql in triggers:
            db.session.execute(sa.text(sql))
