import marshmallow as ma

from models import Role

from ... import fields


class TokenRequest(ma.Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=80))
    password = ma.fields.String(
        required=True, load_only=True, validate=ma.validate.Length(max=1024)
    )


class CommunityRef(ma.Schema):
    id = fields.Integer()
    slug = ma.fields.String()
    name = ma.fields.String()
    points_per_yuan = fields.Integer()


class WalletRef(ma.Schema):
    points = fields.Integer()
    value_fen = fields.Integer()


class UserSchema(ma.Schema):
    id = fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()
    role = ma.fields.Enum(Role, by_value=True)
    roles = ma.fields.Method("_roles")
    community_id = fields.Integer(allow_none=True)
    merchant_id = fields.Integer(allow_none=True)

    def _roles(self, obj):
        return [Role(ma.utils.get_value(obj, "role")).value]


class TokenResponse(ma.Schema):
    token = ma.fields.String()
    token_type = ma.fields.Constant("Bearer")
    expires_at = fields.AwareDateTime()
    user = ma.fields.Nested(UserSchema)


class MeSchema(UserSchema):
    community = ma.fields.Nested(CommunityRef, allow_none=True)
    wallet = ma.fields.Nested(WalletRef, allow_none=True)
