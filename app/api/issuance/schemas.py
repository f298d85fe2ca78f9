import marshmallow as ma

from models import CouponFunding, ExpiryTarget, Validity

from ... import fields

POINTS = ma.validate.Range(min=1, max=1_000_000_000)


class MerchantRef(ma.Schema):
    id = fields.Integer()
    name = ma.fields.String()


class MerchantGroupIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    merchant_ids = ma.fields.List(
        fields.Id(), load_default=list, validate=ma.validate.Length(max=1000)
    )


class MerchantGroupOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    name = ma.fields.String()
    merchants = ma.fields.List(ma.fields.Nested(MerchantRef))
    created_at = fields.AwareDateTime()


class GroupMerchantIn(ma.Schema):
    merchant_id = fields.Id(required=True)


class TierSchema(ma.Schema):
    min_points_earned = fields.Integer(required=True, validate=POINTS)
    points = fields.Integer(required=True, validate=POINTS)


class IssuanceRuleIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    min_points_earned = fields.Integer(
        allow_none=True,
        load_default=None,
        validate=POINTS,
        metadata={"description": "eligible with at least this many points earned in the period"},
    )
    min_attendances = fields.Integer(
        allow_none=True,
        load_default=None,
        validate=ma.validate.Range(min=1, max=10_000),
        metadata={"description": "...or with at least this many attendances in the period"},
    )
    points = fields.Integer(
        allow_none=True,
        load_default=None,
        validate=POINTS,
        metadata={"description": "fixed coupon points; or give tiers"},
    )
    tiers = ma.fields.List(
        ma.fields.Nested(TierSchema),
        load_default=list,
        validate=ma.validate.Length(max=20),
        metadata={"description": "coupon points by points earned: the highest tier reached"},
    )
    validity = ma.fields.Enum(
        Validity,
        by_value=True,
        allow_none=True,
        load_default=None,
        metadata={
            "description": "default: 'days' when valid_days is given, else end of next month"
        },
    )
    valid_days = fields.Integer(
        allow_none=True, load_default=None, validate=ma.validate.Range(min=1, max=366)
    )
    funding = ma.fields.Enum(CouponFunding, by_value=True, required=True)
    on_expiry = ma.fields.Enum(ExpiryTarget, by_value=True, required=True)
    merchant_group_id = fields.Id(allow_none=True, load_default=None)
    merchant_group = ma.fields.String(
        allow_none=True,
        load_default=None,
        validate=ma.validate.Length(min=1, max=200),
        metadata={"description": "the group's name; or give merchant_group_id; neither: all"},
    )


class IssuanceRuleOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    name = ma.fields.String()
    min_points_earned = fields.Integer(allow_none=True)
    min_attendances = fields.Integer(allow_none=True)
    points = fields.Integer(allow_none=True)
    tiers = ma.fields.List(ma.fields.Nested(TierSchema))
    validity = ma.fields.Enum(Validity, by_value=True)
    valid_days = fields.Integer(allow_none=True)
    funding = ma.fields.Enum(CouponFunding, by_value=True)
    on_expiry = ma.fields.Enum(ExpiryTarget, by_value=True)
    merchant_group_id = fields.Integer(allow_none=True)
    merchant_group = ma.fields.Pluck(MerchantRef, "name", allow_none=True)
    created_by_id = fields.Integer()
    created_at = fields.AwareDateTime()


class IssuanceRunIn(ma.Schema):
    rule_id = fields.Id(required=True)
    period = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^\d{4}-\d{2}$", error="A month as YYYY-MM."),
        metadata={"description": "the month (Asia/Shanghai) whose earnings count, YYYY-MM"},
    )


class IssuanceRunOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    rule_id = fields.Integer()
    period = ma.fields.String()
    issued = fields.Integer(metadata={"description": "coupons issued by this run"})
    points = fields.Integer(metadata={"description": "their points, now in coupon escrow"})
    skipped = fields.Integer(
        metadata={"description": "eligible, but the wallet did not hold a convert coupon's points"}
    )
    actor_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
