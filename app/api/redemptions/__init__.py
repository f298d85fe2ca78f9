"""Redemption at the till: preview, redeem, void, and one redemption."""

from flask import Response, g

from models import Redemption

from ... import redemptions
from ...authz import requires
from ...idempotency import idempotent
from ...pagination import page
from ..blueprint import Blueprint
from . import till
from .schemas import HistoryArgs, HistoryOut, PreviewOut, RedemptionIn, RedemptionOut

blp = Blueprint(
    "redemptions", __name__, url_prefix="/api/v1", description="Redemption at partner merchants"
)


def preview_of(found: redemptions.Quote) -> dict:
    split = found.split
    return {
        **{name: getattr(split, name) for name in redemptions.SPLIT_FIELDS},
        "merchant_id": found.merchant.id,
        "offer_id": found.offer.id if found.offer else None,
        "source": "coupon" if found.coupon else "pay_code",
        "coupon_id": found.coupon.id if found.coupon else None,
        "coupon_code": found.coupon.code if found.coupon else None,
        "member_id": found.member.id if found.member else None,
        "points_available": found.points_available,
    }


@blp.route("/redemptions/preview", methods=["POST"])
@requires("redemption.create")
@blp.arguments(RedemptionIn)
@blp.response(200, PreviewOut)
def preview(data):
    """The split of a bill for a scanned coupon, typed code or pay-code, at the
    cashier's merchant. Changes nothing."""
    return preview_of(redemptions.quote(g.actor, **data))


@blp.route("/redemptions", methods=["POST"])
@till.first
@requires("redemption.create")
@idempotent
@blp.arguments(RedemptionIn)
@blp.response(201, RedemptionOut)
def redeem(data):
    """Redeem: spend the points and return the receipt with the stored split."""
    return redemptions.redeem(g.actor, **data)


@blp.route("/redemptions/<int:redemption_id>", methods=["GET"])
@requires("redemption.read")
@blp.response(200, RedemptionOut)
def get_redemption(redemption):
    """One redemption (a receipt)."""
    return redemption


@blp.route("/redemptions/<int:redemption_id>/void", methods=["POST"])
@requires("redemption.void")
@idempotent
@blp.response(200, RedemptionOut)
def void(redemption):
    """Void a redemption of your merchant within the window and before settlement:
    the points go back to the coupon or wallet."""
    return redemptions.void(redemption, actor=g.actor)


def csv_response(merchant, query) -> Response:
    """Every matching redemption, newest first, as a CSV download."""
    body = redemptions.csv_text(redemptions.newest(query))
    name = f"redemptions-merchant-{merchant.id}.csv"
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def history_filters(args) -> dict:
    return {name: args.get(name) for name in ("since", "until", "status")}


@blp.route("/merchants/<int:merchant_id>/redemptions", methods=["GET"])
@requires("redemption.list")
@blp.arguments(HistoryArgs, location="query")
@blp.response(200, HistoryOut)
def merchant_redemptions(args, merchant):
    """The merchant's redemptions, newest first, with totals; ``since``/``until``
    (days, inclusive) and ``status`` filter; ``?format=csv`` exports every match."""
    query = redemptions.history_query(merchant, **history_filters(args))
    if args["format"] == "csv":
        return csv_response(merchant, query)

    def fetch(before, limit):
        paged = query if before is None else query.where(Redemption.id < before)
        return redemptions.newest(paged, limit)

    return {**page(fetch, args), "totals": redemptions.totals(query)}


@blp.route("/merchants/<int:merchant_id>/redemptions.csv", methods=["GET"])
@requires("redemption.list")
@blp.arguments(HistoryArgs, location="query")
@blp.doc(responses={"200": {"description": "text/csv"}})
def merchant_redemptions_csv(args, merchant):
    """The same history as CSV."""
    return csv_response(merchant, redemptions.history_query(merchant, **history_filters(args)))
