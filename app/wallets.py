"""Reading a wallet: balance, its yuan value, and the history behind it."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    WALLET_ROLES,
    Account,
    AccountKind,
    Activity,
    Attendance,
    Community,
    LedgerEntry,
    LedgerTransaction,
    Member,
)

from . import sql
from .communities import local_today, rate_in_force, wallet_of
from .extensions import db
from .ledger import account_key
from .money import points_value
from .problems import NotFound


class NoWallet(NotFound):
    slug, title = "no-wallet", _l("No points wallet")
    message = _l(
        "This member holds no points wallet: merchant staff and platform admins earn none."
    )


@dataclass(frozen=True)
class Balance:
    member_id: int
    points: int
    value_fen: int
    remainder_centipoints: int
    points_per_yuan: int


def wallet_or_404(member: Member) -> Account:
    wallet = wallet_of(member)
    if wallet is None:
        raise NoWallet(
            _(
                "Member %(id)s (%(role)s) holds no points wallet.",
                id=member.id,
                role=member.role.value,
            )
        )
    return wallet


#: A wallet's balance and its community's rate in force, in one statement: every
#: balance read runs it.
_BALANCE = (
    sa.select(Account.balance, rate_in_force(sa.bindparam("today", type_=sa.Date)))
    .join(Community, Community.id == Account.community_id)
    .where(Account.community_id == sa.bindparam("community_id"), Account.key == sa.bindparam("key"))
)


def balance(member: Member) -> Balance:
    """The wallet's points and their value at the rate in force today, in one statement
    (a first read makes the wallet, with no points yet)."""
    where = {
        "community_id": member.community_id,
        "key": account_key(AccountKind.WALLET, member_id=member.id),
        "today": local_today(),
    }
    found = None
    if member.role in WALLET_ROLES:
        found = sql.hot_row(_BALANCE, where)
    if found is None:
        wallet_or_404(member)
        found = sql.hot_row(_BALANCE, where)
    points, rate = found
    value = points_value(points, rate)
    return Balance(member.id, points, value.value_fen, value.remainder_centipoints, rate)


@dataclass(frozen=True)
class HistoryLine:
    id: int
    transaction_id: int
    kind: str
    memo: str
    points: int
    balance_after: int
    reverses_id: int | None
    created_at: datetime
    #: The domain object the line is for, e.g. ``attendance:12`` or ``award:7``.
    reference: str | None = None
    #: For an attendance award: the activity it was earned at.
    activity_id: int | None = None
    activity_title: str | None = None


def history(member: Member, *, before: int | None, limit: int) -> list[HistoryLine]:
    """Wallet entries newest first, each with the balance right after it.

    The balance after an entry is the wallet's balance less every entry newer than
    it, all read in the page's one statement, so it always agrees with the entries
    shown and with the balance (which the database keeps as the sum of the
    entries; reconciliation proves it). A page reads its own entries and, a page
    further back, the sum of the newer ones: never the wallet's whole history.
    """
    wallet = wallet_or_404(member)
    entries = sa.select(LedgerEntry.id, LedgerEntry.transaction_id, LedgerEntry.amount).where(
        LedgerEntry.account_id == wallet.id
    )
    if before is not None:
        entries = entries.where(LedgerEntry.id < before)
    page = entries.order_by(LedgerEntry.id.desc()).limit(limit).subquery()
    balance = sa.select(Account.balance).where(Account.id == wallet.id).scalar_subquery()
    if before is not None:
        balance = balance - sa.func.coalesce(
            sa.select(sa.func.sum(LedgerEntry.amount))
            .where(LedgerEntry.account_id == wallet.id, LedgerEntry.id >= before)
            .scalar_subquery(),
            0,
        )
    newer_on_page = sa.func.coalesce(
        sa.func.sum(page.c.amount).over(order_by=page.c.id.desc(), rows=(None, -1)), 0
    )
    running = sa.select(
        page.c.id,
        page.c.transaction_id,
        page.c.amount,
        (balance - newer_on_page).label("balance_after"),
    ).subquery()
    query = (
        sa.select(
            running,
            LedgerTransaction.kind,
            LedgerTransaction.memo,
            LedgerTransaction.reverses_id,
            LedgerTransaction.created_at,
            LedgerTransaction.reference,
            Activity.id.label("activity_id"),
            Activity.title.label("activity_title"),
        )
        .join(LedgerTransaction, LedgerTransaction.id == running.c.transaction_id)
        .outerjoin(
            Attendance,
            sa.and_(
                Attendance.community_id == LedgerTransaction.community_id,
                Attendance.transaction_id == LedgerTransaction.id,
            ),
        )
        .outerjoin(
            Activity,
            sa.and_(
                Activity.community_id == Attendance.community_id,
                Activity.id == Attendance.activity_id,
            ),
        )
        .order_by(running.c.id.desc())
    )
    return [
        HistoryLine(
            id=row.id,
            transaction_id=row.transaction_id,
            kind=row.kind.value,
            memo=row.memo,
            points=row.amount,
            balance_after=row.balance_after,
            reverses_id=row.reverses_id,
            created_at=row.created_at,
            reference=row.reference,
            activity_id=row.activity_id,
            activity_title=row.activity_title,
        )
        for row in db.session.execute(query)
    ]
