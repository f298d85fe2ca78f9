import marshmallow as ma


class BalanceOut(ma.Schema):
    member_id = ma.fields.Integer()
    points = ma.fields.Integer()
    value_fen = ma.fields.Integer(metadata={"description": "floor(points * 100 / points_per_yuan)"})
    remainder_centipoints = ma.fields.Integer(
        metadata={"description": "hundredths of a point the floor left unconverted"}
    )
    points_per_yuan = ma.fields.Integer()


class HistoryLineOut(ma.Schema):
    id = ma.fields.Integer(metadata={"description": "ledger entry id"})
    transaction_id = ma.fields.Integer()
    kind = ma.fields.String()
    memo = ma.fields.String()
    points = ma.fields.Integer(metadata={"description": "signed change to the wallet"})
    balance_after = ma.fields.Integer()
    reverses_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    reference = ma.fields.String(
        allow_none=True, metadata={"description": "what the line is for, e.g. attendance:12"}
    )
    activity_id = ma.fields.Integer(
        allow_none=True, metadata={"description": "the activity an attendance award was for"}
    )
    activity_title = ma.fields.String(allow_none=True)
