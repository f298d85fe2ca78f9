"""What only real commits and real concurrency on PostgreSQL can show.

These tests commit for real (``committing_app``), so each creates a community
of its own under a unique slug and leaves it consistent; nothing is truncated
or dropped.
"""

import json
import uuid
from collections import Counter
from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from support.books import balance_of, postings_of, transaction_count
from support.concurrency import (
    award_request,
    concurrently,
    invoke_reconcile,
    new_community,
)
from support.ledger_sql import raw_entry, raw_transaction
from support.names import unique
from support.problems import PROBLEM

from app import ledger
from app.extensions import db
from app.reconciliation import reconcile
from models import (
    Account,
    AccountKind,
    Award,
    AwardStatus,
    Fund,
    IdempotencyKey,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
    utcnow,
)

pytestmark = pytest.mark.postgres


def unit_totals(community_id) -> dict[str, int]:
    rows = db.session.execute(
        sa.select(Account.unit, sa.func.sum(Account.balance))
        .where(Account.community_id == community_id)
        .group_by(Account.unit)
    ).all()
    return {unit.value: int(total) for unit, total in rows}


# ---------------------------------------------------------------------------
# the deferred constraint trigger


def entries_of(transaction_id) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(LedgerEntry)
        .where(LedgerEntry.transaction_id == transaction_id)
    )


UNBALANCED = {
    "one-entry": [("wallet", 10)],
    "two-entries-off-by-one": [("issuance", -10), ("wallet", 9)],
    "balanced-only-across-units": [("issuance", -10), ("cash", 10)],
}


@pytest.mark.parametrize("legs", list(UNBALANCED.values()), ids=list(UNBALANCED))
def test_unbalanced_raw_insert_is_refused_at_commit(pg, legs):
    setup = new_community()
    accounts = {
        "wallet": setup.wallet,
        "issuance": setup.account(AccountKind.ISSUANCE),
        "cash": setup.account(AccountKind.FUND_CASH, fund=Fund.COMMUNITY),
    }
    community_id = setup.community.id
    txn_id = raw_transaction(community_id, "unbalanced")
    for name, amount in legs:
        raw_entry(community_id, txn_id, accounts[name], amount)

    # Accepted at INSERT time: the trigger is deferred to the commit.
    assert entries_of(txn_id) == len(legs)

    with pytest.raises(IntegrityError) as caught:
        db.session.commit()

    error = caught.value.orig
    assert isinstance(error, psycopg.errors.CheckViolation)
    assert error.sqlstate == "23514"
    assert error.diag.constraint_name == "ledger_entries_balanced"
    assert f"ledger transaction {txn_id} does not balance" in str(error)
    db.session.rollback()
    assert transaction_count(community_id) == 0
    assert entries_of(txn_id) == 0


def test_an_entry_added_later_to_a_committed_transaction_is_refused(pg):
    setup = new_community(points=100)
    original = db.session.scalar(
        sa.select(LedgerTransaction).where(LedgerTransaction.community_id == setup.community.id)
    )
    raw_entry(setup.community.id, original.id, setup.wallet, 5)

    with pytest.raises(IntegrityError) as caught:
        db.session.commit()

    assert caught.value.orig.sqlstate == "23514"
    db.session.rollback()
    assert entries_of(original.id) == 2


def _many_legs(community_id, txn_id, account, amounts) -> None:
    """``amounts`` on ``account`` in one multi-row INSERT: consecutive ids, one (sub)transaction."""
    db.session.execute(
        sa.text(
            "INSERT INTO ledger_entries (community_id, transaction_id, account_id, unit, amount) "
            "SELECT :community_id, :txn_id, :account_id, :unit, a FROM unnest(:amounts) AS a"
        ),
        dict(
            community_id=community_id,
            txn_id=txn_id,
            account_id=account.id,
            unit=account.unit.value,
            amounts=amounts,
        ),
    )


@pytest.mark.parametrize("off_at", [0, 50, 100])
def test_a_transaction_of_many_legs_off_by_one_is_refused(pg, off_at):
    """The balance is summed once per run of entries, by its last: a leg off
    anywhere in a hundred-and-one still fails the commit."""
    setup = new_community()
    issuance, wallet = setup.account(AccountKind.ISSUANCE), setup.wallet
    community_id = setup.community.id
    txn_id = raw_transaction(community_id, "many legs")
    amounts = [1] * 100
    amounts.insert(off_at, -100 + 1)
    _many_legs(community_id, txn_id, wallet, amounts[:50])
    _many_legs(community_id, txn_id, issuance, amounts[50:])
    with pytest.raises(IntegrityError) as caught:
        db.session.commit()
    assert caught.value.orig.diag.constraint_name == "ledger_entries_balanced"
    db.session.rollback()
    assert entries_of(txn_id) == 0


def test_an_entry_added_in_a_savepoint_is_summed(pg):
    """An entry that follows a balanced run but came from another (sub)transaction
    does not let the run's last entry skip the sum."""
    setup = new_community()
    issuance, wallet = setup.account(AccountKind.ISSUANCE), setup.wallet
    community_id = setup.community.id
    txn_id = raw_transaction(community_id, "savepoint")
    _many_legs(community_id, txn_id, issuance, [-60])
    _many_legs(community_id, txn_id, wallet, [30, 30])
    with db.session.begin_nested():
        raw_entry(community_id, txn_id, wallet, 5)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()

    txn_id = raw_transaction(community_id, "savepoint rolled back")
    _many_legs(community_id, txn_id, issuance, [-60])
    _many_legs(community_id, txn_id, wallet, [30, 30])
    savepoint = db.session.begin_nested()
    raw_entry(community_id, txn_id, wallet, 5)
    savepoint.rollback()
    db.session.commit()
    assert entries_of(txn_id) == 3


def test_an_entry_slipped_in_before_a_committed_one_is_summed(pg):
    """An entry given an id just below one of a committed transaction's entries is
    followed by it, but not from the same transaction: it sums, and is refused."""
    setup = new_community()
    issuance, wallet = setup.account(AccountKind.ISSUANCE), setup.wallet
    community_id = setup.community.id
    txn_id = raw_transaction(community_id, "explicit ids")
    top = db.session.scalar(sa.text("SELECT max(id) FROM ledger_entries")) + 1000
    insert = (
        "INSERT INTO ledger_entries (id, community_id, transaction_id, account_id, unit, amount) "
        "VALUES (:id, :community_id, :txn_id, :account_id, 'points', :amount)"
    )
    for offset, account, amount in ((0, issuance, -40), (1, wallet, 40)):
        db.session.execute(
            sa.text(insert),
            dict(id=top + offset, community_id=community_id, txn_id=txn_id,
                 account_id=account.id, amount=amount),
        )  # fmt: skip
    db.session.commit()

    db.session.execute(
        sa.text(insert),
        dict(id=top - 1, community_id=community_id, txn_id=txn_id,
             account_id=wallet.id, amount=5),
    )  # fmt: skip
    with pytest.raises(IntegrityError) as caught:
        db.session.commit()
    assert caught.value.orig.diag.constraint_name == "ledger_entries_balanced"
    db.session.rollback()
    assert entries_of(txn_id) == 2


def test_balanced_raw_insert_commits(pg):
    setup = new_community()
    issuance, wallet = setup.account(AccountKind.ISSUANCE), setup.wallet
    community_id = setup.community.id
    txn_id = raw_transaction(community_id, "balanced by hand")
    raw_entry(community_id, txn_id, issuance, -70)
    raw_entry(community_id, txn_id, wallet, 70)
    for account, amount in ((issuance, -70), (wallet, 70)):
        db.session.execute(
            sa.text("UPDATE accounts SET balance = balance + :amount WHERE id = :id"),
            {"amount": amount, "id": account.id},
        )

    db.session.commit()

    assert transaction_count(community_id) == 1
    assert entries_of(txn_id) == 2
    assert balance_of(wallet) == 70
    assert reconcile(setup.community).ok


def test_a_transaction_posted_through_the_ledger_commits(pg):
    setup = new_community()
    income = setup.account(AccountKind.INCOME)
    cash = setup.account(AccountKind.FUND_CASH, fund=Fund.CHARITY)
    issuance = setup.account(AccountKind.ISSUANCE)
    ledger.post(
        setup.community.id,
        TransactionKind.DONATION,
        [(income, -5_000), (cash, 5_000), (issuance, -3), (setup.wallet, 3)],
        memo="mixed units",
    )
    db.session.commit()
    assert balance_of(cash) == 5_000
    assert unit_totals(setup.community.id) == {"points": 0, "fen": 0}


# ---------------------------------------------------------------------------
# concurrency through the HTTP API


def test_concurrent_deductions_never_overdraw_the_wallet(pg):
    setup = new_community(points=1000)
    wallet = setup.wallet
    assert balance_of(wallet) == 1000

    replies = concurrently(pg, [award_request(setup, -25, str(uuid.uuid4())) for _ in range(64)])

    statuses = Counter(reply.status for reply in replies)
    assert statuses == {201: 40, 409: 24}
    for reply in replies:
        if reply.status == 409:
            assert reply.content_type == PROBLEM
            assert json.loads(reply.body)["type"] == "urn:jifen:problem:insufficient-balance"
    db.session.expire_all()
    assert balance_of(wallet) == 0
    posted = db.session.scalars(
        sa.select(Award.points).where(
            Award.community_id == setup.community.id, Award.status == AwardStatus.POSTED
        )
    ).all()
    assert sorted(posted) == [-25] * 40 + [1000]
    assert transaction_count(setup.community.id, TransactionKind.DEDUCTION) == 40
    assert unit_totals(setup.community.id) == {"points": 0, "fen": 0}
    report = reconcile(setup.community)
    assert report.ok, report.checks
    db.session.rollback()

    result = invoke_reconcile(pg, setup.slug)
    assert result.exit_code == 0, result.output
    assert "All checks passed." in result.output
    assert "FAIL" not in result.output


def test_concurrent_retries_with_one_key_take_effect_once(pg):
    setup = new_community()
    key = str(uuid.uuid4())

    replies = concurrently(pg, [award_request(setup, 10, key) for _ in range(50)])

    assert {reply.status for reply in replies} == {201}
    assert len({reply.body for reply in replies}) == 1
    replayed = [reply.headers.get("Idempotent-Replayed") for reply in replies]
    assert replayed.count("true") == 49
    db.session.expire_all()
    award_ids = db.session.scalars(
        sa.select(Award.id).where(Award.community_id == setup.community.id)
    ).all()
    assert len(award_ids) == 1
    assert postings_of(award_ids[0]) == 1
    assert transaction_count(setup.community.id) == 1
    assert balance_of(setup.wallet) == 10
    assert reconcile(setup.community).ok


# ---------------------------------------------------------------------------
# flask reconcile


def test_reconcile_fails_on_a_tampered_balance(pg):
    setup = new_community(points=300)
    wallet_id = setup.wallet.id
    assert invoke_reconcile(pg, setup.slug).exit_code == 0

    db.session.execute(
        sa.text("UPDATE accounts SET balance = balance + 1 WHERE id = :id"), {"id": wallet_id}
    )
    db.session.commit()
    result = invoke_reconcile(pg, setup.slug)

    assert result.exit_code == 1, result.output
    assert "Some checks FAILED." in result.output
    assert "[FAIL] every unit sums to zero: points sum to 1" in result.output
    mismatch = f"wallet:member:{setup.resident.id}: balance 301, entries 300"
    assert (
        f"[FAIL] every account balance equals the sum of its entries: {mismatch}" in result.output
    )
    assert "[ok  ] every transaction balances per unit" in result.output

    # Put it back, so a run over every community stays green.
    db.session.execute(
        sa.text("UPDATE accounts SET balance = balance - 1 WHERE id = :id"), {"id": wallet_id}
    )
    db.session.commit()
    result = invoke_reconcile(pg, setup.slug)
    assert result.exit_code == 0, result.output


def test_reconcile_names_an_unknown_community(pg):
    result = invoke_reconcile(pg, unique("missing"))
    assert result.exit_code == 1
    assert "No community 'missing-" in result.output


def test_concurrent_retries_of_an_expired_key_take_effect_once(pg):
    setup = new_community()
    key = str(uuid.uuid4())
    first = concurrently(pg, [award_request(setup, 10, key)])[0]
    assert first.status == 201
    db.session.execute(
        sa.update(IdempotencyKey)
        .where(IdempotencyKey.member_id == setup.admin.id, IdempotencyKey.key == key)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()

    replies = concurrently(pg, [award_request(setup, 10, key) for _ in range(20)])

    assert {reply.status for reply in replies} == {201}, [r.body for r in replies]
    assert len({reply.body for reply in replies}) == 1
    assert replies[0].body != first.body
    assert balance_of(setup.wallet) == 20
    assert transaction_count(setup.community.id) == 2
