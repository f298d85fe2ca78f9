"""The resident's coupons, each QR on a bright screen of its own, and the pay-code screen."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import abort, jsonify, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from models import WALLET_ROLES, Coupon, CouponStatus, Redemption, utcnow

from .. import communities, coupon_tokens, coupons, paycodes, qr
from ..authz import Scope, authorize
from ..extensions import db
from ..money import points_value
from . import blp
from .issuance import valid_where

#: Closed coupons shown under the open ones.
PAST_COUPONS = 20


COUPON_STATUS_LABELS = {
    CouponStatus.ISSUED: _l("Ready to use"),
    CouponStatus.PARTLY_REDEEMED: _l("Partly used"),
    CouponStatus.REDEEMED: _l("Used up"),
    CouponStatus.EXPIRED: _l("Expired"),
    CouponStatus.REVOKED: _l("Withdrawn"),
}


@blp.app_template_filter("coupon_status")
def coupon_status(status: CouponStatus) -> str:
    return COUPON_STATUS_LABELS[status]


@blp.app_template_filter("valid_until")
def valid_until(expires_at: datetime) -> str:
    """The last day a coupon can be used (it expires at the midnight after), local date."""
    return format_date(expires_at - timedelta(microseconds=1), "yyyy-MM-dd")


def grouped(text: str, size: int) -> str:
    """``ABCDE12345`` -> ``ABCDE 12345``: easier to read out and type."""
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


def _holder():
    member = current_user._get_current_object()
    if member.role not in WALLET_ROLES:
        abort(404)
    return member


@blp.get("/coupons")
@login_required
def my_coupons():
    member = _holder()
    query = sa.select(Coupon).where(
        Coupon.community_id == member.community_id, Coupon.member_id == member.id
    )
    open_ = (
        db.session.execute(
            query.where(Coupon.status.in_(coupons.OPEN_STATUSES)).order_by(Coupon.expires_at)
        )
        .scalars()
        .all()
    )
    past = (
        db.session.execute(
            query.where(Coupon.status.not_in(coupons.OPEN_STATUSES))
            .order_by(Coupon.id.desc())
            .limit(PAST_COUPONS)
        )
        .scalars()
        .all()
    )
    rate = communities.points_per_yuan_on(member.community)
    return render_template(
        "coupons.html",
        open_coupons=[
            (c, points_value(c.points_remaining, rate), valid_where(c.rule.merchant_group))
            for c in open_
        ],
        past_coupons=past,
    )


@blp.get("/coupons/<int:coupon_id>")
@login_required
def show_coupon(coupon_id: int):
    member = _holder()
    coupon = db.session.get(Coupon, coupon_id)
    if coupon is None or coupon.member_id != member.id:
        abort(404)
    authorize(member, "coupon.qr", Scope(coupon.community_id, coupon.member_id))
    expired = coupon.status == CouponStatus.EXPIRED or coupon.expires_at <= utcnow()
    usable = coupon.status in coupons.OPEN_STATUSES and not expired
    why_not = None
    if not usable:
        why_not = {
            CouponStatus.REVOKED: _("This coupon was withdrawn by the community fund."),
            CouponStatus.REDEEMED: _("This coupon is used up."),
        }.get(coupon.status, _("This coupon has expired."))
    token = coupon_tokens.coupon_token(coupon) if usable else None
    uses = (
        db.session.execute(
            sa.select(Redemption)
            .where(
                Redemption.community_id == coupon.community_id, Redemption.coupon_id == coupon.id
            )
            .order_by(Redemption.id.desc())
        )
        .scalars()
        .all()
    )
    return render_template(
        "coupon.html",
        coupon=coupon,
        usable=usable,
        token=token,
        qr_svg=qr.inline_svg(token, _("Coupon QR code")) if usable else None,
        code=grouped(coupon.code, 5),
        value=points_value(
            coupon.points_remaining, communities.points_per_yuan_on(member.community)
        ),
        valid_where=valid_where(coupon.rule.merchant_group),
        why_not=why_not,
        uses=uses,
    )


def _pay_code_view(member) -> dict:
    shown = paycodes.pay_code(member)
    return {
        "code": shown.code,
        "code_display": grouped(shown.code, 4),
        "svg": qr.inline_svg(shown.code, _("Pay-code QR code")),
        "refresh_in_ms": max(0, int((shown.refresh_at - utcnow()).total_seconds() * 1000)),
        "window_seconds": shown.window_seconds,
    }


@blp.get("/pay-code")
@login_required
def pay_code():
    member = _holder()
    authorize(member, "paycode.show", Scope(member.community_id, member.id))
    page = render_template(
        "pay_code.html", pay=_pay_code_view(member), was_reset=request.args.get("reset") == "1"
    )
    return page, 200, {"Cache-Control": "no-store"}


@blp.get("/pay-code.json")
@login_required
def pay_code_json():
    """What the pay-code screen fetches every window, without reloading."""
    member = _holder()
    authorize(member, "paycode.show", Scope(member.community_id, member.id))
    response = jsonify(_pay_code_view(member))
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.post("/pay-code/reset")
@login_required
def reset_pay_code():
    member = _holder()
    authorize(member, "paycode.reset", Scope(member.community_id, member.id))
    paycodes.reset_pay_code(member)
    return redirect(url_for("web.pay_code", reset=1))
