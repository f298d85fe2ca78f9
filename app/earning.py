"""What members earn: calendar months, points earned in a period, the monthly cap.

A month is a calendar month in Asia/Shanghai, whatever the server's clock
zone. *Earned* means points credited to a member's wallet by a manual award
(``AWARD``) or an attendance award (``ATTENDANCE_AWARD``), less any reversal
of those, counted by when the ledger transaction was posted. Deductions are
not "negative earnings": they do not give a member room under the cap.

:func:`points_earned` is the one query for it: the monthly cap reads it when
awarding attendances, and coupon issuance rules ("earned at least 300 points
this month") read the same numbers.
"""

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from models import Account, AccountKind, Community, LedgerEntry, LedgerTransaction, TransactionKind

from .extensions import db
from .problems import InvalidInput

#: Months, and so the monthly cap, follow the communities' clock.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")

#: Transaction kinds whose wallet credits count as earned.
EARNING_KINDS = (TransactionKind.AWARD, TransactionKind.ATTENDANCE_AWARD)

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_of(moment: datetime) -> str:
    """The ``YYYY-MM`` period that ``moment`` falls in, in Asia/Shanghai."""
    return moment.astimezone(LOCAL_ZONE).strftime("%Y-%m")


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of a ``YYYY-MM`` month in Asia/Shanghai, as UTC datetimes."""
    match = _PERIOD.match(period)
    if match is None:
        raise InvalidInput(
            f"'{period}' is not a month; use YYYY-MM.",
            errors={"json": {"period": ["Use YYYY-MM."]}},
        )
    year, month = int(match[1]), int(match[2])
    start = datetime(year, month, 1, tzinfo=LOCAL_ZONE)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=LOCAL_ZONE)
    return start.astimezone(UTC), end.astimezone(UTC)


def points_earned(
    community_id: int,
    period_start: datetime,
    period_end: datetime,
    *,
    member_ids: Iterable[int] | None = None,
) -> dict[int, int]:
    """Points each member of the community earned in ``[period_start, period_end)``.

    Keyed by member id; members who earned nothing are absent. ``member_ids``
    narrows the query to those members (one member: ``member_ids=[id]``).
    """
    original = aliased(LedgerTransaction)
    query = (
        sa.select(Account.member_id, sa.func.sum(LedgerEntry.amount))
        .join(Account, Account.id == LedgerEntry.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .outerjoin(original, original.id == LedgerTransaction.reverses_id)
        .where(
            LedgerEntry.community_id == community_id,
            Account.kind == AccountKind.WALLET,
            Account.member_id.is_not(None),
            LedgerTransaction.created_at >= period_start,
            LedgerTransaction.created_at < period_end,
            sa.or_(
                LedgerTransaction.kind.in_(EARNING_KINDS),
                sa.and_(
                    LedgerTransaction.kind == TransactionKind.REVERSAL,
                    original.kind.in_(EARNING_KINDS),
                ),
            ),
        )
        .group_by(Account.member_id)
    )
    if member_ids is not None:
        query = query.where(Account.member_id.in_(list(member_ids)))
    return {member_id: int(total) for member_id, total in db.session.execute(query) if total}


def member_points_earned(
    community_id: int, member_id: int, period_start: datetime, period_end: datetime
) -> int:
    earned = points_earned(community_id, period_start, period_end, member_ids=[member_id])
    return earned.get(member_id, 0)


def room_under_cap(community: Community, earned: int) -> int | None:
    """Points a member who has ``earned`` this month may still earn; None without a cap."""
    if community.monthly_earning_cap is None:
        return None
    return max(0, community.monthly_earning_cap - earned)


def set_monthly_cap(community: Community, cap: int | None) -> Community:
    if cap is not None and cap < 0:
        raise InvalidInput(
            "The monthly earning cap cannot be negative.",
            errors={"json": {"monthly_earning_cap": ["Zero or more, or null for no cap."]}},
        )
    community.monthly_earning_cap = cap
    db.session.flush()
    return community
