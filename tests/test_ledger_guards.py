"""The database guards beneath the ledger core: CHECK constraints, composite foreign
keys, and triggers that keep the ledger and the audit log append-only.

They are exercised with raw SQL, bypassing ``post``, because they exist for the code
that gets ``post`` wrong. Each refused statement runs inside a savepoint, so the
test's transaction stays usable afterwards (PostgreSQL aborts a transaction on any
error).
"""

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from support.apps import ON_POSTGRES
from support.books import account, balance_of, count_in, post_award, wallet_account
from support.ledger_sql import INSERT_ENTRY, raw_transaction

from app.extensions import db
from models import AccountKind, AuditEntry, LedgerEntry, LedgerTransaction


def refused(sql, params, *names):
    """Run raw SQL that the database must refuse; return the error text.

    ``names`` are the constraint names the message must carry; SQLite names
    CHECK constraints but not foreign keys, PostgreSQL names both.
    """
    with pytest.raises(IntegrityError) as caught, db.session.begin_nested():
        db.session.execute(sa.text(sql), params)
    message = str(caught.value.orig)
    for name in names:
        assert name in message
    return message


def test_check_refuses_a_zero_entry(community, resident):
    txn_id = raw_transaction(community.id)
    refused(
        INSERT_ENTRY,
        dict(
            community_id=community.id,
            transaction_id=txn_id,
            account_id=wallet_account(resident).id,
            unit="points",
            amount=0,
        ),
        "ck_ledger_entries_amount_nonzero",
    )
    assert count_in(LedgerEntry, community) == 0


def test_check_refuses_a_direct_update_that_makes_a_wallet_negative(community, resident):
    post_award(community, resident, 5)
    refused(
        "UPDATE accounts SET balance = balance - 6 WHERE id = :id",
        {"id": wallet_account(resident).id},
        "ck_accounts_balance_nonnegative",
    )
    assert balance_of(wallet_account(resident)) == 5

    # A source account takes the same update.
    issuance = account(community, AccountKind.ISSUANCE)
    db.session.execute(
        sa.text("UPDATE accounts SET balance = balance - 6 WHERE id = :id"), {"id": issuance.id}
    )
    assert balance_of(issuance) == -11


def test_check_refuses_a_negative_capable_wallet(community, resident):
    refused(
        "UPDATE accounts SET may_go_negative = :yes WHERE id = :id",
        {"id": wallet_account(resident).id, "yes": True},
        "ck_accounts_negative_only_for_sources",
    )
    refused(
        "UPDATE accounts SET unit = 'fen' WHERE id = :id",
        {"id": wallet_account(resident).id},
        "ck_accounts_unit_matches_kind",
    )
    assert not wallet_account(resident).may_go_negative


def test_foreign_key_refuses_an_entry_whose_unit_differs_from_its_account(community, resident):
    txn_id = raw_transaction(community.id)
    message = refused(
        INSERT_ENTRY,
        dict(
            community_id=community.id,
            transaction_id=txn_id,
            account_id=wallet_account(resident).id,
            unit="fen",
            amount=5,
        ),
        *(["fk_ledger_entries_community_id_account_id_unit_accounts"] if ON_POSTGRES else []),
    )
    assert "foreign key" in message.lower()
    assert count_in(LedgerEntry, community) == 0


def test_foreign_key_refuses_an_entry_on_another_communitys_account(
    community, make_community, make_member
):
    stranger = make_member(make_community())
    txn_id = raw_transaction(community.id)
    message = refused(
        INSERT_ENTRY,
        dict(
            community_id=community.id,
            transaction_id=txn_id,
            account_id=wallet_account(stranger).id,
            unit="points",
            amount=5,
        ),
        *(["fk_ledger_entries_community_id_account_id_unit_accounts"] if ON_POSTGRES else []),
    )
    assert "foreign key" in message.lower()
    # Nor may the entry claim the other community to match the account.
    message = refused(
        INSERT_ENTRY,
        dict(
            community_id=stranger.community_id,
            transaction_id=txn_id,
            account_id=wallet_account(stranger).id,
            unit="points",
            amount=5,
        ),
        # PostgreSQL shortens this long name (to 63 characters, hash-suffixed).
        *(["fk_ledger_entries_community_id_transaction_id_"] if ON_POSTGRES else []),
    )
    assert "foreign key" in message.lower()
    assert count_in(LedgerEntry, community) == 0


def test_check_refuses_a_self_reversing_transaction(community):
    txn_id = raw_transaction(community.id)
    refused(
        "INSERT INTO ledger_transactions (id, community_id, kind, memo, reverses_id, created_at) "
        "VALUES (:id, :community_id, 'reversal', 'x', :id, CURRENT_TIMESTAMP)",
        {"id": txn_id + 1000, "community_id": community.id},
        "ck_ledger_transactions_not_self_reversing",
    )
    assert count_in(LedgerTransaction, community) == 1


@pytest.fixture
def audit_row(community, resident):
    entry = AuditEntry(
        community_id=community.id,
        actor_id=resident.id,
        action="award.create",
        method="POST",
        path="/api/v1/x",
        status_code=201,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


@pytest.mark.parametrize(
    ("table", "update"),
    [
        ("ledger_entries", "amount = amount * 2"),
        ("ledger_transactions", "memo = 'rewritten'"),
        ("audit_log", "status_code = 500"),
    ],
)
def test_ledger_and_audit_log_are_append_only(community, resident, audit_row, table, update):
    txn = post_award(community, resident, 25, memo="original")
    clause, row_id = {
        "ledger_entries": ("transaction_id = :id", txn.id),
        "ledger_transactions": ("id = :id", txn.id),
        "audit_log": ("id = :id", audit_row.id),
    }[table]

    # Table names and clauses come from the parameters above, not from input.
    for sql in (
        f"UPDATE {table} SET {update} WHERE {clause}",  # noqa: S608
        f"DELETE FROM {table} WHERE {clause}",  # noqa: S608
    ):
        message = refused(sql, {"id": row_id})
        assert f"{table} is append-only" in message

    amounts = db.session.scalars(
        sa.select(LedgerEntry.amount)
        .where(LedgerEntry.transaction_id == txn.id)
        .order_by(LedgerEntry.id)
    ).all()
    assert amounts == [-25, 25]
    memo = db.session.scalar(
        sa.select(LedgerTransaction.memo).where(LedgerTransaction.id == txn.id)
    )
    assert memo == "original"
    status = db.session.scalar(
        sa.select(AuditEntry.status_code).where(AuditEntry.id == audit_row.id)
    )
    assert status == 201


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["ledger_entries", "ledger_transactions", "audit_log"])
def test_truncate_is_refused_on_postgres(table):
    # Nothing is posted first: PostgreSQL will not even try to TRUNCATE a table
    # with pending deferred trigger events, which would hide the refusal.
    rows = db.session.scalar(sa.text(f"SELECT count(*) FROM {table}"))  # noqa: S608
    message = refused(f"TRUNCATE {table} CASCADE", {})
    assert f"{table} is append-only" in message
    assert db.session.scalar(sa.text(f"SELECT count(*) FROM {table}")) == rows  # noqa: S608
