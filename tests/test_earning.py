"""Points earned in a period (the monthly cap's and coupon rules' one query), and months
in Asia/Shanghai."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app import earnings, ledger
from app.earnings import Period, earnings_of
from app.extensions import db
from app.problems import InvalidInput
from models import AccountKind, LedgerEntry, LedgerTransaction, Role, TransactionKind

#: 2026-03-01 00:00 in Beijing.
MARCH = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)


def test_months_are_beijing_months():
    assert Period.containing(MARCH) == Period(2026, 3)
    assert Period.containing(datetime(2026, 2, 28, 15, 59, 59, tzinfo=UTC)) == Period(2026, 2)
    assert (Period(2026, 3).start, Period(2026, 3).end) == (
        MARCH,
        datetime(2026, 3, 31, 16, tzinfo=UTC),
    )
    assert (Period(2026, 12).start, Period(2026, 12).end) == (
        datetime(2026, 11, 30, 16, tzinfo=UTC),
        datetime(2026, 12, 31, 16, tzinfo=UTC),
    )


def posted(community, kind, member, points, at, reverses=None):
    """A transaction stamped ``at``, written directly: the ledger stamps the real time."""
    issuance = ledger.ensure_account(community.id, AccountKind.ISSUANCE)
    wallet = ledger.ensure_account(community.id, AccountKind.WALLET, member_id=member.id)
    txn = LedgerTransaction(
        community_id=community.id,
        kind=kind,
        memo=kind.value,
        reverses_id=reverses.id if reverses else None,
        created_at=at,
    )
    db.session.add(txn)
    db.session.flush()
    db.session.execute(
        sa.insert(LedgerEntry),
        [
            dict(
                community_id=community.id,
                transaction_id=txn.id,
                account_id=account.id,
                unit=account.unit,
                amount=amount,
            )
            for account, amount in ((issuance, -points), (wallet, points))
        ],
    )
    return txn


def test_points_earned_counts_awards_and_attendance_less_their_reversals(
    make_community, make_member
):
    community, elsewhere = make_community(), make_community()
    a, b = make_member(community), make_member(community)
    outsider = make_member(elsewhere)
    admin = make_member(community, Role.FUND_ADMIN)
    in_march = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)
    posted(community, TransactionKind.AWARD, a, 100, datetime(2026, 2, 28, 15, 59, tzinfo=UTC))
    reversed_award = posted(community, TransactionKind.AWARD, a, 40, MARCH)
    posted(community, TransactionKind.ATTENDANCE_AWARD, a, 25, in_march)
    posted(community, TransactionKind.REVERSAL, a, -40, in_march, reverses=reversed_award)
    deduction = posted(community, TransactionKind.DEDUCTION, a, -10, in_march)
    posted(community, TransactionKind.REVERSAL, a, 10, in_march, reverses=deduction)
    posted(community, TransactionKind.AWARD, b, 7, in_march)
    posted(community, TransactionKind.AWARD, admin, 3, datetime(2026, 3, 31, 16, tzinfo=UTC))
    posted(elsewhere, TransactionKind.AWARD, outsider, 500, in_march)

    march = Period(2026, 3)
    assert earnings.points_earned(community.id, march) == {a.id: 25, b.id: 7}
    assert earnings.points_earned(community.id, march, member_ids=[b.id]) == {b.id: 7}
    assert earnings_of(a, march) == earnings.Earnings(points_earned=25, attendances=1)
    assert earnings_of(admin, march) == earnings.Earnings(points_earned=0, attendances=0)
    assert earnings.points_earned(community.id, Period(2026, 2)) == {a.id: 100}
    assert earnings.points_earned(community.id, Period(2026, 4)) == {admin.id: 3}


def test_a_reversed_attendance_award_is_no_attendance(make_community, make_member):
    community = make_community()
    member = make_member(community)
    in_march = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    kept = posted(community, TransactionKind.ATTENDANCE_AWARD, member, 30, in_march)
    undone = posted(community, TransactionKind.ATTENDANCE_AWARD, member, 20, in_march)
    posted(community, TransactionKind.REVERSAL, member, -20, in_march, reverses=undone)
    assert kept.id != undone.id
    assert earnings_of(member, Period(2026, 3)) == earnings.Earnings(30, 1)


def test_room_under_the_cap(make_community):
    community = make_community()
    assert earnings.room_under_cap(community, 10_000) is None
    community.monthly_earning_cap = 300
    assert earnings.room_under_cap(community, 120) == 180
    assert earnings.room_under_cap(community, 300) == 0
    assert earnings.room_under_cap(community, 450) == 0


def test_the_cap_is_zero_or_more_or_none(make_community):
    community = make_community()
    assert earnings.set_monthly_cap(community, 0).monthly_earning_cap == 0
    assert earnings.set_monthly_cap(community, None).monthly_earning_cap is None
    with pytest.raises(InvalidInput):
        earnings.set_monthly_cap(community, -1)
