"""The merchant's till (POS): scan or type, preview, confirm, receipt, history, void.

The page signs in with the session cookie, so it cannot use the bearer-token
API; its small JSON endpoints here are CSRF-protected (``X-CSRFToken``) and
call the same domain functions and idempotency store as the API. Refusals come
back as ``application/problem+json`` with a translated ``message`` for the
cashier.
"""

import io
import json
from datetime import date
from functools import wraps

import marshmallow as ma
import zxingcpp
from flask import g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from PIL import Image, UnidentifiedImageError

from models import Redemption, RedemptionStatus, utcnow

from .. import offers, redemptions
from ..api.redemptions import csv_response, preview_of
from ..api.redemptions.schemas import RedemptionIn
from ..authz import Scope, authorize
from ..extensions import db
from ..idempotency import idempotent
from ..money import format_fen
from ..problems import InvalidInput, NotFound, Problem, handle_problem
from ..ratelimit import TooManyRequests
from . import blp

#: Camera frames larger than this are refused before decoding.
MAX_FRAME_BYTES = 2 * 1024 * 1024

#: What the cashier reads when the till refuses, by problem slug.
REFUSALS = {
    "merchant-inactive": _l("This shop is not an active partner merchant."),
    "bill-out-of-range": _l("Enter a bill between ¥0.01 and ¥100,000.00."),
    "unknown-offer": _l("This offer does not exist."),
    "offer-of-another-merchant": _l("This offer belongs to another shop."),
    "offer-not-current": _l("This offer does not apply today."),
    "coupon-not-valid-at-merchant": _l("This coupon cannot be used at this shop."),
    "nothing-to-redeem": _l("Nothing to redeem: no points are needed for this bill."),
    "coupon-expired": _l("This coupon has expired."),
    "coupon-revoked": _l("This coupon was withdrawn by the community fund."),
    "coupon-used-up": _l("This coupon is used up."),
    "coupon-of-another-community": _l("This coupon belongs to another community."),
    "unknown-coupon": _l("No such coupon. Check the code and try again."),
    "invalid-coupon-token": _l("This is not a coupon QR code."),
    "coupon-signature-invalid": _l("This coupon QR code is forged or damaged."),
    "unknown-signing-key": _l("This coupon QR code is forged or damaged."),
    "invalid-pay-code": _l("This pay-code is not valid. Ask the resident to show it again."),
    "pay-code-expired": _l("This pay-code has expired. Ask the resident for a fresh one."),
    "pay-code-used": _l("This pay-code was already used. Ask the resident for the next one."),
    "pay-code-of-another-community": _l("This pay-code belongs to another community."),
    "redemption-already-voided": _l("This redemption was already voided."),
    "void-window-closed": _l("Too late to void: the time allowed has passed."),
    "redemption-settled": _l("This redemption is already settled and cannot be voided."),
    "coupon-closed": _l("The coupon has expired or was withdrawn; it cannot take points back."),
    "insufficient-balance": _l("Not enough points. Scan again and check the amount."),
    "invalid-input": _l("Please check the code and the amount."),
}


STATUS_LABELS = {
    RedemptionStatus.ACTIVE: _l("Done"),
    RedemptionStatus.VOIDED: _l("Voided"),
}


@blp.app_template_filter("redemption_status")
def redemption_status(status: RedemptionStatus) -> str:
    return STATUS_LABELS[status]


def json_problems(view):
    """Refusals as problem+json with a translated ``message``, rolled back by the boundary."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except Problem as error:
            response = handle_problem(error)
            message = REFUSALS.get(error.slug) or REFUSALS["invalid-input"]
            if isinstance(error, TooManyRequests):
                message = error.detail  # what to do, and how long to wait
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
    try:
        return RedemptionIn().load(request.get_json(silent=True) or {})
    except ma.ValidationError as error:
        raise InvalidInput(
            "The request has invalid fields; see errors.", errors={"json": error.messages}
        ) from error


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


@blp.post("/pos/scan")
@login_required
@json_problems
@cashier_only
def pos_scan():
    """Decode the QR code in one camera frame; ``text`` is null when there is none."""
    data = request.files["frame"].read() if "frame" in request.files else request.get_data()
    if not data or len(data) > MAX_FRAME_BYTES:
        raise InvalidInput("Send one camera frame (an image of at most 2 MB).")
    try:
        image = Image.open(io.BytesIO(data)).convert("L")
    except (UnidentifiedImageError, OSError) as error:
        raise InvalidInput("The frame is not an image.") from error
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return jsonify({"text": found[0].text if found else None})


@blp.post("/pos/preview")
@login_required
@json_problems
@cashier_only
def pos_preview():
    body = preview_of(redemptions.quote(g.actor, **_request_fields()))
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
        raise NotFound(f"No redemption {redemption_id} at your shop.")
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
    return csv_response(merchant, redemptions.history_query(merchant, **_history_filters()))
