import marshmallow as ma

from models import AwardStatus

from ... import fields


class AwardIn(ma.Schema):
    member_id = fields.Id(required=True)
    points = fields.Integer(
        required=True,
        validate=ma.validate.Range(min=-1_000_000_000, max=1_000_000_000),
        metadata={"description": "positive to award, negative to deduct"},
    )
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class AwardOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    member_id = fields.Integer()
    points = fields.Integer()
    reason = ma.fields.String()
    status = ma.fields.Enum(AwardStatus, by_value=True)
    requested_by_id = fields.Integer()
    decided_by_id = fields.Integer(allow_none=True)
    transaction_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    decided_at = fields.AwareDateTime(allow_none=True)


class AwardListArgs(ma.Schema):
    cursor = ma.fields.String()
    limit = fields.QueryInteger(minimum=1, maximum=200)
    status = ma.fields.Enum(AwardStatus, by_value=True)
