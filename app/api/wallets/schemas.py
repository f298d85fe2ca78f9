import marshmallow as ma

from ... import fields


class BalanceOut(ma.Schema):
    member_id = fields.Integer()
    points = fields.Integer()
    value_fen = fields.Integer(metadata={"description": "floor(points * 100 / points_per_yuan)"})
    remainder_centipoints = fields.Integer(
        metadata={"description": "hundredths of a point the floor left unconverted"}
    )
    points_per_yuan = fields.Integer()


class HistoryLineOut(ma.Schema):
    id = fields.Integer(metadata={"description": "ledger entry id"})
    transaction_id = fields.Integer()
    kind = ma.fields.String()
    memo = ma.fields.String()
    points = fields.Integer(metadata={"description": "signed change to the wallet"})
    balance_after = fields.Integer()
    reverses_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    reference = ma.fields.String(
        allow_none=True, metadata={"description": "what the line is for, e.g. attendance:12"}
    )
    activity_id = fields.Integer(
        allow_none=True, metadata={"description": "the activity an attendance award was for"}
    )
    activity_title = ma.fields.String(allow_none=True)
