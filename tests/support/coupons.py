"""Coupons made through the domain: points earned in a finished month, issuance rules,
coupons issued by a run, and part of a coupon spent at a shop."""

import uuid
from datetime import datetime

import sqlalchemy as sa

from app import coupons, issuance, issuance_rules, ledger, sql
from app.communities import wallet_of
from app.demo import dated
from app.earnings import LOCAL_TZ, Period, last_month
from app.extensions import db
from models import (
    AccountKind,
    Coupon,
    CouponFunding,
    CouponStatus,
    ExpiryTarget,
    TransactionKind,
)


def in_period(period: Period, day: int = 15, hour: int = 10) -> datetime:
    return datetime(period.year, period.month, day, hour, tzinfo=LOCAL_TZ)


def earn(member, points, *, kind=TransactionKind.AWARD, at: datetime | None = None):
    """Credit ``points`` to the member's wallet from issuance, as an award (or ``kind``),
    dated ``at`` (mid last month by default)."""
    issuance_account = ledger.ensure_account(member.community_id, AccountKind.ISSUANCE)
    with dated(at or in_period(last_month())):
        return ledger.post(
            member.community_id,
            kind,
            [(issuance_account, -points), (wallet_of(member), points)],
            memo=f"{kind.value} {points}",
        )


def make_rule(community, admin, **fields):
    defaults = dict(
        name=f"规则 {uuid.uuid4().hex[:8]}",
        min_points_earned=300,
        points=100,
        funding=CouponFunding.GRANT,
        on_expiry=ExpiryTarget.WALLET,
        actor=admin,
    )
    if "tiers" in fields:
        defaults.pop("points")
    return issuance_rules.create_rule(community, **{**defaults, **fields})


def spend(coupon, points, merchant):
    """Redeem part of a coupon at ``merchant``, as redemption will: escrow -> receivable."""
    receivable = ledger.ensure_account(
        coupon.community_id, AccountKind.MERCHANT_RECEIVABLE, merchant_id=merchant.id
    )
    sql.locked(coupon)
    coupons.post_coupon_escrow(
        coupon.community_id,
        [coupons.EscrowMove(coupon.id, -points, receivable)],
        kind=TransactionKind.REDEMPTION,
        memo=f"{merchant.name} 消费",
    )
    left = coupon.points_remaining - points
    status = CouponStatus.REDEEMED if left == 0 else CouponStatus.PARTLY_REDEEMED
    coupons.transition(coupon, status, points_remaining=left)
    db.session.flush()


def issued_coupon(community, admin, member, *, period: Period | None = None, **rule_fields):
    """A 100-point coupon for ``member``, who earns just enough for it in ``period``
    (last month by default), under a new rule. Whoever else earned enough in that
    period gets one too."""
    period = period or last_month()
    earn(member, 300, at=in_period(period))
    rule = make_rule(community, admin, **rule_fields)
    issuance.issue_coupons(rule, period, actor=admin)
    return db.session.scalars(
        sa.select(Coupon).where(Coupon.member_id == member.id, Coupon.rule_id == rule.id)
    ).one()
