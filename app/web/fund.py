"""The fund's pages: the overview, income, donations (with refunds), and the public
donation page.

The admin pages sign in with the session cookie and act as ``g.actor``, as the
API's callers do, through the same domain functions. A value-moving form
carries a key made when the form was shown (``claim_form``): sent twice, it
acts once. The donation page needs no sign-in: it starts a donation through
its own CSRF-protected JSON endpoint, confirms the PaymentIntent with Stripe.js
where the deployment loads it, and polls the donation's status until the
webhook has recorded it.
"""

import sqlalchemy as sa
from flask import current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from models import (
    Donation,
    DonationStatus,
    Fund,
    IncomeEntry,
    IncomeSource,
    IncomeStatus,
    Member,
)

from .. import fund, stripe_gateway
from ..authz import Scope, authorize
from ..extensions import db
from ..idempotency import claim_form
from ..money import format_fen
from ..problems import InvalidInput, NotFound, Problem, handle_problem
from . import blp
from .fund_forms import IncomeForm, RefundForm, ReversalForm, yuan_to_fen
from .pages import public_community

#: Rows shown per list, newest first.
SHOWN = 50
#: Rows of each kind on the overview.
RECENT = 5

DONATION_STATUS_LABELS = {
    DonationStatus.PENDING: _l("Waiting for payment"),
    DonationStatus.SUCCEEDED: _l("Received"),
    DonationStatus.FAILED: _l("Payment failed"),
    DonationStatus.REFUNDED: _l("Refunded"),
}
INCOME_STATUS_LABELS = {
    IncomeStatus.RECORDED: _l("Recorded"),
    IncomeStatus.REVERSED: _l("Reversed"),
}


@blp.app_template_filter("fund_name")
def fund_name(value: Fund) -> str:
    return fund.FUND_NAMES[value]


@blp.app_template_filter("income_source")
def income_source(value: IncomeSource) -> str:
    return fund.INCOME_SOURCE_NAMES[value]


@blp.app_template_filter("donation_status")
def donation_status(value: DonationStatus) -> str:
    return DONATION_STATUS_LABELS[value]


@blp.app_template_filter("income_status")
def income_status(value: IncomeStatus) -> str:
    return INCOME_STATUS_LABELS[value]


def _admin(action: str) -> Member:
    """The signed-in fund admin (or, to read, platform admin of no community: refused here,
    as these pages show one community)."""
    member = current_user._get_current_object()
    if member.community_id is None:
        raise NotFound(_("These pages belong to a community."))
    authorize(member, action, Scope(member.community_id))
    g.actor = member
    return member


def _recent(model, community_id: int, limit: int):
    return (
        db.session.execute(
            sa.select(model)
            .where(model.community_id == community_id)
            .order_by(model.id.desc())
            .limit(limit)
        )
        .scalars()
        .all()
    )


def _names(ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    rows = db.session.execute(sa.select(Member.id, Member.display_name).where(Member.id.in_(ids)))
    return {member_id: name for member_id, name in rows}


@blp.get("/admin/fund")
@login_required
def fund_overview():
    member = _admin("fund.read")
    community = member.community
    return render_template(
        "fund/overview.html",
        summaries=fund.fund_summaries(community),
        income=_recent(IncomeEntry, community.id, RECENT),
        donations=_recent(Donation, community.id, RECENT),
        unmatched=fund.unmatched_refunds(community),
        donate_url=url_for("web.donate", slug=community.slug),
    )


@blp.route("/admin/income", methods=["GET", "POST"])
@login_required
def income_entries():
    member = _admin("income.create")
    community = member.community
    form = IncomeForm()
    if form.validate_on_submit():
        if claim_form(form.form_key.data):
            fund.record_income(
                community,
                amount_fen=form.amount.fen,
                fund=form.chosen_fund,
                source=form.chosen_source,
                reference=form.reference.data,
                note=form.note.data,
                actor=member,
            )
            flash(_("Income recorded."), "success")
        return redirect(url_for("web.income_entries"))
    entries = _recent(IncomeEntry, community.id, SHOWN)
    return render_template(
        "fund/income.html",
        form=form,
        entries=entries,
        reversal_forms={entry.id: ReversalForm(prefix=f"r{entry.id}") for entry in entries},
        names=_names(e.recorded_by_id for e in entries) | _names(e.reversed_by_id for e in entries),
    )


@blp.post("/admin/income/<int:income_id>/reverse")
@login_required
def reverse_income(income_id: int):
    member = _admin("income.reverse")
    entry = db.session.get(IncomeEntry, income_id)
    if entry is None or entry.community_id != member.community_id:
        raise NotFound(_("No such income entry."))
    form = ReversalForm(prefix=f"r{income_id}")
    if not form.validate_on_submit():
        flash(_("Please say why it is reversed."), "error")
    elif claim_form(form.form_key.data):
        try:
            fund.reverse_income(entry, reason=form.reason.data, actor=member)
        except (fund.IllegalIncomeTransition, fund.FundCannotCoverReversal) as refusal:
            db.session.rollback()
            flash(refusal.shown, "error")
        else:
            flash(_("The entry was reversed."), "success")
    return redirect(url_for("web.income_entries"))


@blp.get("/admin/donations")
@login_required
def donations():
    member = _admin("donation.list")
    listed = _recent(Donation, member.community_id, SHOWN)
    return render_template(
        "fund/donations.html",
        donations=listed,
        refund_forms={
            d.id: RefundForm(prefix=f"d{d.id}")
            for d in listed
            if d.status == DonationStatus.SUCCEEDED
        },
        unmatched=fund.unmatched_refunds(member.community),
        stripe_on=stripe_gateway.configured() is not None,
    )


@blp.post("/admin/donations/<int:donation_id>/refund")
@login_required
def refund_donation(donation_id: int):
    member = _admin("donation.refund")
    donation = db.session.get(Donation, donation_id)
    if donation is None or donation.community_id != member.community_id:
        raise NotFound(_("No such donation."))
    form = RefundForm(prefix=f"d{donation_id}")
    if not form.validate_on_submit():
        flash(_("An amount in yuan, such as 12.50."), "error")
    elif claim_form(form.form_key.data):
        try:
            refund = fund.refund_donation(donation, amount_fen=form.amount.fen, actor=member)
        except (
            fund.DonationNotRefundable,
            fund.RefundExceedsDonation,
            fund.FundCannotCoverRefund,
            fund.DonationDisputed,
            stripe_gateway.StripeRefused,
            stripe_gateway.StripeUnavailable,
            stripe_gateway.StripeNotConfigured,
        ) as refusal:
            db.session.rollback()
            flash(refusal.shown, "error")
        else:
            flash(
                _("Refunded %(amount)s to the donor.", amount=format_fen(refund.amount_fen)),
                "success",
            )
    return redirect(url_for("web.donations"))


# --- the public donation page ------------------------------------------------------------------


@blp.get("/c/<slug>/donate")
def donate(slug: str):
    community = public_community(slug)
    gateway = stripe_gateway.configured()
    low, high = current_app.config["DONATION_MIN_FEN"], current_app.config["DONATION_MAX_FEN"]
    return render_template(
        "fund/donate.html",
        community=community,
        funds=list(fund.FUND_NAMES.items()),
        stripe_on=gateway is not None,
        publishable_key=gateway.publishable_key if gateway else None,
        stripe_js_url=gateway.js_url if gateway else None,
        method_types=gateway.payment_method_types if gateway else (),
        low=low,
        high=high,
    )


@blp.post("/c/<slug>/donate")
def start_donation(slug: str):
    """Start a donation from the page; CSRF-checked like every page form (``X-CSRFToken``)."""
    community = public_community(slug)
    body = request.get_json(silent=True) or {}
    try:
        amount_fen = yuan_to_fen(str(body.get("amount", "")))
        chosen = Fund(body.get("fund"))
        key = str(body.get("request_key") or "")
        if amount_fen is None or not 8 <= len(key) <= 64:
            raise ValueError
    except ValueError:
        return _page_problem(
            InvalidInput(_("Please check the amount and the fund."), errors={"json": body})
        )
    try:
        donation, intent = fund.start_donation(
            community,
            amount_fen=amount_fen,
            fund=chosen,
            donor_name=str(body.get("donor_name") or "")[:100] or None,
            message=str(body.get("message") or "")[:500] or None,
            request_key=key,
            limits=(current_app.config["DONATION_MIN_FEN"], current_app.config["DONATION_MAX_FEN"]),
        )
    except Problem as problem:
        return _page_problem(problem)
    return jsonify(
        donation_id=donation.id,
        payment_intent_id=intent["id"],
        client_secret=intent["client_secret"],
        status=donation.status.value,
        status_url=url_for("fund.donation_status", payment_intent_id=intent["id"]),
    ), 201


def _page_problem(problem: Problem):
    """problem+json with the sentence the page shows the donor."""
    db.session.rollback()
    response = handle_problem(problem)
    body = response.get_json()
    body["message"] = problem.shown
    response.set_data(jsonify(body).get_data())
    return response
