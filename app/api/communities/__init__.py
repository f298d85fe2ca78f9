"""Communities, their members and merchants."""

import sqlalchemy as sa
from flask import g

from models import Member, Merchant

from ... import communities
from ...authz import audit_in, requires
from ...pagination import PageArgs, newest_first, page, page_schema
from ..blueprint import Blueprint
from .schemas import (
    CommunityIn,
    CommunityOut,
    MemberIn,
    MemberListArgs,
    MemberOut,
    MerchantIn,
    MerchantOut,
)

blp = Blueprint(
    "communities", __name__, url_prefix="/api/v1", description="Communities and members"
)


@blp.route("/communities", methods=["POST"])
@requires("community.create")
@blp.arguments(CommunityIn)
@blp.response(201, CommunityOut)
def create_community(data):
    """Create a community (platform admins)."""
    community = communities.create_community(**data)
    audit_in(community.id)
    return community


@blp.route("/communities/<slug>", methods=["GET"])
@requires("community.read")
@blp.response(200, CommunityOut)
def get_community(community):
    """One community."""
    return community


@blp.route("/communities/<slug>/members", methods=["POST"])
@requires("member.create")
@blp.arguments(MemberIn)
@blp.response(201, MemberOut)
def create_member(data, community):
    """Add a member: resident, organizer, merchant staff or fund admin."""
    return communities.create_member(community, actor=g.actor, **data)


@blp.route("/communities/<slug>/members", methods=["GET"])
@requires("member.list")
@blp.arguments(MemberListArgs, location="query")
@blp.response(200, page_schema(MemberOut, "MemberPage"))
def list_members(args, community):
    """The community's members, newest first."""
    query = sa.select(Member).where(Member.community_id == community.id)
    if args.get("role"):
        query = query.where(Member.role == args["role"])
    return page(newest_first(query, Member.id), args)


@blp.route("/communities/<slug>/merchants", methods=["POST"])
@requires("merchant.create")
@blp.arguments(MerchantIn)
@blp.response(201, MerchantOut)
def create_merchant(data, community):
    """Add a partner merchant; its staff are members with role merchant_staff."""
    return communities.create_merchant(community, **data)


@blp.route("/communities/<slug>/merchants", methods=["GET"])
@requires("community.read")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(MerchantOut, "MerchantPage"))
def list_merchants(args, community):
    """The community's partner merchants."""
    query = sa.select(Merchant).where(Merchant.community_id == community.id)
    return page(newest_first(query, Merchant.id), args)
