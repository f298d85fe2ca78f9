import marshmallow as ma

from models import AwardStatus


class AwardIn(ma.Schema):
    member_id = ma.fields.Integer(required=True)
    points = ma.fields.Integer(
        required=True,
        strict=True,
        validate=ma.validate.Range(min=-1_000_000_000, max=1_000_000_000),
        metadata={"description": "positive to award, negative to deduct"},
    )
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class AwardOut(ma.Schema):
    id = ma.fields.Integer()
    community_id = ma.fields.Integer()
    member_id = ma.fields.Integer()
    points = ma.fields.Integer()
    reason = ma.fields.String()
    status = ma.fields.Enum(AwardStatus, by_value=True)
    requested_by_id = ma.fields.Integer()
    decided_by_id = ma.fields.Integer(allow_none=True)
    transaction_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    decided_at = ma.fields.AwareDateTime(allow_none=True)


class AwardListArgs(ma.Schema):
    cursor = ma.fields.String()
    limit = ma.fields.Integer(validate=ma.validate.Range(min=1, max=200))
    status = ma.fields.Enum(AwardStatus, by_value=True)
