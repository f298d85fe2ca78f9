"""The platform admin's pages: communities (create one with its first fund admin,
add or promote fund admins, deactivate) and, on the home page, a read-only overview
across communities (:func:`app.communities.overview`)."""

import sqlalchemy as sa
from flask import flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from models import Community, Member, Role

from .. import communities
from ..authz import audit_in
from ..extensions import db
from ..problems import Problem
from . import blp
from .console_forms import (
    CommunityForm,
    FundAdminForm,
    PasswordForm,
    PromoteForm,
    add_member,
    refuse_into,
)
from .pages import once, page_action


@blp.route("/platform/communities", methods=["GET", "POST"])
@page_action("community.create")
@once
def platform_communities():
    form = CommunityForm()
    if form.validate_on_submit():
        if communities.by_slug(form.slug.data) is not None:
            form.slug.errors.append(_("Another community has this short name."))
        if communities.username_taken(form.admin_username.data):
            form.admin_username.errors.append(_("This username is taken."))
        if not form.errors:
            community = communities.create_community(
                form.slug.data, form.name.data, points_per_yuan=form.points_per_yuan.data
            )
            audit_in(community.id)
            communities.create_member(
                community,
                username=form.admin_username.data,
                password=form.admin_password.data,
                display_name=form.admin_name.data,
                role=Role.FUND_ADMIN,
                actor=g.actor,
            )
            said = _("%(name)s is set up with its first fund admin.", name=community.name)
            flash(said, "success")
            return redirect(url_for("web.platform_community", slug=community.slug), 303)
    listed = db.session.execute(sa.select(Community).order_by(Community.name)).scalars()
    page = render_template("platform/communities.html", form=form, communities=list(listed))
    return page, 422 if form.errors else 200


def _community_page(community, admin_form=None, promote_form=None):
    admins = db.session.execute(
        sa.select(Member)
        .where(Member.community_id == community.id, Member.role == Role.FUND_ADMIN)
        .order_by(Member.id)
    ).scalars()
    figures = next(row for row in communities.overview() if row.community.id == community.id)
    admin_form = admin_form or FundAdminForm(formdata=None)
    promote_form = promote_form or PromoteForm(formdata=None)
    page = render_template(
        "platform/community.html",
        community=community,
        figures=figures,
        admins=list(admins),
        admin_form=admin_form,
        promote_form=promote_form,
        password_form=PasswordForm(formdata=None),
    )
    return page, 422 if admin_form.errors or promote_form.errors else 200


@blp.get("/platform/communities/<slug>")
@page_action("community.deactivate")
def platform_community(community):
    return _community_page(community)


@blp.post("/platform/communities/<slug>/fund-admins")
@page_action("member.create")
@once
def add_fund_admin(community):
    form = FundAdminForm()
    if form.validate_on_submit():
        member = add_member(form, community, Role.FUND_ADMIN)
        if member is not None:
            flash(_("%(name)s is a fund admin now.", name=member.display_name), "success")
            return redirect(url_for("web.platform_community", slug=community.slug), 303)
    return _community_page(community, admin_form=form)


@blp.post("/platform/communities/<slug>/promote")
@page_action("member.update")
@once
def promote_fund_admin(community):
    form = PromoteForm()
    if form.validate_on_submit():
        member = db.session.execute(
            sa.select(Member).where(
                Member.community_id == community.id, Member.username == form.username.data
            )
        ).scalar_one_or_none()
        if member is None:
            form.username.errors.append(_("No member of this community has this username."))
        else:
            try:
                communities.change_role(member, Role.FUND_ADMIN, actor=g.actor)
            except Problem as problem:
                db.session.rollback()
                refuse_into(form, problem, "username")
            else:
                flash(_("%(name)s is a fund admin now.", name=member.display_name), "success")
                return redirect(url_for("web.platform_community", slug=community.slug), 303)
    return _community_page(community, promote_form=form)


@blp.post("/platform/communities/<slug>/<any(deactivate, reactivate):change>")
@page_action("community.deactivate")
@once
def change_community(community, change):
    communities.set_community_active(community, change == "reactivate")
    if change == "reactivate":
        flash(_("%(name)s is active again.", name=community.name), "success")
    else:
        flash(
            _("%(name)s is deactivated: its members can no longer sign in.", name=community.name),
            "success",
        )
    return redirect(url_for("web.platform_community", slug=community.slug), 303)
