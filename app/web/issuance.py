"""The fund admin's pages: issuance rules (list, create) and runs (list, start one)."""

import sqlalchemy as sa
from babel.lists import format_list
from flask import redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import SelectChoice

from models import CouponFunding, ExpiryTarget, IssuanceRule, IssuanceRun, Member, Validity

from .. import issuance
from ..authz import Scope, authorize
from ..earnings import Period, last_month
from ..extensions import db
from ..issuance_rules import create_rule, groups_of, rules_of
from ..problems import Conflict, Forbidden
from . import blp
from .forms import IssuanceRuleForm, IssuanceRunForm
from .pages import once

#: Runs shown, newest first.
RUNS_SHOWN = 50


def _admin(action: str) -> Member:
    """The signed-in member, allowed ``action`` in their own community (pages are per community)."""
    member = current_user._get_current_object()
    if member.community_id is None:
        raise Forbidden("These pages are for a community's fund admins.")
    authorize(member, action, Scope(member.community_id))
    return member


def _points(number: int) -> str:
    return f"{number:,}"


def _eligibility(rule: IssuanceRule) -> str:
    if rule.min_points_earned and rule.min_attendances:
        return _(
            "Earned at least %(points)s points, or attended at least %(count)s activities,"
            " in the month",
            points=_points(rule.min_points_earned),
            count=rule.min_attendances,
        )
    if rule.min_points_earned:
        return _(
            "Earned at least %(points)s points in the month",
            points=_points(rule.min_points_earned),
        )
    return _("Attended at least %(count)s activities in the month", count=rule.min_attendances)


def _worth(rule: IssuanceRule) -> str:
    if rule.points is not None:
        return _("%(points)s points", points=_points(rule.points))
    return "; ".join(
        _(
            "%(points)s points from %(earned)s earned",
            points=_points(tier.points),
            earned=_points(tier.min_points_earned),
        )
        for tier in rule.tiers
    )


def valid_where(group) -> str:
    if group is None:
        return _("All partner merchants")
    names = [merchant.name for merchant in group.merchants]
    shops = format_list(names, locale=get_locale()) if names else _("no shops yet")
    return _("%(group)s: %(shops)s", group=group.name, shops=shops)


def rule_summary(rule: IssuanceRule) -> list[tuple[str, str]]:
    """The rule in words, as (heading, text) lines; the headings are the form's labels."""
    if rule.validity == Validity.DAYS:
        valid = ngettext("%(num)s day", "%(num)s days", rule.valid_days)
    else:
        valid = _("Until the end of next month")
    funded = {
        CouponFunding.GRANT: _("The community (new points)"),
        CouponFunding.CONVERT: _("The resident's own points"),
    }[rule.funding]
    left = {
        ExpiryTarget.WALLET: _("Go back to the resident's points"),
        ExpiryTarget.EXPIRED: _("Expire"),
    }[rule.on_expiry]
    return [
        (_("Who gets one"), _eligibility(rule)),
        (_("Coupon"), _worth(rule)),
        (_("Where it can be spent"), valid_where(rule.merchant_group)),
        (_("Valid for"), valid),
        (_("Funded by"), funded),
        (_("Points left when it expires"), left),
    ]


@blp.get("/admin/issuance-rules")
@login_required
def issuance_rules():
    member = _admin("issuance_rule.create")
    rules = (
        db.session.execute(rules_of(member.community).order_by(IssuanceRule.id.desc()))
        .scalars()
        .all()
    )
    return render_template(
        "issuance_rules.html",
        rules=[(rule, rule_summary(rule)) for rule in rules],
    )


ALL_MERCHANTS = ""


@blp.route("/admin/issuance-rules/new", methods=["GET", "POST"])
@login_required
@once
def new_issuance_rule():
    member = _admin("issuance_rule.create")
    community = member.community
    groups = db.session.execute(groups_of(community)).scalars().all()
    form = IssuanceRuleForm()
    form.merchant_group.choices = [SelectChoice(ALL_MERCHANTS, _l("All partner merchants"))] + [
        SelectChoice(str(group.id), group.name) for group in groups
    ]
    if form.validate_on_submit():
        chosen = {str(group.id): group for group in groups}.get(form.merchant_group.data)
        try:
            create_rule(
                community,
                name=form.name.data,
                min_points_earned=form.min_points_earned.data,
                min_attendances=form.min_attendances.data,
                points=form.points.data,
                tiers=form.chosen_tiers(),
                merchant_group=chosen,
                validity=Validity(form.validity.data),
                valid_days=form.valid_days.data if form.validity.data == Validity.DAYS else None,
                funding=CouponFunding(form.funding.data),
                on_expiry=ExpiryTarget(form.on_expiry.data),
                actor=member,
            )
        except Conflict:
            form.name.errors.append(_l("A rule with this name already exists."))
        else:
            return redirect(url_for("web.issuance_rules"))
    return render_template("issuance_rule_form.html", form=form)


@blp.route("/admin/issuance-runs", methods=["GET", "POST"])
@login_required
@once
def issuance_runs():
    member = _admin("issuance_run.create")
    community = member.community
    rules = db.session.execute(rules_of(community).order_by(IssuanceRule.id.desc())).scalars().all()
    form = IssuanceRunForm(period=str(last_month()))
    form.rule.choices = [SelectChoice(rule.id, rule.name) for rule in rules]
    if form.validate_on_submit():
        rule = db.session.get(IssuanceRule, form.rule.data)
        try:
            run = issuance.issue_coupons(rule, Period.parse(form.period.data), actor=member)
        except issuance.PeriodNotOver:
            form.period.errors.append(
                _l("This month is not over yet; issue its coupons once it has ended.")
            )
        else:
            return redirect(url_for("web.issuance_runs", run=run.id))
    runs = (
        db.session.execute(
            issuance.runs_of(community).order_by(IssuanceRun.id.desc()).limit(RUNS_SHOWN)
        )
        .scalars()
        .all()
    )
    actors = {
        m.id: m.display_name
        for m in db.session.execute(
            sa.select(Member).where(Member.id.in_({run.actor_id for run in runs} - {None}))
        ).scalars()
    }
    return render_template(
        "issuance_runs.html",
        form=form,
        rules=rules,
        runs=runs,
        actors=actors,
        started=request.args.get("run", type=int),
    )
