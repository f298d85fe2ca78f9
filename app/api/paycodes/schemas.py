import marshmallow as ma

from ... import fields


class PayCodeOut(ma.Schema):
    member_id = fields.Integer()
    code = ma.fields.String(metadata={"description": "digits; show as QR and as text"})
    window_seconds = fields.Integer()
    refresh_at = fields.AwareDateTime(metadata={"description": "fetch the next code then"})
    expires_at = fields.AwareDateTime(metadata={"description": "no longer accepted from then"})
