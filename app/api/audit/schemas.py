import marshmallow as ma


class AuditEntryOut(ma.Schema):
    id = ma.fields.Integer()
    community_id = ma.fields.Integer(allow_none=True)
    actor_id = ma.fields.Integer(allow_none=True)
    action = ma.fields.String()
    method = ma.fields.String()
    path = ma.fields.String()
    status_code = ma.fields.Integer()
    target_id = ma.fields.Integer(allow_none=True)
    remote_addr = ma.fields.String(allow_none=True)
    user_agent = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class AuditListArgs(ma.Schema):
    cursor = ma.fields.String()
    limit = ma.fields.Integer(validate=ma.validate.Range(min=1, max=200))
    action = ma.fields.String(metadata={"description": "only this action, e.g. award.create"})
    actor_id = ma.fields.Integer()
