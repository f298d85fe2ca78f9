"""What a till sends: the one shape of a redemption request.

The API's ``POST /api/v1/redemptions`` (and its preview) and the POS page's
JSON endpoints accept the same body, so they load it with this one schema.
"""

import marshmallow as ma
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

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
    bill_fen = ma.fields.Integer(required=True, strict=True)
    offer_id = ma.fields.Integer(strict=True, allow_none=True)
    merchant_id = ma.fields.Integer(
        strict=True,
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
