"""Merchant groups, issuance rules and issuance runs (design.md §5)."""

from flask import g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import IssuanceRule, IssuanceRun, Merchant, MerchantGroup

from ... import issuance, issuance_rules
from ...authz import requires
from ...earnings import Period
from ...extensions import db
from ...idempotency import idempotent
from ...pagination import PageArgs, newest_first, page, page_schema
from ...problems import InvalidInput, invalid_field
from ..blueprint import Blueprint
from .schemas import (
    GroupMerchantIn,
    IssuanceRuleIn,
    IssuanceRuleOut,
    IssuanceRunIn,
    IssuanceRunOut,
    MerchantGroupIn,
    MerchantGroupOut,
)

blp = Blueprint(
    "issuance", __name__, url_prefix="/api/v1", description="Coupon rules and issuance runs"
)


#: For a looked-up object not in the community: the field's error, and the reader's sentence.
UNKNOWN = {
    Merchant: ("Unknown merchant.", _l("No merchant %(id)s in this community.")),
    MerchantGroup: ("Unknown merchant group.", _l("No merchant group %(id)s in this community.")),
    IssuanceRule: ("Unknown issuance rule.", _l("No issuance rule %(id)s in this community.")),
}


def _unknown(model, field: str, value) -> InvalidInput:
    message, sentence = UNKNOWN[model]
    return invalid_field(field, message, str(sentence) % {"id": repr(value)})


@blp.route("/communities/<slug>/merchant-groups", methods=["POST"])
@requires("merchant_group.create")
@blp.arguments(MerchantGroupIn)
@blp.response(201, MerchantGroupOut)
def create_merchant_group(data, community):
    """Name a set of partner merchants, such as the 微街长 shops, for rules to use."""
    return issuance_rules.create_merchant_group(community, **data)


@blp.route("/communities/<slug>/merchant-groups", methods=["GET"])
@requires("merchant_group.read")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(MerchantGroupOut, "MerchantGroupPage"))
def list_merchant_groups(args, community):
    """The community's merchant groups, newest first."""
    query = issuance_rules.groups_of(community)
    return page(newest_first(query, MerchantGroup.id), args)


def _of_community(model, object_id: int, community_id: int, field: str):
    """The ``model`` row with this id in the community, or a 422 naming ``field``."""
    found = db.session.get(model, object_id)
    if found is None or found.community_id != community_id:
        raise _unknown(model, field, object_id)
    return found


@blp.route("/merchant-groups/<int:group_id>/merchants", methods=["POST"])
@requires("merchant_group.update")
@blp.arguments(GroupMerchantIn)
@blp.response(200, MerchantGroupOut)
def add_merchant(data, merchant_group):
    """Add a merchant to the group (adding one already in it changes nothing)."""
    merchant = _of_community(
        Merchant, data["merchant_id"], merchant_group.community_id, "merchant_id"
    )
    return issuance_rules.add_to_group(merchant_group, merchant)


@blp.route("/merchant-groups/<int:group_id>/merchants/<int:merchant_id>", methods=["DELETE"])
@requires("merchant_group.update")
@blp.response(200, MerchantGroupOut)
def remove_merchant(merchant_group, merchant):
    """Take a merchant out of the group; rules naming the group stop covering it."""
    return issuance_rules.remove_from_group(merchant_group, merchant)


def _group_named(community, data) -> MerchantGroup | None:
    by_id, by_name = data.pop("merchant_group_id"), data.pop("merchant_group")
    if by_id is not None and by_name is not None:
        raise InvalidInput(
            _("Name the merchant group by merchant_group_id or by merchant_group, not both."),
            errors={"json": {"merchant_group": ["Give one of merchant_group, merchant_group_id."]}},
        )
    if by_id is not None:
        return _of_community(MerchantGroup, by_id, community.id, "merchant_group_id")
    if by_name is not None:
        group = issuance_rules.group_named(community, by_name)
        if group is None:
            raise _unknown(MerchantGroup, "merchant_group", by_name)
        return group
    return None


@blp.route("/communities/<slug>/issuance-rules", methods=["POST"])
@requires("issuance_rule.create")
@blp.arguments(IssuanceRuleIn)
@blp.response(201, IssuanceRuleOut)
def create_rule(data, community):
    """Make an issuance rule: who is eligible, the coupon's points, where and how long
    it is valid, how it is funded (grant or convert) and where expired points go."""
    group = _group_named(community, data)
    tiers = [(tier["min_points_earned"], tier["points"]) for tier in data.pop("tiers")]
    return issuance_rules.create_rule(
        community, merchant_group=group, tiers=tiers, actor=g.actor, **data
    )


@blp.route("/communities/<slug>/issuance-rules", methods=["GET"])
@requires("issuance_rule.read")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(IssuanceRuleOut, "IssuanceRulePage"))
def list_rules(args, community):
    """The community's issuance rules, newest first."""
    return page(newest_first(issuance_rules.rules_of(community), IssuanceRule.id), args)


@blp.route("/issuance-rules/<int:rule_id>", methods=["GET"])
@requires("issuance_rule.read")
@blp.response(200, IssuanceRuleOut)
def get_rule(rule):
    """One issuance rule."""
    return rule


@blp.route("/communities/<slug>/issuance-runs", methods=["POST"])
@requires("issuance_run.create")
@idempotent
@blp.arguments(IssuanceRunIn)
@blp.response(201, IssuanceRunOut)
def create_run(data, community):
    """Issue a rule's coupons for a finished month: ``{issued, points}``.

    Running the same rule and month again issues nothing more.
    """
    rule = _of_community(IssuanceRule, data["rule_id"], community.id, "rule_id")
    return issuance.issue_coupons(rule, Period.parse(data["period"]), actor=g.actor)


@blp.route("/communities/<slug>/issuance-runs", methods=["GET"])
@requires("issuance_run.list")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(IssuanceRunOut, "IssuanceRunPage"))
def list_runs(args, community):
    """Issuance runs with what each issued, newest first."""
    return page(newest_first(issuance.runs_of(community), IssuanceRun.id), args)
