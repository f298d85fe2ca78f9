import marshmallow as ma

from models import CouponStatus

from ... import fields


class CouponOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    member_id = fields.Integer()
    rule_id = fields.Integer()
    rule_name = ma.fields.String()
    period = ma.fields.String()
    token = ma.fields.String(
        allow_none=True,
        metadata={"description": "signed QR content; only for the coupon's holder"},
    )
    code = ma.fields.String(
        allow_none=True, metadata={"description": "short code for typing; only for the holder"}
    )
    points = fields.Integer(metadata={"description": "points issued"})
    points_remaining = fields.Integer()
    status = ma.fields.Enum(CouponStatus, by_value=True)
    merchant_group_id = fields.Integer(
        allow_none=True, metadata={"description": "null: valid at every partner merchant"}
    )
    merchant_group = ma.fields.String(allow_none=True)
    issued_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime(
        metadata={"description": "the first moment the coupon is no longer valid"}
    )
    closed_at = fields.AwareDateTime(allow_none=True)


class CouponListArgs(ma.Schema):
    cursor = ma.fields.String()
    limit = fields.QueryInteger(minimum=1, maximum=200)
    status = ma.fields.Enum(CouponStatus, by_value=True)


class RevokeIn(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=400))


class VerifyIn(ma.Schema):
    token = ma.fields.String(validate=ma.validate.Length(min=1, max=400))
    code = ma.fields.String(validate=ma.validate.Length(min=1, max=40))

    @ma.validates_schema
    def _one_of(self, data, **_kwargs):
        if ("token" in data) == ("code" in data):
            raise ma.ValidationError("Give the scanned token or the typed code.", "token")


class VerifiedCouponOut(CouponOut):
    valid_at_merchant = ma.fields.Boolean(
        allow_none=True,
        metadata={"description": "for merchant staff: whether it may be spent at their shop"},
    )


class KeyOut(ma.Schema):
    kid = ma.fields.String()
    kty = ma.fields.String()
    crv = ma.fields.String()
    alg = ma.fields.String()
    use = ma.fields.String()
    x = ma.fields.String(metadata={"description": "the raw public key, base64url"})


class KeysOut(ma.Schema):
    keys = ma.fields.List(ma.fields.Nested(KeyOut))
