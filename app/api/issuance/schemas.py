import marshmallow as ma

from models import CouponFunding, ExpiryTarget, Validity

POINTS = ma.validate.Range(min=1, max=1_000_000_000)


class MerchantRef(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()


class MerchantGroupIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    merchant_ids = ma.fields.List(
        ma.fields.Integer(strict=True), load_default=list, validate=ma.validate.Length(max=1000)
    )


class MerchantGroupOut(ma.Schema):
    id = ma.fields.Integer()
    community_id = ma.fields.Integer()
    name = ma.fields.String()
    merchants = ma.fields.List(ma.fields.Nested(MerchantRef))
    created_at = ma.fields.AwareDateTime()


class GroupMerchantIn(ma.Schema):
    merchant_id = ma.fields.Integer(required=True, strict=True)


class TierSchema(ma.Schema):
    min_points_earned = ma.fields.Integer(required=True, strict=True, validate=POINTS)
    points = ma.fields.Integer(required=True, strict=True, validate=POINTS)


class IssuanceRuleIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    min_points_earned = ma.fields.Integer(
        strict=True,
        allow_none=True,
        load_default=None,
        validate=POINTS,
        metadata={"description": "eligible with at least this many points earned in the period"},
    )
    min_attendances = ma.fields.Integer(
        strict=True,
        allow_none=True,
        load_default=None,
        validate=ma.validate.Range(min=1, max=10_000),
        metadata={"description": "...or with at least this many attendances in the period"},
    )
    points = ma.fields.Integer(
        strict=True,
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
    valid_days = ma.fields.Integer(
        strict=True, allow_none=True, load_default=None, validate=ma.validate.Range(min=1, max=366)
    )
    funding = ma.fields.Enum(CouponFunding, by_value=True, required=True)
    on_expiry = ma.fields.Enum(ExpiryTarget, by_value=True, required=True)
    merchant_group_id = ma.fields.Integer(strict=True, allow_none=True, load_default=None)
    merchant_group = ma.fields.String(
        allow_none=True,
        load_default=None,
        validate=ma.validate.Length(min=1, max=200),
        metadata={"description": "the group's name; or give merchant_group_id; neither: all"},
    )


class IssuanceRuleOut(ma.Schema):
    id = ma.fields.Integer()
    community_id = ma.fields.Integer()
    name = ma.fields.String()
    min_points_earned = ma.fields.Integer(allow_none=True)
    min_attendances = ma.fields.Integer(allow_none=True)
    points = ma.fields.Integer(allow_none=True)
    tiers = ma.fields.List(ma.fields.Nested(TierSchema))
    validity = ma.fields.Enum(Validity, by_value=True)
    valid_days = ma.fields.Integer(allow_none=True)
    funding = ma.fields.Enum(CouponFunding, by_value=True)
    on_expiry = ma.fields.Enum(ExpiryTarget, by_value=True)
    merchant_group_id = ma.fields.Integer(allow_none=True)
    merchant_group = ma.fields.Pluck(MerchantRef, "name", allow_none=True)
    created_by_id = ma.fields.Integer()
    created_at = ma.fields.AwareDateTime()


class IssuanceRunIn(ma.Schema):
    rule_id = ma.fields.Integer(required=True, strict=True)
    period = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^\d{4}-\d{2}$", error="A month as YYYY-MM."),
        metadata={"description": "the month (Asia/Shanghai) whose earnings count, YYYY-MM"},
    )


class IssuanceRunOut(ma.Schema):
    id = ma.fields.Integer()
    community_id = ma.fields.Integer()
    rule_id = ma.fields.Integer()
    period = ma.fields.String()
    issued = ma.fields.Integer(metadata={"description": "coupons issued by this run"})
    points = ma.fields.Integer(metadata={"description": "their points, now in coupon escrow"})
    skipped = ma.fields.Integer(
        metadata={"description": "eligible, but the wallet did not hold a convert coupon's points"}
    )
    actor_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()
