"""The fund admins' console: members, manual awards with their approval queue, the
community's settings, and who got what in an issuance run.

Every page declares its action (:data:`app.authz.POLICY`), as the API does, and
calls the same domain functions; every form takes effect once
(:func:`app.web.pages.once`) and refuses bad input next to the field, in the
reader's language.
"""

import sqlalchemy as sa
from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from models import (
    Award,
    AwardStatus,
    Coupon,
    CouponStatus,
    Member,
    Merchant,
    Role,
)

from .. import awards, communities, coupons, wallets
from ..communities import wallet_of
from ..extensions import db
from ..problems import Conflict, Forbidden, InvalidInput, Problem
from . import blp
from .console_forms import (
    AwardForm,
    MemberForm,
    PasswordForm,
    RateForm,
    ReasonForm,
    RoleForm,
    SettingsForm,
    add_member,
    refuse_into,
    role_choices,
)
from .pages import console_action, once, page_action
from .views import safe_next

#: Members listed at once; a search narrows a community of thousands.
MEMBERS_SHOWN = 50
#: Decided awards listed under the queue.
DECIDED_SHOWN = 20
#: Coupons of a run listed at once.
RUN_COUPONS_SHOWN = 200

#: The domain's field names, as the console's forms call them.
FIELD_NAMES = {"merchant_id": "merchant"}


def _community():
    return g.actor.community


def _merchant_choices(community) -> list[SelectChoice]:
    shops = db.session.execute(
        sa.select(Merchant).where(Merchant.community_id == community.id).order_by(Merchant.name)
    ).scalars()
    return [SelectChoice("", _("No shop"))] + [
        SelectChoice(str(shop.id), shop.name) for shop in shops
    ]


def _chosen_merchant(form) -> int | None:
    if form.role.data != Role.MERCHANT_STAFF.value or not form.merchant.data:
        return None
    return int(form.merchant.data)


def _back(default: str):
    """Where a member page's form returns: the page it came from, if on this site."""
    return redirect(safe_next(request.args.get("next")) or default, 303)


# --- members ---------------------------------------------------------------------------


@blp.get("/admin/members")
@console_action("member.create")
def console_members():
    community = _community()
    query_text = (request.args.get("q") or "").strip()
    role = request.args.get("role") or ""
    query = sa.select(Member).where(Member.community_id == community.id)
    if role in set(Role):
        query = query.where(Member.role == Role(role))
    if query_text:
        pattern = f"%{query_text}%"
        query = query.where(
            sa.or_(Member.username.ilike(pattern), Member.display_name.ilike(pattern))
        )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    listed = db.session.execute(query.order_by(Member.id.desc()).limit(MEMBERS_SHOWN)).scalars()
    return render_template(
        "console/members.html",
        members=list(listed),
        total=total,
        q=query_text,
        role=role,
        roles=role_choices(include_fund_admin=True),
    )


@blp.route("/admin/members/new", methods=["GET", "POST"])
@console_action("member.create")
@once
def console_new_member():
    community = _community()
    form = MemberForm()
    form.role.choices = role_choices(include_fund_admin=False)
    form.merchant.choices = _merchant_choices(community)
    if form.validate_on_submit():
        member = add_member(
            form, community, Role(form.role.data), FIELD_NAMES, merchant_id=_chosen_merchant(form)
        )
        if member is not None:
            flash(_("%(name)s is added.", name=member.display_name), "success")
            return redirect(url_for("web.console_member", member_id=member.id), 303)
    return render_template("console/member_form.html", form=form), 422 if form.errors else 200


@blp.get("/admin/members/<int:member_id>")
@console_action("member.update")
def console_member(member):
    community = _community()
    role_form = RoleForm(role=member.role.value, merchant=str(member.merchant_id or ""))
    role_form.role.choices = role_choices(include_fund_admin=False)
    role_form.merchant.choices = _merchant_choices(community)
    wallet = wallet_of(member)
    return render_template(
        "console/member.html",
        member=member,
        balance=wallets.balance(member) if wallet is not None else None,
        password_form=PasswordForm(),
        role_form=role_form,
        manageable=member.id != g.actor.id and member.role != Role.FUND_ADMIN,
    )


def _member_change(member: Member, change, said: str):
    """Make a change to a member; a refusal is said on the page the form was on."""
    try:
        change()
    except (Conflict, Forbidden, InvalidInput) as problem:
        db.session.rollback()
        flash(problem.shown, "error")
        return _back(url_for("web.console_member", member_id=member.id))
    flash(said, "success")
    return _back(url_for("web.console_member", member_id=member.id))


@blp.post("/admin/members/<int:member_id>/deactivate")
@page_action("member.update")
@once
def deactivate_member(member):
    return _member_change(
        member,
        lambda: communities.set_member_active(member, False, actor=g.actor),
        _("%(name)s can no longer sign in.", name=member.display_name),
    )


@blp.post("/admin/members/<int:member_id>/reactivate")
@page_action("member.update")
@once
def reactivate_member(member):
    return _member_change(
        member,
        lambda: communities.set_member_active(member, True, actor=g.actor),
        _("%(name)s can sign in again.", name=member.display_name),
    )


@blp.post("/admin/members/<int:member_id>/password")
@page_action("member.update")
@once
def reset_member_password(member):
    form = PasswordForm()
    if not form.validate_on_submit():
        for message in form.password.errors:
            flash(message, "error")
        return _back(url_for("web.console_member", member_id=member.id))
    return _member_change(
        member,
        lambda: communities.reset_password(member, form.password.data, actor=g.actor),
        _("%(name)s has a new password. Hand it over in person.", name=member.display_name),
    )


@blp.post("/admin/members/<int:member_id>/role")
@console_action("member.update")
@once
def change_member_role(member):
    form = RoleForm()
    form.role.choices = role_choices(include_fund_admin=False)
    form.merchant.choices = _merchant_choices(_community())
    if not form.validate_on_submit():
        for message in form.role.errors + form.merchant.errors:
            flash(message, "error")
        return redirect(url_for("web.console_member", member_id=member.id), 303)
    return _member_change(
        member,
        lambda: communities.change_role(
            member, Role(form.role.data), actor=g.actor, merchant_id=_chosen_merchant(form)
        ),
        _("%(name)s is now: %(role)s.", name=member.display_name, role=_role_label(form)),
    )


def _role_label(form) -> str:
    return str(dict((choice.value, choice.label) for choice in form.role.choices)[form.role.data])


# --- manual awards and their approval ----------------------------------------------------


@blp.route("/admin/awards", methods=["GET", "POST"])
@console_action("award.create")
@once
def console_awards():
    community = _community()
    form = AwardForm(member=request.args.get("member", ""))
    if form.validate_on_submit():
        member = db.session.execute(
            sa.select(Member).where(
                Member.community_id == community.id, Member.username == form.member.data
            )
        ).scalar_one_or_none()
        if member is None or not member.active:
            form.member.errors.append(_("No active member of this community has this username."))
        elif wallet_of(member) is None:
            form.member.errors.append(_("This member holds no points: merchant staff earn none."))
        else:
            try:
                award = awards.request_award(
                    community,
                    member,
                    points=form.signed_points(),
                    reason=form.reason.data,
                    actor=g.actor,
                )
            except Problem as problem:
                db.session.rollback()
                refuse_into(form, problem, "points")
            else:
                flash(_award_said(award), "success")
                return redirect(url_for("web.console_awards"), 303)
    pending = db.session.execute(
        sa.select(Award)
        .where(Award.community_id == community.id, Award.status == AwardStatus.PENDING)
        .order_by(Award.id)
    ).scalars()
    decided = db.session.execute(
        sa.select(Award)
        .where(Award.community_id == community.id, Award.status != AwardStatus.PENDING)
        .order_by(Award.id.desc())
        .limit(DECIDED_SHOWN)
    ).scalars()
    page = render_template(
        "console/awards.html",
        form=form,
        pending=list(pending),
        decided=list(decided),
        threshold=community.award_approval_threshold,
        people=_names(community),
    )
    return page, 422 if form.errors else 200


def _names(community) -> dict[int, str]:
    """Display names of the community's fund admins, for who asked and who decided."""
    return dict(
        db.session.execute(
            sa.select(Member.id, Member.display_name).where(
                Member.community_id == community.id, Member.role == Role.FUND_ADMIN
            )
        ).all()
    )


def _award_said(award: Award) -> str:
    name = award.member.display_name
    if award.status == AwardStatus.PENDING:
        return _(
            "%(points)s points for %(name)s wait for a second fund admin's approval.",
            points=f"{award.points:+,}",
            name=name,
        )
    return _("%(points)s points for %(name)s are booked.", points=f"{award.points:+,}", name=name)


@blp.post("/admin/awards/<int:award_id>/<any(approve, reject):decision>")
@console_action("award.decide")
@once
def decide_award(award, decision):
    try:
        awards.decide_award(award, approve=decision == "approve", actor=g.actor)
    except (Conflict, Forbidden):
        db.session.rollback()
        flash(_("This award cannot be decided by you, or was decided already."), "error")
    else:
        if decision == "approve":
            flash(_award_said(award), "success")
        else:
            flash(
                _("The award for %(name)s is rejected.", name=award.member.display_name), "success"
            )
    return redirect(url_for("web.console_awards"), 303)


# --- settings ------------------------------------------------------------------------------


@blp.route("/admin/settings", methods=["GET", "POST"])
@console_action("community.update")
@once
def console_settings():
    community = _community()
    form = SettingsForm(obj=community)
    rate_form = RateForm(effective_from=communities.local_today())
    if form.validate_on_submit():
        communities.update_settings(
            community,
            monthly_earning_cap=form.monthly_earning_cap.data,
            award_approval_threshold=form.award_approval_threshold.data,
        )
        flash(_("The settings are saved."), "success")
        return redirect(url_for("web.console_settings"), 303)
    return _settings_page(community, form, rate_form)


def _settings_page(community, form, rate_form):
    page = render_template(
        "console/settings.html",
        community=community,
        form=form,
        rate_form=rate_form,
        rate_now=communities.points_per_yuan_on(community),
        schedule=communities.rate_schedule(community),
        today=communities.local_today(),
    )
    return page, 422 if form.errors or rate_form.errors else 200


@blp.post("/admin/settings/rate")
@console_action("community.update")
@once
def schedule_rate():
    community = _community()
    rate_form = RateForm()
    if rate_form.validate_on_submit():
        try:
            rate = communities.schedule_points_per_yuan(
                community,
                rate_form.points_per_yuan.data,
                rate_form.effective_from.data,
                actor=g.actor,
            )
        except Problem as problem:
            db.session.rollback()
            refuse_into(rate_form, problem, "effective_from")
        else:
            flash(
                _(
                    "From %(day)s, %(points)s points are worth ¥1.",
                    day=rate.effective_from.isoformat(),
                    points=rate.points_per_yuan,
                ),
                "success",
            )
            return redirect(url_for("web.console_settings"), 303)
    return _settings_page(community, SettingsForm(obj=community), rate_form)


# --- who got what in an issuance run, and revoking a coupon ------------------------------


@blp.get("/admin/issuance-runs/<int:run_id>")
@console_action("issuance_run.list")
def issuance_run(run):
    listed = (
        sa.select(Coupon)
        .where(Coupon.community_id == run.community_id, Coupon.run_id == run.id)
        .order_by(Coupon.id)
    )
    count = db.session.scalar(sa.select(sa.func.count()).select_from(listed.subquery()))
    return render_template(
        "console/run.html",
        run=run,
        coupons=db.session.execute(listed.limit(RUN_COUPONS_SHOWN)).scalars().all(),
        count=count,
        revocable={CouponStatus.ISSUED, CouponStatus.PARTLY_REDEEMED},
        reason_form=ReasonForm(),
    )


@blp.post("/admin/coupons/<int:coupon_id>/revoke")
@console_action("coupon.revoke")
@once
def revoke_coupon(coupon):
    form = ReasonForm()
    back = url_for("web.issuance_run", run_id=coupon.run_id)
    if not form.validate_on_submit():
        flash(_("Please give a reason for withdrawing the coupon."), "error")
        return redirect(back, 303)
    returned = coupon.points_remaining
    try:
        coupons.revoke_coupon(coupon, reason=form.reason.data, actor=g.actor)
    except Conflict:
        db.session.rollback()
        flash(_("This coupon is already closed."), "error")
    else:
        flash(
            _(
                "The coupon of %(name)s is withdrawn; %(points)s points went back.",
                name=coupon.member.display_name,
                points=f"{returned:,}",
            ),
            "success",
        )
    return redirect(back, 303)
