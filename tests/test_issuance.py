"""Earnings, merchant groups, issuance rules and runs (design.md §5), as domain functions."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from support.books import balance, count, escrow, reconciled, wallet
from support.coupons import earn, in_period, make_rule

from app import communities, coupon_tokens, coupons, issuance, issuance_rules, ledger
from app.demo import dated
from app.earnings import Period, earnings_of, last_month
from app.extensions import db
from app.issuance import PeriodNotOver
from app.problems import Conflict, InvalidInput
from app.reconciliation import reconcile
from models import (
    AccountKind,
    Coupon,
    CouponFunding,
    CouponPosting,
    CouponStatus,
    LedgerTransaction,
    TransactionKind,
    Validity,
)


def coupons_of(member) -> list[Coupon]:
    return list(
        db.session.scalars(
            sa.select(Coupon).where(Coupon.member_id == member.id).order_by(Coupon.id)
        )
    )


# --- periods and earnings -------------------------------------------------------------


def test_period_bounds_are_shanghai_months():
    october = Period.parse("2026-10")
    assert str(october) == "2026-10"
    assert october.start == datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert october.end == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert Period.parse("2026-12").next() == Period(2027, 1)
    assert Period.parse("2027-01").previous() == Period(2026, 12)
    assert Period.containing(datetime(2026, 10, 31, 16, 30, tzinfo=UTC)) == Period(2026, 11)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-10", "2026/10", "", "1999-12"])
def test_a_bad_period_is_refused(text):
    with pytest.raises(InvalidInput) as caught:
        Period.parse(text)
    assert caught.value.extra["errors"] == {"json": {"period": ["A month as YYYY-MM."]}}


def test_points_earned_counts_awards_and_attendances_in_the_month(community, admin, make_member):
    resident = make_member(community)
    period = last_month()
    earn(resident, 100)
    earn(resident, 40, kind=TransactionKind.ATTENDANCE_AWARD)
    earn(resident, 60, kind=TransactionKind.ATTENDANCE_AWARD, at=in_period(period, day=1, hour=0))
    # Not earned in the period: the month before, this month, a deduction, a coupon.
    earn(resident, 500, at=in_period(period.previous(), day=28))
    earn(resident, 700, at=in_period(period.next(), day=1, hour=0))
    earn(resident, 900, kind=TransactionKind.DEDUCTION)

    assert earnings_of(resident, period).points_earned == 200
    assert earnings_of(resident, period).attendances == 2
    assert earnings_of(resident, period.previous()).points_earned == 500
    assert earnings_of(make_member(community), period).points_earned == 0


# --- merchant groups and rules --------------------------------------------------------


def test_merchant_groups(community, make_community):
    grocery = communities.create_merchant(community, name="便民超市", category="超市")
    barber = communities.create_merchant(community, name="理发店", category="理发")
    elsewhere = communities.create_merchant(make_community(), name="外地店", category="超市")

    group = issuance_rules.create_merchant_group(
        community, name=" 微街长商家 ", merchant_ids=[grocery.id]
    )
    assert group.name == "微街长商家"
    assert group.merchants == [grocery]
    issuance_rules.add_to_group(group, barber)
    issuance_rules.add_to_group(group, barber)
    assert group.merchants == [grocery, barber]
    issuance_rules.remove_from_group(group, grocery)
    assert group.merchants == [barber]

    with pytest.raises(Conflict):
        issuance_rules.create_merchant_group(community, name="微街长商家")
    with pytest.raises(InvalidInput) as caught:
        issuance_rules.create_merchant_group(community, name="外地", merchant_ids=[elsewhere.id])
    assert "merchant_ids" in caught.value.extra["errors"]["json"]
    with pytest.raises(InvalidInput):
        issuance_rules.add_to_group(group, elsewhere)
    with pytest.raises(InvalidInput):
        issuance_rules.create_merchant_group(community, name="  ")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"min_points_earned": None}, "min_points_earned"),
        ({"points": None}, "points"),
        ({"tiers": [(300, 100)], "points": 100}, "points"),
        ({"tiers": [(300, 100), (300, 200)]}, "tiers"),
        ({"validity": Validity.DAYS}, "valid_days"),
        ({"validity": Validity.END_OF_NEXT_MONTH, "valid_days": 30}, "valid_days"),
        ({"name": "  "}, "name"),
    ],
)
def test_an_incomplete_rule_is_refused(community, admin, fields, field):
    with pytest.raises(InvalidInput) as caught:
        make_rule(community, admin, **fields)
    assert field in caught.value.extra["errors"]["json"]


def test_rule_names_are_unique_and_groups_local(community, admin, make_community):
    make_rule(community, admin, name="月度积分券")
    with pytest.raises(Conflict):
        make_rule(community, admin, name="月度积分券")
    other_group = issuance_rules.create_merchant_group(make_community(), name="别处")
    with pytest.raises(InvalidInput):
        make_rule(community, admin, merchant_group=other_group)


def test_validity_end_of_next_month_and_days(community, admin):
    monthly = make_rule(community, admin)
    days = make_rule(community, admin, valid_days=30)
    assert (monthly.validity, days.validity) == (Validity.END_OF_NEXT_MONTH, Validity.DAYS)
    # 2026-11-30 23:30 in Shanghai is still November: valid to the end of December.
    late_november = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
    assert issuance_rules.coupon_expiry(monthly, late_november) == datetime(
        2026, 12, 31, 16, tzinfo=UTC
    )
    # Issued on 12-01 (Shanghai): 30 days after is 12-31, valid through that day.
    assert issuance_rules.coupon_expiry(days, late_november + timedelta(hours=1)) == datetime(
        2026, 12, 31, 16, tzinfo=UTC
    )


# --- runs -----------------------------------------------------------------------------


def test_a_grant_run_issues_to_the_eligible_into_escrow(community, admin, make_member):
    eligible = make_member(community)
    by_attendance = make_member(community)
    short = make_member(community)
    earn(eligible, 350)
    for _ in range(4):
        earn(by_attendance, 10, kind=TransactionKind.ATTENDANCE_AWARD)
    earn(short, 299)
    rule = make_rule(community, admin, min_attendances=4)
    issuance_before = balance(community, AccountKind.ISSUANCE)

    run = issuance.issue_coupons(rule, last_month(), actor=admin)

    assert (run.issued, run.points, run.skipped) == (2, 200, 0)
    assert run.period == str(last_month())
    assert run.actor_id == admin.id
    assert coupons_of(short) == []
    [coupon] = coupons_of(eligible)
    assert coupon.status == CouponStatus.ISSUED
    assert (coupon.points, coupon.points_remaining) == (100, 100)
    assert coupon.run_id == run.id and coupon.rule_id == rule.id
    assert coupon.period == str(last_month())
    assert len(coupon.code) == coupon_tokens.CODE_LENGTH
    assert set(coupon.code) <= set(coupon_tokens.CODE_ALPHABET)
    assert coupon.expires_at == issuance_rules.coupon_expiry(rule, coupon.issued_at)
    assert len(coupons_of(by_attendance)) == 1
    # Granted: minted from issuance into escrow; wallets untouched.
    assert escrow(community) == 200
    assert balance(community, AccountKind.ISSUANCE) == issuance_before - 200
    assert wallet(eligible) == 350
    txn = db.session.scalars(
        sa.select(LedgerTransaction).where(
            LedgerTransaction.community_id == community.id,
            LedgerTransaction.kind == TransactionKind.COUPON_ISSUE,
        )
    ).one()
    assert txn.reference == f"issuance-run:{run.id}:1"
    # Escrow is a control account: one leg for the batch, the coupons' shares in postings.
    assert sorted(e.amount for e in txn.entries) == [-200, 200]
    shares = db.session.execute(
        sa.select(CouponPosting.coupon_id, CouponPosting.amount).where(
            CouponPosting.transaction_id == txn.id
        )
    ).all()
    assert sorted(shares) == sorted(
        (c.id, 100) for c in coupons_of(eligible) + coupons_of(by_attendance)
    )
    report = reconciled(community)
    assert report.coupons == {"issued": 2, "open": 2, "redeemed": 0, "expired": 0, "revoked": 0}


def test_a_second_run_of_the_same_rule_and_period_issues_nothing(community, admin, make_member):
    resident = make_member(community)
    earn(resident, 400)
    rule = make_rule(community, admin)
    first = issuance.issue_coupons(rule, last_month(), actor=admin)

    again = issuance.issue_coupons(rule, last_month(), actor=admin)

    assert (first.issued, again.issued, again.points) == (1, 0, 0)
    assert len(coupons_of(resident)) == 1
    assert escrow(community) == 100
    # Another rule, or another month, is another coupon.
    assert issuance.issue_coupons(make_rule(community, admin), last_month()).issued == 1
    earn(resident, 300, at=in_period(last_month().previous()))
    assert issuance.issue_coupons(rule, last_month().previous()).issued == 1
    assert len(coupons_of(resident)) == 3
    reconciled(community)


def test_tiers_give_the_highest_tier_reached(community, admin, make_member):
    earned = {make_member(community): points for points in (250, 300, 499, 500, 2000)}
    for member, points in earned.items():
        earn(member, points)
    rule = make_rule(community, admin, tiers=[(500, 250), (300, 100)])

    run = issuance.issue_coupons(rule, last_month())

    assert [t.min_points_earned for t in rule.tiers] == [300, 500]
    got = {points: [c.points for c in coupons_of(member)] for member, points in earned.items()}
    assert got == {250: [], 300: [100], 499: [100], 500: [250], 2000: [250]}
    assert (run.issued, run.points) == (4, 700)


def test_a_tier_below_the_minimum_earns_nothing_by_attendance_alone(community, admin, make_member):
    resident = make_member(community)
    for _ in range(3):
        earn(resident, 10, kind=TransactionKind.ATTENDANCE_AWARD)
    rule = make_rule(community, admin, min_points_earned=None, min_attendances=3, tiers=[(50, 80)])
    assert issuance.issue_coupons(rule, last_month()).issued == 0
    earn(resident, 20, kind=TransactionKind.ATTENDANCE_AWARD)
    assert issuance.issue_coupons(rule, last_month()).issued == 1


def test_who_never_gets_a_coupon(community, admin, make_member, make_community):
    inactive = make_member(community)
    earn(inactive, 1000)
    inactive.active = False
    stranger = make_member(make_community())
    earn(stranger, 1000)
    # A shop earns points too, but coupons are for residents.
    shop = communities.create_merchant(community, name="便民超市", category="超市")
    with dated(in_period(last_month())):
        ledger.post(
            community.id,
            TransactionKind.AWARD,
            [
                (ledger.ensure_account(community.id, AccountKind.ISSUANCE), -1000),
                (
                    ledger.ensure_account(community.id, AccountKind.WALLET, merchant_id=shop.id),
                    1000,
                ),
            ],
            memo="商户志愿服务",
        )
    rule = make_rule(community, admin)

    run = issuance.issue_coupons(rule, last_month())

    assert (run.issued, run.skipped) == (0, 0)
    assert coupons_of(inactive) == coupons_of(stranger) == []
    assert count(Coupon, Coupon.community_id == community.id) == 0


def test_a_month_not_yet_over_is_refused(community, admin, make_member):
    resident = make_member(community)
    earn(resident, 400, at=datetime.now(UTC))
    rule = make_rule(community, admin)
    this_month = Period.containing(datetime.now(UTC))

    for period in (this_month, this_month.next()):
        with pytest.raises(PeriodNotOver) as caught:
            issuance.issue_coupons(rule, period)
        assert caught.value.status == 422
    assert coupons_of(resident) == []
    # Once the month is over, the same earnings count.
    run = issuance.issue_coupons(rule, this_month, now=this_month.end + timedelta(minutes=1))
    assert run.issued == 1


def test_a_convert_run_moves_points_out_of_wallets(community, admin, make_member):
    rich, spent = make_member(community), make_member(community)
    earn(rich, 400)
    earn(spent, 400)
    earn(spent, -350, kind=TransactionKind.DEDUCTION)  # only 50 left: cannot fund 100
    rule = make_rule(community, admin, funding=CouponFunding.CONVERT)
    issuance_before = balance(community, AccountKind.ISSUANCE)

    run = issuance.issue_coupons(rule, last_month(), actor=admin)

    assert (run.issued, run.points, run.skipped) == (1, 100, 1)
    assert wallet(rich) == 300
    assert wallet(spent) == 50
    assert escrow(community) == 100
    assert balance(community, AccountKind.ISSUANCE) == issuance_before
    assert coupons_of(spent) == []
    reconciled(community)


def test_a_convert_batch_rechecks_wallets_it_has_locked(community, admin, make_member, monkeypatch):
    """A wallet spent between the eligibility query and its batch is skipped, not overdrawn."""
    resident = make_member(community)
    earn(resident, 400)
    rule = make_rule(community, admin, funding=CouponFunding.CONVERT, points=300)
    real = issuance._still_funded

    def spend_first(community_id, batch, wallets):
        earn(resident, -200, kind=TransactionKind.DEDUCTION)
        return real(community_id, batch, wallets)

    monkeypatch.setattr(issuance, "_still_funded", spend_first)
    run = issuance.issue_coupons(rule, last_month())

    assert (run.issued, run.skipped) == (0, 1)
    assert wallet(resident) == 200
    reconciled(community)


def test_runs_are_batched_one_ledger_transaction_each(community, admin, make_member, monkeypatch):
    monkeypatch.setattr(coupons, "BATCH_SIZE", 2)
    members = [make_member(community) for _ in range(5)]
    for member in members:
        earn(member, 300)
    progress = []
    rule = make_rule(community, admin)

    run = issuance.issue_coupons(rule, last_month(), progress=lambda *a: progress.append(a))

    assert run.issued == 5
    assert progress == [(2, 10), (4, 10), (5, 10), (7, 10), (9, 10), (10, 10)]
    references = db.session.scalars(
        sa.select(LedgerTransaction.reference)
        .where(LedgerTransaction.kind == TransactionKind.COUPON_ISSUE)
        .where(LedgerTransaction.community_id == community.id)
        .order_by(LedgerTransaction.id)
    ).all()
    assert references == [f"issuance-run:{run.id}:{n}" for n in (1, 2, 3)]
    reconciled(community)


def test_a_taken_code_is_replaced(community, admin, make_member, monkeypatch):
    first, second = make_member(community), make_member(community)
    earn(first, 300)
    rule = make_rule(community, admin)
    monkeypatch.setattr(issuance, "new_codes", lambda count: ["AAAAAAAAAA"] * count)
    issuance.issue_coupons(rule, last_month())
    earn(second, 300)
    codes = iter(["AAAAAAAAAA", "BBBBBBBBBB"])
    monkeypatch.setattr(issuance, "new_codes", lambda count: [next(codes) for _ in range(count)])

    run = issuance.issue_coupons(rule, last_month())

    assert run.issued == 1
    assert [c.code for c in coupons_of(second)] == ["BBBBBBBBBB"]
    monkeypatch.setattr(issuance, "new_codes", lambda count: ["BBBBBBBBBB"] * count)
    third = make_member(community)
    earn(third, 300)
    with pytest.raises(Conflict):
        issuance.issue_coupons(rule, last_month())


def test_reconciliation_notices_a_coupon_that_disagrees_with_escrow(community, admin, make_member):
    resident = make_member(community)
    earn(resident, 300)
    issuance.issue_coupons(make_rule(community, admin), last_month())
    [coupon] = coupons_of(resident)
    reconciled(community)

    db.session.execute(
        sa.update(Coupon)
        .where(Coupon.id == coupon.id)
        .values(points_remaining=99, status=CouponStatus.PARTLY_REDEEMED)
        .execution_options(synchronize_session=False)
    )
    checks = {check.name: check for check in reconcile(community).checks}
    mismatch = checks["every coupon's remaining points equal its escrow postings"]
    assert not mismatch.ok
    assert mismatch.detail == f"coupon {coupon.id}: remaining 99, escrow postings 100"
    assert checks["every coupon escrow entry is accounted to coupons"].ok

    stray = ledger.post(
        community.id,
        TransactionKind.COUPON_ISSUE,
        [
            (ledger.ensure_account(community.id, AccountKind.ISSUANCE), -5),
            (ledger.ensure_account(community.id, AccountKind.COUPON_ESCROW), 5),
        ],
        memo="escrow no coupon accounts for",
    )
    unaccounted = next(
        check
        for check in reconcile(community).checks
        if check.name == "every coupon escrow entry is accounted to coupons"
    )
    assert not unaccounted.ok
    assert unaccounted.detail == f"transaction {stray.id}: escrow 5, coupon postings 0"
