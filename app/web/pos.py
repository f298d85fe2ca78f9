"""The merchant's till (POS): scan or type, preview, confirm, receipt, history, void.

The page signs in with the session cookie, so it cannot use the bearer-token
API; its small JSON endpoints here are CSRF-protected (``X-CSRFToken``) and
call the same domain functions and idempotency store as the API. Refusals come
back as ``application/problem+json`` with a translated ``message`` for the
cashier.

Whatever reaches the code field (a camera, a handheld scanner, a cashier
typing what the resident's screen shows) is read by its shape, spaces and
dashes ignored (:func:`app.redemptions.requests.read_code`), and checked at
once (``/pos/code``), so an unknown or unusable code is refused before the bill
is keyed in. The camera
posts its frames to the one decoder of :mod:`app.web.scanning`.
"""

import json
from datetime import date
from functools import wraps

from flask import Response, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from models import Redemption, RedemptionStatus, utcnow

from .. import coupons, offers, paycodes, redemptions
from ..authz import Scope, authorize
from ..extensions import db
from ..idempotency import idempotent
from ..money import format_fen
from ..problems import NotFound, Problem, handle_problem
from ..ratelimit import TooManyRequests
from ..redemptions import requests
from . import blp
from .coupons import grouped


@blp.app_template_filter("redemption_status")
def redemption_status(status: RedemptionStatus) -> str:
    return redemptions.STATUS_LABELS[status]


def json_problems(view):
    """Refusals as problem+json with the problem type's translated ``message``,
    rolled back by the boundary."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except Problem as error:
            response = handle_problem(error)
            # A limit says what to do and how long to wait; any other refusal, what it is.
            message = error.detail if isinstance(error, TooManyRequests) else error.shown
            body = {**json.loads(response.get_data()), "message": str(message)}
            response.set_data(json.dumps(body, ensure_ascii=False))
            return response

    return wrapper


def cashier_only(view):
    """Merchant staff only; they act as ``g.actor``, as the API's callers do."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        member = current_user._get_current_object()
        authorize(member, "redemption.create", Scope(member.community_id))
        g.actor = member
        return view(*args, **kwargs)

    return wrapper


def _request_fields() -> dict:
    return requests.load(request.get_json(silent=True))


def _shown(split_fields: dict) -> dict:
    """The amounts as the page shows them: ``¥1,234.56``."""
    return {
        name: format_fen(split_fields[name])
        for name in ("bill_fen", "discount_fen", "points_value_fen", "cash_fen")
    }


def _receipt(redemption: Redemption) -> dict:
    fields = {name: getattr(redemption, name) for name in redemptions.SPLIT_FIELDS}
    return {
        "id": redemption.id,
        "status": redemption.status.value,
        **fields,
        "shown": _shown(fields),
        "created_at": redemption.created_at.isoformat(),
    }


@blp.get("/pos")
@login_required
@cashier_only
def pos():
    merchant = redemptions.cashier_merchant(g.actor)
    return render_template("pos.html", merchant=merchant, offers=offers.current_offers(merchant))


@blp.post("/pos/code")
@login_required
@json_problems
@cashier_only
def pos_code():
    """Check a scanned or typed code before the bill: what it is and what it holds."""
    source = requests.read_code((request.get_json(silent=True) or {}).get("text"))
    merchant = redemptions.cashier_merchant(g.actor)
    community = merchant.community
    if "pay_code" in source:
        paycodes.verify_pay_code(source["pay_code"], community)
        return jsonify(source=source, label=_("Pay-code: pays with the resident's points"))
    if "token" in source:
        coupon = coupons.verify_coupon(source["token"], community)
    else:
        coupon = coupons.coupon_by_code(source["code"], community)
    if not coupons.coupon_valid_at(coupon, merchant):
        raise redemptions.CouponNotValidHere()
    label = _(
        "Coupon %(code)s: %(points)s points left",
        code=grouped(coupon.code, 5),
        points=f"{coupon.points_remaining:,}",
    )
    return jsonify(source=source, label=label, points=coupon.points_remaining)


@blp.post("/pos/preview")
@login_required
@json_problems
@cashier_only
def pos_preview():
    body = redemptions.preview(redemptions.quote(g.actor, **_request_fields()))
    return jsonify({**body, "shown": _shown(body)})


@blp.post("/pos/redemptions")
@login_required
@json_problems
@cashier_only
@idempotent
def pos_redeem():
    response = jsonify(_receipt(redemptions.redeem(g.actor, **_request_fields())))
    response.status_code = 201
    return response


def _own_redemption(redemption_id: int) -> Redemption:
    redemption = db.session.get(Redemption, redemption_id)
    if redemption is None or redemption.merchant_id != g.actor.merchant_id:
        raise NotFound(_("No redemption %(id)s at your shop.", id=redemption_id))
    scope = Scope(redemption.community_id, merchant_id=redemption.merchant_id)
    authorize(g.actor, "redemption.void", scope)
    return redemption


@blp.post("/pos/redemptions/<int:redemption_id>/void")
@login_required
@json_problems
@cashier_only
@idempotent
def pos_void(redemption_id: int):
    voided = redemptions.void(_own_redemption(redemption_id), actor=g.actor)
    return jsonify(_receipt(voided))


def _history_filters() -> dict:
    def day(name):
        try:
            return date.fromisoformat(request.args.get(name, ""))
        except ValueError:
            return None

    status = request.args.get("status")
    return {
        "since": day("since"),
        "until": day("until"),
        "status": RedemptionStatus(status) if status in set(RedemptionStatus) else None,
    }


#: Redemptions shown on the history page; the CSV has all of them.
HISTORY_ROWS = 200


@blp.get("/pos/history")
@login_required
@cashier_only
def pos_history():
    merchant = redemptions.cashier_merchant(g.actor)
    filters = _history_filters()
    query = redemptions.history_query(merchant, **filters)
    now = utcnow()
    rows = [
        (row, redemptions.voidable(row, now)) for row in redemptions.newest(query, HISTORY_ROWS)
    ]
    return render_template(
        "pos_history.html",
        merchant=merchant,
        rows=rows,
        totals=redemptions.totals(query),
        filters=filters,
        statuses=list(RedemptionStatus),
    )


@blp.get("/pos/redemptions.csv")
@login_required
@cashier_only
def pos_history_csv():
    merchant = redemptions.cashier_merchant(g.actor)
    query = redemptions.history_query(merchant, **_history_filters())
    return Response(
        redemptions.csv_text(query),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="sales-{merchant.id}.csv"'},
    )
