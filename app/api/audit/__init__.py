"""The audit log: every admin write, newest first."""

import sqlalchemy as sa

from models import AuditEntry

from ...authz import requires
from ...pagination import newest_first, page, page_schema
from ..blueprint import Blueprint
from .schemas import AuditEntryOut, AuditListArgs

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="Audit log")


@blp.route("/communities/<slug>/audit-log", methods=["GET"])
@requires("audit.read")
@blp.arguments(AuditListArgs, location="query")
@blp.response(200, page_schema(AuditEntryOut, "AuditPage"))
def audit_log(args, community):
    """Who did what in this community, when and from where."""
    query = sa.select(AuditEntry).where(AuditEntry.community_id == community.id)
    if args.get("action"):
        query = query.where(AuditEntry.action == args["action"])
    if args.get("actor_id"):
        query = query.where(AuditEntry.actor_id == args["actor_id"])
    return page(newest_first(query, AuditEntry.id), args)
