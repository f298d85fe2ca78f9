"""Partner merchants, for residents deciding where to use their points."""

import sqlalchemy as sa
from flask import render_template, request
from flask_login import current_user, login_required

from models import WALLET_ROLES, Coupon, Merchant

from .. import coupons, offers
from ..extensions import db
from . import blp


def _coupon_merchants(member) -> set[int] | None:
    """Ids of the merchants where one of the member's open coupons is valid; None when a
    coupon is valid at every partner merchant."""
    held = db.session.execute(
        sa.select(Coupon).where(
            Coupon.community_id == member.community_id,
            Coupon.member_id == member.id,
            Coupon.status.in_(coupons.OPEN_STATUSES),
        )
    ).scalars()
    where: set[int] = set()
    for coupon in held:
        group = coupon.rule.merchant_group
        if group is None:
            return None
        where.update(merchant.id for merchant in group.merchants)
    return where


@blp.get("/merchants")
@login_required
def partner_merchants():
    """The member's community's active partner merchants and today's offers, filtered by
    category and by "takes my coupon"."""
    member = current_user._get_current_object()
    merchants = (
        db.session.execute(
            sa.select(Merchant)
            .where(Merchant.community_id == member.community_id, Merchant.active)
            .order_by(Merchant.name)
        )
        .scalars()
        .all()
    )
    categories = sorted({merchant.category for merchant in merchants})
    category = request.args.get("category") or ""
    takes_coupon = member.role in WALLET_ROLES and request.args.get("coupon") == "1"
    coupon_merchants = _coupon_merchants(member) if member.role in WALLET_ROLES else set()
    shown = [
        merchant
        for merchant in merchants
        if (not category or merchant.category == category)
        and (not takes_coupon or coupon_merchants is None or merchant.id in coupon_merchants)
    ]
    return render_template(
        "merchants.html",
        listing=[(merchant, offers.current_offers(merchant)) for merchant in shown],
        total=len(merchants),
        categories=categories,
        category=category,
        takes_coupon=takes_coupon,
        coupon_merchants=coupon_merchants,
        holds_coupons=coupon_merchants is None or bool(coupon_merchants),
    )
