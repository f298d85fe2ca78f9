"""Reading the books as they are in the database: rows, balances, reconciliation."""

import sqlalchemy as sa

from app import ledger
from app.extensions import db
from app.reconciliation import reconcile
from models import Account, AccountKind, LedgerTransaction


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


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


def balance(community, kind, **owner) -> int:
    """The balance of the community's account of ``kind``, read from the database."""
    account = ledger.ensure_account(community.id, kind, **owner)
    return db.session.scalar(sa.select(Account.balance).where(Account.id == account.id))


def wallet(member) -> int:
    return balance(member.community, AccountKind.WALLET, member_id=member.id)


def escrow(community) -> int:
    return balance(community, AccountKind.COUPON_ESCROW)


def reconciled(community):
    """The community's reconciliation report, which must pass; a failure names its checks."""
    report = reconcile(community)
    assert report.ok, [check for check in report.checks if not check.ok]
    return report
