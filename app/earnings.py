"""What members earn: calendar months, points earned in a period, the monthly cap.

"Points earned" are points credited to a member's wallet by ledger transactions
of kind ``award`` or ``attendance_award``, less any reversal of those, counted
by when the ledger transaction was posted; "attendances" count the attendance
awards, less reversed ones. Deductions and coupon conversions are not
"negative earnings": they give a member no room under the cap. Periods are
calendar months in Asia/Shanghai, the communities' own time.

:func:`earnings_by_member` is the one query for it, a set-based ``GROUP BY``
over the ledger: coupon issuance rules ("earned at least 300 points last
month") and the monthly earning cap read the same numbers.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import aliased

from models import (
    Account,
    AccountKind,
    Community,
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
                _("'%(text)s' is not a month; write it as YYYY-MM, e.g. 2026-10.", text=text),
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

    Only members with an earning (or its reversal) in the period appear.
    """
    original = aliased(LedgerTransaction)
    earning = sa.and_(LedgerTransaction.kind.in_(EARNING_KINDS), LedgerEntry.amount > 0)
    reversal = sa.and_(
        LedgerTransaction.kind == TransactionKind.REVERSAL,
        original.kind.in_(EARNING_KINDS),
        LedgerEntry.amount < 0,
    )
    attendance = sa.case(
        (LedgerTransaction.kind == TransactionKind.ATTENDANCE_AWARD, 1),
        (original.kind == TransactionKind.ATTENDANCE_AWARD, -1),
        else_=0,
    )
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
        .outerjoin(original, original.id == LedgerTransaction.reverses_id)
        .where(
            LedgerTransaction.community_id == community_id,
            LedgerTransaction.created_at >= period.start,
            LedgerTransaction.created_at < period.end,
            Account.kind == AccountKind.WALLET,
            Account.member_id.is_not(None),
            sa.or_(earning, reversal),
        )
        .group_by(Account.member_id, Account.id)
    )


def points_earned(
    community_id: int, period: Period, *, member_ids: Iterable[int] | None = None
) -> dict[int, int]:
    """Points each member earned in ``period``, by member id; those at zero are absent.

    ``member_ids`` narrows the query to those members.
    """
    query = earnings_by_member(community_id, period)
    if member_ids is not None:
        query = query.where(Account.member_id.in_(list(member_ids)))
    return {
        row.member_id: int(row.points_earned)
        for row in db.session.execute(query)
        if row.points_earned
    }


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


def room_under_cap(community: Community, earned: int) -> int | None:
    """Points a member who has ``earned`` this month may still earn; None without a cap."""
    if community.monthly_earning_cap is None:
        return None
    return max(0, community.monthly_earning_cap - earned)


def capped(
    community: Community, claims: Sequence[tuple[int, int]], earned: dict[int, int]
) -> list[int]:
    """What each ``(member_id, points due)`` claim gets under the monthly cap, in order,
    given what each member has ``earned`` this month: each award uses up room for the
    next one of the same member. Finalizing awards exactly this."""
    earned = dict(earned)
    given = []
    for member_id, due in claims:
        room = room_under_cap(community, earned.get(member_id, 0))
        points = due if room is None else min(due, room)
        earned[member_id] = earned.get(member_id, 0) + points
        given.append(points)
    return given


def capped_now(community: Community, claims: Sequence[tuple[int, int]]) -> list[int]:
    """:func:`capped` against this month's earnings so far: what finalizing now would award."""
    earned = points_earned(
        community.id, Period.containing(utcnow()), member_ids={member for member, _ in claims}
    )
    return capped(community, claims, earned)


def room_this_month(member: Member) -> int | None:
    """Points ``member`` may still earn this month; None without a cap."""
    community = member.community
    if community.monthly_earning_cap is None:
        return None
    return room_under_cap(community, earnings_of(member, Period.containing(utcnow())).points_earned)


def set_monthly_cap(community: Community, cap: int | None) -> Community:
    if cap is not None and cap < 0:
        raise InvalidInput(
            _("The monthly earning cap cannot be negative."),
            errors={"json": {"monthly_earning_cap": ["Zero or more, or null for no cap."]}},
        )
    community.monthly_earning_cap = cap
    db.session.flush()
    return community
