"""Points earned in a period (the monthly cap's and coupon rules' one query), and months
in Asia/Shanghai."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app import earning, ledger
from app.extensions import db
from app.problems import InvalidInput
from models import AccountKind, LedgerEntry, LedgerTransaction, Role, TransactionKind

#: 2026-03-01 00:00 in Beijing.
MARCH = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)


def test_months_are_beijing_months():
    assert earning.month_of(MARCH) == "2026-03"
    assert earning.month_of(datetime(2026, 2, 28, 15, 59, 59, tzinfo=UTC)) == "2026-02"
    assert earning.month_bounds("2026-03") == (MARCH, datetime(2026, 3, 31, 16, tzinfo=UTC))
    assert earning.month_bounds("2026-12") == (
        datetime(2026, 11, 30, 16, tzinfo=UTC),
        datetime(2026, 12, 31, 16, tzinfo=UTC),
    )


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "26-01", "2026-1", "2026/03", ""])
def test_a_period_is_a_month(period):
    with pytest.raises(InvalidInput) as refused:
        earning.month_bounds(period)
    assert refused.value.extra["errors"] == {"json": {"period": ["Use YYYY-MM."]}}


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

    march = earning.month_bounds("2026-03")
    assert earning.points_earned(community.id, *march) == {a.id: 25, b.id: 7}
    assert earning.points_earned(community.id, *march, member_ids=[b.id]) == {b.id: 7}
    assert earning.member_points_earned(community.id, a.id, *march) == 25
    assert earning.member_points_earned(community.id, admin.id, *march) == 0
    assert earning.points_earned(community.id, *earning.month_bounds("2026-02")) == {a.id: 100}
    assert earning.points_earned(community.id, *earning.month_bounds("2026-04")) == {admin.id: 3}


def test_room_under_the_cap(make_community):
    community = make_community()
    assert earning.room_under_cap(community, 10_000) is None
    community.monthly_earning_cap = 300
    assert earning.room_under_cap(community, 120) == 180
    assert earning.room_under_cap(community, 300) == 0
    assert earning.room_under_cap(community, 450) == 0


def test_the_cap_is_zero_or_more_or_none(make_community):
    community = make_community()
    assert earning.set_monthly_cap(community, 0).monthly_earning_cap == 0
    assert earning.set_monthly_cap(community, None).monthly_earning_cap is None
    with pytest.raises(InvalidInput):
        earning.set_monthly_cap(community, -1)
