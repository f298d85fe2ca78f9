"""Settlement pages: the fund admin settles a month, approves, rejects, pays and
records returns; a merchant's staff read and download their own statements.

Each form calls the same domain function as the API; a refusal comes back to
the page as its translated message.
"""

import sqlalchemy as sa
from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from models import (
    Member,
    Merchant,
    PayoutMethod,
    Role,
    SettlementStatement,
    StatementStatus,
)

from .. import payouts, settlement, statement_documents
from ..authz import Scope, authorize
from ..earnings import Period, last_month
from ..extensions import db
from ..money import format_fen
from ..problems import Forbidden, NotFound, Problem
from . import blp

#: Statements shown on a page, newest first.
SHOWN = 200


@blp.app_template_filter("statement_status")
def statement_status(status: StatementStatus) -> str:
    return settlement.STATUS_LABELS[status]


@blp.app_template_filter("payout_method")
def payout_method(method: PayoutMethod) -> str:
    return payouts.METHOD_LABELS[method]


@blp.app_template_filter("payout_status")
def payout_status(status) -> str:
    return payouts.STATUS_LABELS[status]


@blp.app_template_filter("centipoints")
def centipoints(hundredths: int) -> str:
    return statement_documents.centipoints(hundredths)


def _member(action: str, scope: Scope | None = None) -> Member:
    member = current_user._get_current_object()
    if member.community_id is None:
        raise Forbidden(_("These pages are for a community's members."))
    authorize(member, action, scope or Scope(member.community_id))
    return member


def _statement(statement_id: int, action: str) -> tuple[SettlementStatement, Member]:
    statement = db.session.get(SettlementStatement, statement_id)
    member = current_user._get_current_object()
    if statement is None or statement.community_id != member.community_id:
        raise NotFound(_("No statement %(id)s in your community.", id=statement_id))
    scope = Scope(statement.community_id, merchant_id=statement.merchant_id)
    return statement, _member(action, scope)


def _said(problem: Problem) -> str:
    return str(problem.detail)


@blp.route("/admin/settlements", methods=["GET", "POST"])
@login_required
def settlements():
    """Settle a month, and the statements by period and status with what to do next."""
    member = _member("settlement.create")
    community = member.community
    if request.method == "POST":
        period_text = request.form.get("period", "")
        try:
            made = settlement.settle(community, Period.parse(period_text), actor=member)
        except Problem as problem:
            db.session.rollback()
            flash(_said(problem), "error")
        else:
            db.session.commit()
            total = format_fen(sum(statement.amount_fen for statement in made))
            if made:
                flash(
                    _(
                        "%(count)s statements made for %(period)s, %(total)s in all.",
                        count=len(made),
                        period=period_text,
                        total=total,
                    ),
                    "success",
                )
            else:
                flash(_("Nothing left to settle for %(period)s.", period=period_text), "success")
        return redirect(url_for("web.settlements", period=period_text))
    period = request.args.get("period") or str(last_month())
    status = request.args.get("status")
    chosen = StatementStatus(status) if status in set(StatementStatus) else None
    query = settlement.statements_of(community, period=period, status=chosen)
    statements = (
        db.session.execute(query.order_by(SettlementStatement.id.desc()).limit(SHOWN))
        .scalars()
        .all()
    )
    return render_template(
        "settlement/admin.html",
        period=period,
        status=chosen,
        statuses=list(StatementStatus),
        rows=[(s, payouts.last_error(s), payouts.return_reason(s)) for s in statements],
        methods=list(PayoutMethod),
    )


def _act(statement_id: int, action: str, act) -> Response:
    """Run ``act(statement, member)``; commit, or show the refusal; back to the list."""
    statement, member = _statement(statement_id, action)
    period = statement.period
    try:
        act(statement, member)
    except Problem as problem:
        db.session.rollback()
        flash(_said(problem), "error")
    else:
        db.session.commit()
        statement = db.session.get(SettlementStatement, statement_id)
        flash(
            _(
                "Statement %(id)s is now %(status)s.",
                id=statement_id,
                status=settlement.STATUS_LABELS[statement.status],
            ),
            "success",
        )
    back = request.form.get("next")
    if back == "detail":
        return redirect(url_for("web.statement_page", statement_id=statement_id))
    return redirect(url_for("web.settlements", period=period))


@blp.post("/admin/statements/<int:statement_id>/approve")
@login_required
def approve_statement(statement_id: int):
    return _act(
        statement_id,
        "statement.approve",
        lambda statement, member: settlement.approve(statement, actor=member),
    )


@blp.post("/admin/statements/<int:statement_id>/reject")
@login_required
def reject_statement(statement_id: int):
    reason = request.form.get("reason", "")
    return _act(
        statement_id,
        "statement.reject",
        lambda statement, member: settlement.reject(statement, reason=reason, actor=member),
    )


@blp.post("/admin/statements/<int:statement_id>/pay")
@login_required
def pay_statement(statement_id: int):
    method = request.form.get("method")
    reference = request.form.get("reference")

    def pay(statement, member):
        if method == PayoutMethod.STRIPE.value:
            return payouts.pay_by_stripe(statement, actor=member)
        return payouts.pay_by_bank(statement, reference=reference, actor=member)

    return _act(statement_id, "statement.pay", pay)


@blp.post("/admin/statements/<int:statement_id>/return")
@login_required
def return_statement(statement_id: int):
    reason = request.form.get("reason", "")
    return _act(
        statement_id,
        "statement.return",
        lambda statement, member: payouts.return_bank_payout(
            statement, reason=reason, actor=member
        ),
    )


@blp.get("/statements/<int:statement_id>")
@login_required
def statement_page(statement_id: int):
    """One statement: its facts, lines, payouts and downloads."""
    statement, member = _statement(statement_id, "statement.read")
    names = dict(
        db.session.execute(
            sa.select(Member.id, Member.display_name).where(
                Member.id.in_(
                    {statement.created_by_id, statement.approved_by_id, statement.rejected_by_id}
                    - {None}
                )
            )
        ).all()
    )
    return render_template(
        "settlement/statement.html",
        statement=statement,
        lines=settlement.lines(statement),
        remainder_of=settlement.remainder_of,
        attempts=payouts.attempts_of(statement),
        payout_error=payouts.last_error(statement),
        return_reason=payouts.return_reason(statement),
        names=names,
        admin=member.role == Role.FUND_ADMIN,
        methods=list(PayoutMethod),
    )


@blp.get("/statements/<int:statement_id>.<kind>")
@login_required
def statement_document(statement_id: int, kind: str):
    """The statement as ``csv`` or ``pdf``, in ``?lang=zh`` (default) or ``en``."""
    statement = _statement(statement_id, "statement.read")[0]
    lang = request.args.get("lang", "zh")
    if kind not in ("csv", "pdf") or lang not in ("zh", "en"):
        raise NotFound(_("No such document."))
    if kind == "csv":
        body, mimetype = statement_documents.csv_text(statement, lang), "text/csv"
    else:
        body, mimetype = statement_documents.pdf_bytes(statement, lang), "application/pdf"
    name = f"statement-{statement.id}-{statement.period}-{lang}.{kind}"
    return Response(
        body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@blp.get("/merchant/statements")
@login_required
def merchant_statements():
    """The signed-in staff member's own merchant's statements."""
    member = current_user._get_current_object()
    if member.merchant_id is None:
        raise Forbidden(_("This page is for a merchant's staff."))
    merchant = member.merchant
    authorize(member, "statement.list", Scope(member.community_id, merchant_id=merchant.id))
    statements = (
        db.session.execute(
            settlement.merchant_statements(merchant)
            .order_by(SettlementStatement.id.desc())
            .limit(SHOWN)
        )
        .scalars()
        .all()
    )
    return render_template(
        "settlement/merchant.html",
        merchant=merchant,
        rows=[(s, payouts.return_reason(s)) for s in statements],
    )


@blp.route("/admin/payout-accounts", methods=["GET", "POST"])
@login_required
def payout_accounts():
    """Each merchant's Stripe connected account, set by a fund admin."""
    member = _member("merchant.stripe_account")
    if request.method == "POST":
        merchant = db.session.get(Merchant, request.form.get("merchant_id", type=int) or 0)
        if merchant is None or merchant.community_id != member.community_id:
            raise NotFound(_("No such merchant in your community."))
        account = (request.form.get("stripe_account_id") or "").strip() or None
        try:
            if account is not None and not payouts.ACCOUNT_ID.fullmatch(account):
                raise payouts.InvalidStripeAccount(
                    _("A Stripe connected account id starts with acct_.")
                )
            payouts.link_stripe_account(merchant, account)
        except Problem as problem:
            db.session.rollback()
            flash(_said(problem), "error")
        else:
            db.session.commit()
            flash(_("Saved for %(merchant)s.", merchant=merchant.name), "success")
        return redirect(url_for("web.payout_accounts"))
    merchants = (
        db.session.execute(
            sa.select(Merchant)
            .where(Merchant.community_id == member.community_id)
            .order_by(Merchant.name)
        )
        .scalars()
        .all()
    )
    return render_template("settlement/accounts.html", merchants=merchants)
