import marshmallow as ma

from models import Role

from ... import fields

SLUG = ma.validate.Regexp(
    r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$", error="Lowercase letters, digits and '-'."
)


class CommunityIn(ma.Schema):
    slug = ma.fields.String(required=True, validate=SLUG)
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    points_per_yuan = fields.Integer(
        load_default=50, validate=ma.validate.Range(min=1, max=1_000_000)
    )


class CommunityOut(ma.Schema):
    id = fields.Integer()
    slug = ma.fields.String()
    name = ma.fields.String()
    points_per_yuan = fields.Integer()
    award_approval_threshold = fields.Integer()
    created_at = fields.AwareDateTime()


class MemberIn(ma.Schema):
    username = ma.fields.String(
        required=True,
        validate=[
            ma.validate.Length(min=1, max=80),
            ma.validate.Regexp(r"^\S+$", error="No spaces."),
        ],
    )
    password = ma.fields.String(
        required=True, load_only=True, validate=ma.validate.Length(max=1024)
    )
    display_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    role = ma.fields.Enum(Role, by_value=True, required=True)
    merchant_id = fields.Id(load_default=None, allow_none=True)


class MemberOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer(allow_none=True)
    username = ma.fields.String()
    display_name = ma.fields.String()
    role = ma.fields.Enum(Role, by_value=True)
    merchant_id = fields.Integer(allow_none=True)
    active = ma.fields.Boolean()
    created_at = fields.AwareDateTime()


class MemberListArgs(ma.Schema):
    cursor = ma.fields.String()
    limit = fields.QueryInteger(minimum=1, maximum=200)
    role = ma.fields.Enum(Role, by_value=True)


class MerchantIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    category = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    address = ma.fields.String(validate=ma.validate.Length(max=300))
    opening_hours = ma.fields.String(validate=ma.validate.Length(max=200))
    phone = ma.fields.String(validate=ma.validate.Length(max=40))


class MerchantOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    name = ma.fields.String()
    category = ma.fields.String()
    address = ma.fields.String()
    opening_hours = ma.fields.String()
    phone = ma.fields.String()
    active = ma.fields.Boolean()
    created_at = fields.AwareDateTime()
