import marshmallow as ma


class PayCodeOut(ma.Schema):
    member_id = ma.fields.Integer()
    code = ma.fields.String(metadata={"description": "digits; show as QR and as text"})
    window_seconds = ma.fields.Integer()
    refresh_at = ma.fields.AwareDateTime(metadata={"description": "fetch the next code then"})
    expires_at = ma.fields.AwareDateTime(metadata={"description": "no longer accepted from then"})
