import marshmallow as ma

from ... import fields


class AuditEntryOut(ma.Schema):
    id = fields.Integer()
    community_id = fields.Integer()
    #: A member of the community, or (when null) the platform admin ``platform_admin_id``.
    actor_id = fields.Integer(allow_none=True)
    platform_admin_id = fields.Integer(allow_none=True)
    action = ma.fields.String()
    method = ma.fields.String()
    path = ma.fields.String()
    status_code = fields.Integer()
    target_id = fields.Integer(allow_none=True)
    remote_addr = ma.fields.String(allow_none=True)
    user_agent = ma.fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


class AuditListArgs(ma.Schema):
    cursor = ma.fields.String()
    limit = fields.QueryInteger(minimum=1, maximum=200)
    action = ma.fields.String(metadata={"description": "only this action, e.g. award.create"})
    actor_id = fields.QueryInteger(minimum=1)
