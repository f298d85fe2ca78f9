"""What a member earned in a period: the measure coupon rules (and earning caps) apply.

"Points earned" are points credited to a member's wallet by ledger transactions
of kind ``award`` or ``attendance_award``; "attendances" count the
``attendance_award`` transactions crediting the wallet. Deductions, coupon
conversions and reversals are other kinds and do not count. Periods are calendar
months in Asia/Shanghai, the communities' own time.

:func:`earnings_by_member` is one set-based ``GROUP BY`` over the ledger, so an
issuance run for a whole community is one query, not one per resident.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from models import (
    Account,
    AccountKind,
    LedgerEntry,
    LedgerTransaction,
    Member,
    TransactionKind,
    utcnow,
)

from .extensions import db
from .problems import InvalidInput

#: The communities' time zone: months begin and end at midnight here.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")

#: Transactions whose wallet credits count as earned.
EARNING_KINDS = (TransactionKind.AWARD, TransactionKind.ATTENDANCE_AWARD)

_PERIOD = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month in Asia/Shanghai, written ``YYYY-MM``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str, field: str = "period") -> "Period":
        match = _PERIOD.fullmatch(text or "")
        if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 2000:
            raise InvalidInput(
                f"'{text}' is not a month; write it as YYYY-MM, e.g. 2026-10.",
                errors={"json": {field: ["A month as YYYY-MM."]}},
            )
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def containing(cls, moment: datetime) -> "Period":
        local = moment.astimezone(LOCAL_TZ)
        return cls(local.year, local.month)

    def next(self) -> "Period":
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> "Period":
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    @property
    def start(self) -> datetime:
        """The first moment of the month, in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=LOCAL_TZ).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the month, in UTC."""
        return self.next().start

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def last_month(now: datetime | None = None) -> Period:
    """The most recent finished month: the one a monthly issuance run is for."""
    return Period.containing(now or utcnow()).previous()


def earnings_by_member(community_id: int, period: Period) -> sa.Select:
    """Per member wallet: ``member_id``, ``wallet_id``, ``points_earned``, ``attendances``.

    Only members who earned something in the period appear.
    """
    attendance = sa.case((LedgerTransaction.kind == TransactionKind.ATTENDANCE_AWARD, 1), else_=0)
    return (
        sa.select(
            Account.member_id,
            Account.id.label("wallet_id"),
            sa.func.sum(LedgerEntry.amount).label("points_earned"),
            sa.func.sum(attendance).label("attendances"),
        )
        .select_from(LedgerTransaction)
        .join(
            LedgerEntry,
            sa.and_(
                LedgerEntry.transaction_id == LedgerTransaction.id,
                LedgerEntry.community_id == LedgerTransaction.community_id,
            ),
        )
        .join(Account, Account.id == LedgerEntry.account_id)
        .where(
            LedgerTransaction.community_id == community_id,
            LedgerTransaction.kind.in_(EARNING_KINDS),
            LedgerTransaction.created_at >= period.start,
            LedgerTransaction.created_at < period.end,
            Account.kind == AccountKind.WALLET,
            Account.member_id.is_not(None),
            LedgerEntry.amount > 0,
        )
        .group_by(Account.member_id, Account.id)
    )


@dataclass(frozen=True)
class Earnings:
    points_earned: int
    attendances: int


def earnings_of(member: Member, period: Period) -> Earnings:
    """One member's points earned and attendances in ``period`` (zero when none)."""
    row = db.session.execute(
        earnings_by_member(member.community_id, period).where(Account.member_id == member.id)
    ).one_or_none()
    if row is None:
        return Earnings(0, 0)
    return Earnings(int(row.points_earned), int(row.attendances))


def points_earned(member: Member, period: Period) -> int:
    """Points credited to ``member``'s wallet by awards and attendance awards in ``period``."""
    return earnings_of(member, period).points_earned
