"""The books as they are in the database: accounts and their balances, rows counted,
reconciliation; and an award posted straight through the ledger."""

import sqlalchemy as sa

from app import ledger
from app.extensions import db
from app.reconciliation import reconcile
from models import Account, AccountKind, LedgerTransaction, TransactionKind


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def count_in(model, community) -> int:
    """Rows of ``model`` that belong to ``community``."""
    return count(model, model.community_id == community.id)


def transaction_count(community_id, kind=None) -> int:
    """Ledger transactions in the community (of ``kind``)."""
    query = (
        sa.select(sa.func.count())
        .select_from(LedgerTransaction)
        .where(LedgerTransaction.community_id == community_id)
    )
    if kind is not None:
        query = query.where(LedgerTransaction.kind == kind)
    return db.session.scalar(query)


def postings_of(award_id) -> int:
    """Ledger transactions posted for this award."""
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(LedgerTransaction)
        .where(LedgerTransaction.reference == f"award:{award_id}")
    )


def account(community, kind, **owner) -> Account:
    """The community's account of ``kind`` (and owner), made if missing."""
    return ledger.ensure_account(community.id, kind, **owner)


def wallet_account(member) -> Account:
    return ledger.ensure_account(member.community_id, AccountKind.WALLET, member_id=member.id)


def balance_of(acct: Account) -> int:
    """The account's balance, read from the database."""
    return db.session.scalar(sa.select(Account.balance).where(Account.id == acct.id))


def balances_of(*accounts: Account) -> list[int]:
    """The accounts' balances, read from the database in one query, in their order."""
    ids = [acct.id for acct in accounts]
    found = dict(
        db.session.execute(sa.select(Account.id, Account.balance).where(Account.id.in_(ids))).all()
    )
    return [found[account_id] for account_id in ids]


def balance(community, kind, **owner) -> int:
    """The balance of the community's account of ``kind``, read from the database."""
    return balance_of(account(community, kind, **owner))


def wallet(member) -> int:
    return balance(member.community, AccountKind.WALLET, member_id=member.id)


def escrow(community) -> int:
    return balance(community, AccountKind.COUPON_ESCROW)


def post_award(community, member, points, memo="环境卫生整治"):
    """Points from the community's issuance account to the member's wallet, posted
    through ``ledger.post`` alone (no award row)."""
    issuance = account(community, AccountKind.ISSUANCE)
    return ledger.post(
        community.id,
        TransactionKind.AWARD,
        [(issuance, -points), (wallet_account(member), points)],
        memo=memo,
    )


def reconciled(community):
    """The community's reconciliation report, which must pass; a failure names its checks."""
    report = reconcile(community)
    assert report.ok, [check for check in report.checks if not check.ok]
    return report
