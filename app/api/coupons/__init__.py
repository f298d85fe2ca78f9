"""Coupons: a member's coupons, their QR images, revocation, verification, public keys."""

import hashlib

import sqlalchemy as sa
from flask import Response, g, request

from models import Coupon, Role

from ... import coupon_tokens, coupons, qr, ratelimit, signing
from ...authz import requires
from ...idempotency import idempotent
from ...pagination import newest_first, page, page_schema
from ..blueprint import Blueprint
from .schemas import (
    CouponListArgs,
    CouponOut,
    KeysOut,
    RevokeIn,
    VerifiedCouponOut,
    VerifyIn,
)

blp = Blueprint("coupons", __name__, url_prefix="/api/v1", description="Coupons and their QR")

#: A coupon's token is stable for a key, so its image may be kept a while.
QR_MAX_AGE = 3600

#: Read straight off the coupon row.
COUPON_FIELDS = (
    "id",
    "community_id",
    "member_id",
    "rule_id",
    "period",
    "points",
    "points_remaining",
    "status",
    "issued_at",
    "expires_at",
    "closed_at",
)


def shown(coupon: Coupon) -> dict:
    """The coupon as the caller may see it: token and code only for its holder."""
    holder = g.actor.is_member(coupon.community_id, coupon.member_id)
    group = coupon.rule.merchant_group
    return {
        **{name: getattr(coupon, name) for name in COUPON_FIELDS},
        "rule_name": coupon.rule.name,
        "merchant_group_id": group.id if group else None,
        "merchant_group": group.name if group else None,
        "token": coupon_tokens.coupon_token(coupon) if holder else None,
        "code": coupon.code if holder else None,
    }


@blp.route("/members/<int:member_id>/coupons", methods=["GET"])
@requires("coupon.read")
@blp.arguments(CouponListArgs, location="query")
@blp.response(200, page_schema(CouponOut, "CouponPage"))
def member_coupons(args, member):
    """The member's coupons, newest first; ``?status=issued`` for one state."""
    query = sa.select(Coupon).where(
        Coupon.community_id == member.community_id, Coupon.member_id == member.id
    )
    if args.get("status"):
        query = query.where(Coupon.status == args["status"])
    result = page(newest_first(query, Coupon.id), args)
    return {**result, "items": [shown(coupon) for coupon in result["items"]]}


@blp.route("/coupons/<int:coupon_id>", methods=["GET"])
@requires("coupon.read")
@blp.response(200, CouponOut)
def get_coupon(coupon):
    """One coupon."""
    return shown(coupon)


def _qr_response(coupon: Coupon, kind: str) -> Response:
    token = coupon_tokens.coupon_token(coupon)
    body, mimetype = qr.image(token, kind)
    response = Response(body, mimetype=mimetype)
    response.set_etag(hashlib.sha256(f"{kind}:{token}".encode()).hexdigest())
    response.cache_control.private = True
    response.cache_control.max_age = QR_MAX_AGE
    return response.make_conditional(request)


QR_DOC = {"200": {"description": "the coupon's QR code"}, "304": {"description": "unchanged"}}


@blp.route("/coupons/<int:coupon_id>/qr.png", methods=["GET"])
@requires("coupon.qr")
@blp.doc(responses=QR_DOC)
def coupon_qr_png(coupon):
    """The coupon's QR code as PNG, for its holder."""
    return _qr_response(coupon, "png")


@blp.route("/coupons/<int:coupon_id>/qr.svg", methods=["GET"])
@requires("coupon.qr")
@blp.doc(responses=QR_DOC)
def coupon_qr_svg(coupon):
    """The coupon's QR code as SVG, for its holder."""
    return _qr_response(coupon, "svg")


@blp.route("/coupons/<int:coupon_id>/revoke", methods=["POST"])
@requires("coupon.revoke")
@idempotent
@blp.arguments(RevokeIn)
@blp.response(200, CouponOut)
def revoke(data, coupon):
    """Revoke a coupon: its remaining points go back to the wallet (convert) or to
    issuance (grant)."""
    return shown(coupons.revoke_coupon(coupon, reason=data["reason"], actor=g.actor))


@blp.route("/communities/<slug>/coupons/verify", methods=["POST"])
@requires("coupon.verify")
@blp.arguments(VerifyIn)
@blp.response(200, VerifiedCouponOut)
def verify(data, community):
    """Check a scanned token or typed code: a usable coupon of this community, or
    a problem naming why not (tampered, unknown key, expired, revoked, used up,
    another community's). Changes nothing."""
    with ratelimit.watching_codes(g.actor.id):
        if "token" in data:
            coupon = coupons.verify_coupon(data["token"], community)
        else:
            coupon = coupons.coupon_by_code(data["code"], community)
    valid_here = None
    if g.actor.role == Role.MERCHANT_STAFF:
        valid_here = coupons.coupon_valid_at(coupon, g.actor.merchant)
    return {**shown(coupon), "valid_at_merchant": valid_here}


@blp.route("/keys", methods=["GET"])
@requires("keys.read")
@blp.response(200, KeysOut)
@blp.doc(security=[])
def keys():
    """The public keys that verify coupon tokens (JSON Web Keys, Ed25519), current first."""
    return {"keys": signing.public_keys()}, 200, {"Cache-Control": "public, max-age=300"}
