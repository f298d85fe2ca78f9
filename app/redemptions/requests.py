"""What a till sends: the one shape of a redemption request, and its code field read by shape.

The API's ``POST /api/v1/redemptions`` (and its preview) and the POS page's
JSON endpoints accept the same body, so they load it with this one schema.
"""

import re

import marshmallow as ma
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import fields
from ..coupon_tokens import CODE_ALPHABET, CODE_LENGTH, normalize_code
from ..problems import InvalidInput


class InvalidRedemptionRequest(InvalidInput):
    """A till's request the schema refuses; said to the cashier plainly."""

    message = _l("Please check the code and the amount.")


def load(body) -> dict:
    """The request's fields, or :class:`InvalidRedemptionRequest` naming the bad ones."""
    try:
        return RedemptionIn().load(body if isinstance(body, dict) else {})
    except ma.ValidationError as error:
        raise InvalidRedemptionRequest(
            _("The request has invalid fields; see errors."), errors={"json": error.messages}
        ) from error


class RedemptionIn(ma.Schema):
    token = ma.fields.String(
        validate=ma.validate.Length(min=1, max=400), metadata={"description": "scanned coupon QR"}
    )
    code = ma.fields.String(
        validate=ma.validate.Length(min=1, max=40), metadata={"description": "typed coupon code"}
    )
    pay_code = ma.fields.String(
        validate=ma.validate.Length(min=1, max=40), metadata={"description": "resident's 付款码"}
    )
    bill_fen = fields.Integer(required=True)
    offer_id = fields.Id(allow_none=True)
    merchant_id = fields.Id(
        allow_none=True,
        metadata={"description": "optional; must be the cashier's own merchant"},
    )

    @ma.validates_schema
    def _one_of(self, data, **_kwargs):
        given = [name for name in ("token", "code", "pay_code") if name in data]
        if len(given) != 1:
            raise ma.ValidationError(
                "Give exactly one of the scanned token, the typed code or the pay-code.", "token"
            )


class UnreadableCode(InvalidInput):
    slug = "unreadable-code"
    title = _l("Not a coupon code or pay-code")
    message = _l("This is neither a coupon code nor a pay-code. Check it and enter it again.")


#: A pay-code: the member id, a window digit and nine digits of MAC (app.paycodes).
PAY_CODE_SHAPE = re.compile(r"[1-9][0-9]{10,29}")
#: A coupon's short code, in its alphabet without look-alikes (app.coupon_tokens).
COUPON_CODE_SHAPE = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")


def read_code(text: str | None) -> dict:
    """What a till's code field holds, by its shape: a signed coupon token (it has a
    dot), a pay-code (eleven or more digits) or a coupon's short code (ten characters
    of its alphabet); spaces and dashes, as the screens group them, are ignored. The
    result is the request's source field: ``token``, ``pay_code`` or ``code``."""
    text = (text or "").strip()
    if "." in text:
        return {"token": text}
    compact = normalize_code(text)
    if PAY_CODE_SHAPE.fullmatch(compact):
        return {"pay_code": compact}
    if COUPON_CODE_SHAPE.fullmatch(compact):
        return {"code": compact}
    raise UnreadableCode(errors={"json": {"text": [_("Not a coupon code or pay-code.")]}})
