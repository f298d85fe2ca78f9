"""Manual awards and deductions, with four-eyes approval above the threshold."""

import sqlalchemy as sa
from flask import g
from flask_babel import gettext as _

from models import Award, Member

from ... import awards
from ...authz import requires
from ...extensions import db
from ...idempotency import idempotent
from ...pagination import newest_first, page, page_schema
from ...problems import InvalidInput
from ..blueprint import Blueprint
from .schemas import AwardIn, AwardListArgs, AwardOut

blp = Blueprint("awards", __name__, url_prefix="/api/v1", description="Manual awards")


@blp.route("/communities/<slug>/awards", methods=["POST"])
@requires("award.create")
@idempotent
@blp.arguments(AwardIn)
@blp.response(201, AwardOut)
def create_award(data, community):
    """Award (points > 0) or deduct (points < 0) with a reason.

    Above the community's threshold the award is ``pending`` until a second
    fund admin approves it.
    """
    member = db.session.get(Member, data["member_id"])
    if member is None or member.community_id != community.id:
        raise InvalidInput(
            _("No member %(id)s in this community.", id=data["member_id"]),
            errors={"json": {"member_id": ["Unknown member."]}},
        )
    return awards.request_award(
        community, member, points=data["points"], reason=data["reason"], actor=g.actor
    )


@blp.route("/communities/<slug>/awards", methods=["GET"])
@requires("award.list")
@blp.arguments(AwardListArgs, location="query")
@blp.response(200, page_schema(AwardOut, "AwardPage"))
def list_awards(args, community):
    """Awards newest first; ``?status=pending`` for the approval queue."""
    query = sa.select(Award).where(Award.community_id == community.id)
    if args.get("status"):
        query = query.where(Award.status == args["status"])
    return page(newest_first(query, Award.id), args)


@blp.route("/awards/<int:award_id>/approve", methods=["POST"])
@requires("award.decide")
@idempotent
@blp.response(200, AwardOut)
def approve(award):
    """Approve a pending award (a fund admin other than the requester)."""
    return awards.decide_award(award, approve=True, actor=g.actor)


@blp.route("/awards/<int:award_id>/reject", methods=["POST"])
@requires("award.decide")
@idempotent
@blp.response(200, AwardOut)
def reject(award):
    """Reject a pending award; nothing moves."""
    return awards.decide_award(award, approve=False, actor=g.actor)
