import marshmallow as ma

from models import OfferKind

from ... import fields
from ...offers import is_current
from ..communities.schemas import MerchantOut


class MerchantPatch(ma.Schema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    category = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    address = ma.fields.String(validate=ma.validate.Length(max=300))
    opening_hours = ma.fields.String(validate=ma.validate.Length(max=200))
    phone = ma.fields.String(validate=ma.validate.Length(max=40))
    active = ma.fields.Boolean()


class OfferIn(ma.Schema):
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    description = ma.fields.String(validate=ma.validate.Length(max=1000))
    kind = ma.fields.Enum(OfferKind, by_value=True, required=True)
    discount_percent = fields.Integer(allow_none=True, validate=ma.validate.Range(min=1, max=100))
    price_fen = fields.Integer(allow_none=True, validate=ma.validate.Range(min=0, max=10**10))
    max_points_per_bill = fields.Integer(
        allow_none=True, validate=ma.validate.Range(min=1, max=10**9)
    )
    active_from = fields.Date(allow_none=True)
    active_until = fields.Date(allow_none=True)


class OfferPatch(OfferIn):
    title = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    kind = ma.fields.Enum(OfferKind, by_value=True)
    active = ma.fields.Boolean()


class OfferOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    merchant_id = fields.Integer()
    title = ma.fields.String()
    description = ma.fields.String()
    kind = ma.fields.Enum(OfferKind, by_value=True)
    discount_percent = fields.Integer(allow_none=True)
    price_fen = fields.Integer(allow_none=True)
    max_points_per_bill = fields.Integer(allow_none=True)
    active_from = fields.Date(allow_none=True)
    active_until = fields.Date(allow_none=True)
    active = ma.fields.Boolean()
    current = ma.fields.Method("_current", metadata={"description": "applies today"})

    def _current(self, offer):
        return is_current(offer)


class MerchantWithOffers(MerchantOut):
    offers = ma.fields.List(ma.fields.Nested(OfferOut), metadata={"description": "offers today"})


class OfferListArgs(ma.Schema):
    all = ma.fields.Boolean(
        load_default=False, metadata={"description": "include inactive and past offers"}
    )
