"""The console's partner merchants: profiles, staff, offers, and merchant groups
(the named sets of shops a coupon rule can be limited to)."""

import sqlalchemy as sa
from flask import flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from models import Member, Merchant, MerchantGroup, Offer, Role

from .. import communities, issuance_rules, offers
from ..extensions import db
from ..problems import Problem
from . import blp
from .console_forms import (
    GroupForm,
    GroupMemberForm,
    MerchantForm,
    MerchantProfileForm,
    OfferForm,
    StaffForm,
    add_member,
    refuse_into,
)
from .pages import console_action, once


def _community():
    return g.actor.community


def _merchants(community) -> list[Merchant]:
    return list(
        db.session.execute(
            sa.select(Merchant).where(Merchant.community_id == community.id).order_by(Merchant.name)
        ).scalars()
    )


def _name_taken(community, name: str, merchant_id: int | None = None) -> bool:
    query = sa.select(Merchant.id).where(
        Merchant.community_id == community.id, Merchant.name == name
    )
    if merchant_id is not None:
        query = query.where(Merchant.id != merchant_id)
    return db.session.execute(query).first() is not None


@blp.get("/admin/merchants")
@console_action("merchant.create")
def console_merchants():
    community = _community()
    staff = dict(
        db.session.execute(
            sa.select(Member.merchant_id, sa.func.count())
            .where(Member.community_id == community.id, Member.role == Role.MERCHANT_STAFF)
            .group_by(Member.merchant_id)
        ).all()
    )
    return render_template("console/merchants.html", merchants=_merchants(community), staff=staff)


@blp.route("/admin/merchants/new", methods=["GET", "POST"])
@console_action("merchant.create")
@once
def console_new_merchant():
    community = _community()
    form = MerchantForm()
    if form.validate_on_submit():
        if _name_taken(community, form.name.data):
            form.name.errors.append(_("A shop of this name is already a partner here."))
        else:
            merchant = communities.create_merchant(
                community,
                name=form.name.data,
                category=form.category.data,
                address=form.address.data or "",
                opening_hours=form.opening_hours.data or "",
                phone=form.phone.data or "",
            )
            flash(_("%(name)s is a partner merchant now.", name=merchant.name), "success")
            return redirect(url_for("web.console_merchant", merchant_id=merchant.id), 303)
    page = render_template("console/merchant_form.html", form=form)
    return page, 422 if form.errors else 200


def _merchant_page(merchant, profile=None, staff_form=None, offer_form=None):
    staff = db.session.execute(
        sa.select(Member)
        .where(Member.community_id == merchant.community_id, Member.merchant_id == merchant.id)
        .order_by(Member.id)
    ).scalars()
    listed = db.session.execute(
        sa.select(Offer)
        .where(Offer.community_id == merchant.community_id, Offer.merchant_id == merchant.id)
        .order_by(Offer.id)
    ).scalars()
    profile = profile or MerchantProfileForm(obj=merchant)
    staff_form = staff_form or StaffForm(formdata=None)
    offer_form = offer_form or OfferForm(formdata=None)
    page = render_template(
        "console/merchant.html",
        merchant=merchant,
        staff=list(staff),
        offers=[(offer, offers.is_current(offer)) for offer in listed],
        profile=profile,
        staff_form=staff_form,
        offer_form=offer_form,
    )
    invalid = profile.errors or staff_form.errors or offer_form.errors
    return page, 422 if invalid else 200


@blp.get("/admin/merchants/<int:merchant_id>")
@console_action("merchant.update")
def console_merchant(merchant):
    return _merchant_page(merchant)


@blp.post("/admin/merchants/<int:merchant_id>")
@console_action("merchant.update")
@once
def update_merchant(merchant):
    form = MerchantProfileForm()
    if form.validate_on_submit():
        if _name_taken(merchant.community, form.name.data, merchant.id):
            form.name.errors.append(_("A shop of this name is already a partner here."))
        else:
            offers.update_merchant(
                merchant,
                name=form.name.data,
                category=form.category.data,
                address=form.address.data or "",
                opening_hours=form.opening_hours.data or "",
                phone=form.phone.data or "",
                active=form.active.data,
            )
            flash(_("The shop's profile is saved."), "success")
            return redirect(url_for("web.console_merchant", merchant_id=merchant.id), 303)
    return _merchant_page(merchant, profile=form)


@blp.post("/admin/merchants/<int:merchant_id>/staff")
@console_action("member.create")
@once
def add_staff(merchant):
    form = StaffForm()
    if form.validate_on_submit():
        member = add_member(form, merchant.community, Role.MERCHANT_STAFF, merchant_id=merchant.id)
        if member is not None:
            flash(_("%(name)s can now sign in at the till.", name=member.display_name), "success")
            return redirect(url_for("web.console_merchant", merchant_id=merchant.id), 303)
    return _merchant_page(merchant, staff_form=form)


@blp.post("/admin/merchants/<int:merchant_id>/offers")
@console_action("offer.create")
@once
def add_offer(merchant):
    form = OfferForm()
    if form.validate_on_submit():
        try:
            offer = offers.create_offer(merchant, **form.terms())
        except Problem as problem:
            db.session.rollback()
            refuse_into(form, problem, "title", {"price_fen": "price"})
        else:
            flash(_("The offer “%(title)s” is on.", title=offer.title), "success")
            return redirect(url_for("web.console_merchant", merchant_id=merchant.id), 303)
    return _merchant_page(merchant, offer_form=form)


@blp.post("/admin/offers/<int:offer_id>/<any(withdraw, restore):change>")
@console_action("offer.update")
@once
def change_offer(offer, change):
    offers.update_offer(offer, active=change == "restore")
    if change == "restore":
        flash(_("The offer “%(title)s” is on again.", title=offer.title), "success")
    else:
        flash(_("The offer “%(title)s” is withdrawn.", title=offer.title), "success")
    return redirect(url_for("web.console_merchant", merchant_id=offer.merchant_id), 303)


# --- merchant groups ---------------------------------------------------------------------


@blp.route("/admin/merchant-groups", methods=["GET", "POST"])
@console_action("merchant_group.create")
@once
def console_groups():
    community = _community()
    merchants = _merchants(community)
    form = GroupForm()
    form.merchants.choices = [SelectChoice(shop.id, shop.name) for shop in merchants]
    if form.validate_on_submit():
        if issuance_rules.group_named(community, form.name.data) is not None:
            form.name.errors.append(_("A group of this name exists already."))
        else:
            group = issuance_rules.create_merchant_group(
                community, name=form.name.data, merchant_ids=form.merchants.data or []
            )
            flash(_("The group “%(name)s” is made.", name=group.name), "success")
            return redirect(url_for("web.console_groups"), 303)
    groups = db.session.execute(
        issuance_rules.groups_of(community).order_by(MerchantGroup.name)
    ).scalars()
    page = render_template(
        "console/groups.html",
        form=form,
        groups=[(group, _addable(group, merchants)) for group in groups],
    )
    return page, 422 if form.errors else 200


def _addable(group: MerchantGroup, merchants: list[Merchant]) -> GroupMemberForm:
    form = GroupMemberForm(formdata=None)
    inside = {merchant.id for merchant in group.merchants}
    form.merchant.choices = [
        SelectChoice(shop.id, shop.name) for shop in merchants if shop.id not in inside
    ]
    return form


@blp.post("/admin/merchant-groups/<int:group_id>/<any(add, remove):change>")
@console_action("merchant_group.update")
@once
def change_group(merchant_group, change):
    form = GroupMemberForm()
    form.merchant.choices = [SelectChoice(shop.id, shop.name) for shop in _merchants(_community())]
    if not form.validate_on_submit():
        flash(_("Please choose a shop."), "error")
        return redirect(url_for("web.console_groups"), 303)
    merchant = db.session.get(Merchant, form.merchant.data)
    if change == "add":
        issuance_rules.add_to_group(merchant_group, merchant)
        said = _("%(shop)s is in “%(group)s” now.", shop=merchant.name, group=merchant_group.name)
    else:
        issuance_rules.remove_from_group(merchant_group, merchant)
        said = _(
            "%(shop)s is no longer in “%(group)s”.", shop=merchant.name, group=merchant_group.name
        )
    flash(said, "success")
    return redirect(url_for("web.console_groups"), 303)
