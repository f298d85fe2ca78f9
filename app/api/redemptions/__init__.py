"""Redemption at the till: preview, redeem, void, and one redemption."""

from functools import wraps

import marshmallow as ma
from flask import Response, g, jsonify, request

from models import Redemption, utcnow

from ... import auth, idempotency, redemptions
from ...authz import requires
from ...idempotency import idempotent
from ...pagination import page
from ..blueprint import Blueprint
from .schemas import HistoryArgs, HistoryOut, PreviewOut, RedemptionIn, RedemptionOut

blp = Blueprint(
    "redemptions", __name__, url_prefix="/api/v1", description="Redemption at partner merchants"
)

_IN = RedemptionIn()
_OUT = RedemptionOut()


def _receipt_response(receipt: dict) -> Response:
    response = jsonify(_OUT.dump(receipt))
    response.status_code = 201
    return response


def till_first(view):
    """Offer the request to the till's two-statement path where the database has
    one; anything it does not answer, having changed nothing, goes to ``view``."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        till = redemptions.writer().till
        if till is not None:
            asked = _till_request()
            if asked is not None:
                response = till.redeem(asked, _receipt_response)
                if response is not None:
                    return response
        return view(*args, **kwargs)

    return wrapper


def _till_request() -> redemptions.TillRequest | None:
    """The request as the till takes it, or None for one it does not take."""
    secret, key = auth.bearer_secret(), idempotency.request_key()
    body = request.get_json(silent=True)
    if secret is None or key is None or not isinstance(body, dict):
        return None
    try:
        wanted = _IN.load(body)
    except ma.ValidationError:
        return None
    now = utcnow()
    return redemptions.TillRequest(
        secret=secret,
        wanted=wanted,
        key=key,
        key_fingerprint=idempotency.fingerprint(),
        key_expires_at=idempotency.expires_at(now),
        now=now,
    )


@blp.route("/redemptions/preview", methods=["POST"])
@requires("redemption.create")
@blp.arguments(RedemptionIn)
@blp.response(200, PreviewOut)
def preview(data):
    """The split of a bill for a scanned coupon, typed code or pay-code, at the
    cashier's merchant. Changes nothing."""
    return redemptions.preview(redemptions.quote(g.actor, **data))


@blp.route("/redemptions", methods=["POST"])
@till_first
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
    """Every matching redemption, newest first, as a CSV download for people."""
    name = f"redemptions-merchant-{merchant.id}.csv"
    return Response(
        redemptions.csv_text(query),
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
