"""Settlement: statements per merchant and month, approval, payout, documents."""

from flask import Response, g

from models import PayoutMethod, SettlementStatement

from ... import payouts, settlement, statement_documents
from ...authz import requires
from ...earnings import Period
from ...idempotency import idempotent
from ...pagination import newest_first, page, page_schema
from ..blueprint import Blueprint
from .schemas import (
    DocumentArgs,
    MerchantPayoutOut,
    PayIn,
    ReasonIn,
    SettlementIn,
    SettlementOut,
    StatementDetailOut,
    StatementListArgs,
    StatementOut,
    StripeAccountIn,
)

blp = Blueprint("settlement", __name__, url_prefix="/api/v1", description="Settlement and payouts")


@blp.route("/communities/<slug>/settlements", methods=["POST"])
@requires("settlement.create")
@idempotent
@blp.arguments(SettlementIn)
@blp.response(201, SettlementOut)
def settle(data, community):
    """Settle a finished month: one draft statement per merchant from its active,
    unsettled redemptions. Settling the month again makes nothing new."""
    period = Period.parse(data["period"])
    return {"statements": settlement.settle(community, period, actor=g.actor)}


@blp.route("/communities/<slug>/statements", methods=["GET"])
@requires("statement.list")
@blp.arguments(StatementListArgs, location="query")
@blp.response(200, page_schema(StatementOut, "StatementPage"))
def community_statements(args, community):
    """The community's statements, newest first; ``period`` and ``status`` filter."""
    query = settlement.statements_of(
        community, period=args.get("period"), status=args.get("status")
    )
    return page(newest_first(query, SettlementStatement.id), args)


@blp.route("/merchants/<int:merchant_id>/statements", methods=["GET"])
@requires("statement.list")
@blp.arguments(StatementListArgs, location="query")
@blp.response(200, page_schema(StatementOut, "MerchantStatementPage"))
def merchant_statements(args, merchant):
    """One merchant's statements, newest first: its staff see their own."""
    query = settlement.merchant_statements(merchant)
    if args.get("period"):
        query = query.where(SettlementStatement.period == args["period"])
    if args.get("status"):
        query = query.where(SettlementStatement.status == args["status"])
    return page(newest_first(query, SettlementStatement.id), args)


class Detail:
    """A statement with its lines and payouts, for :class:`StatementDetailOut`."""

    def __init__(self, statement):
        self._statement = statement
        self.lines = [
            {
                "id": line.id,
                "created_at": line.created_at,
                "cashier_id": line.cashier_id,
                "points": line.points,
                "points_per_yuan": line.points_per_yuan,
                "points_value_fen": line.points_value_fen,
                "rounding_remainder": settlement.remainder_of(line),
            }
            for line in settlement.lines(statement)
        ]
        self.payouts = payouts.attempts_of(statement)

    def __getattr__(self, name):
        return getattr(self._statement, name)


@blp.route("/statements/<int:statement_id>", methods=["GET"])
@requires("statement.read")
@blp.response(200, StatementDetailOut)
def get_statement(statement):
    """One statement with its lines (the redemptions it settles) and payouts."""
    return Detail(statement)


def _document(statement, kind: str, lang: str) -> Response:
    if kind == "csv":
        body, mimetype = statement_documents.csv_text(statement, lang), "text/csv"
    else:
        body, mimetype = statement_documents.pdf_bytes(statement, lang), "application/pdf"
    name = f"statement-{statement.id}-{statement.period}-{lang}.{kind}"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@blp.route("/statements/<int:statement_id>.csv", methods=["GET"])
@requires("statement.read")
@blp.arguments(DocumentArgs, location="query")
@blp.doc(responses={"200": {"description": "text/csv"}})
def statement_csv(args, statement):
    """The statement as CSV for people: ``lang`` zh or en headers, yuan columns,
    Asia/Shanghai times."""
    return _document(statement, "csv", args["lang"])


@blp.route("/statements/<int:statement_id>.pdf", methods=["GET"])
@requires("statement.read")
@blp.arguments(DocumentArgs, location="query")
@blp.doc(responses={"200": {"description": "application/pdf"}})
def statement_pdf(args, statement):
    """The statement as a PDF, in Chinese (``lang=zh``) or English."""
    return _document(statement, "pdf", args["lang"])


@blp.route("/statements/<int:statement_id>/approve", methods=["POST"])
@requires("statement.approve")
@idempotent
@blp.response(200, StatementOut)
def approve(statement):
    """Approve a draft: points receivable -> retired, fen fund cash -> payable. Above
    the community's threshold, a fund admin other than its creator must approve."""
    return settlement.approve(statement, actor=g.actor)


@blp.route("/statements/<int:statement_id>/reject", methods=["POST"])
@requires("statement.reject")
@idempotent
@blp.arguments(ReasonIn)
@blp.response(200, StatementOut)
def reject(data, statement):
    """Reject a draft with a reason; its redemptions are unsettled again."""
    return settlement.reject(statement, reason=data["reason"], actor=g.actor)


@blp.route("/statements/<int:statement_id>/pay", methods=["POST"])
@requires("statement.pay")
@idempotent
@blp.arguments(PayIn)
@blp.response(200, StatementOut)
def pay(data, statement):
    """Pay an approved (or returned) statement: ``stripe``, a Connect transfer to the
    merchant's connected account that a retry never makes twice, or ``bank`` with the
    transfer's ``reference``. Payable -> paid out."""
    if data["method"] == PayoutMethod.BANK:
        return payouts.pay_by_bank(statement, reference=data.get("reference"), actor=g.actor)
    return payouts.pay_by_stripe(statement, actor=g.actor)


@blp.route("/statements/<int:statement_id>/return", methods=["POST"])
@requires("statement.return")
@idempotent
@blp.arguments(ReasonIn)
@blp.response(200, StatementOut)
def return_payout(data, statement):
    """Mark a paid statement's bank transfer returned, with the bank's reason: the
    money is payable again and the statement is paid again without a new approval."""
    return payouts.return_bank_payout(statement, reason=data["reason"], actor=g.actor)


@blp.route("/merchants/<int:merchant_id>/stripe-account", methods=["PUT"])
@requires("merchant.stripe_account")
@blp.arguments(StripeAccountIn)
@blp.response(200, MerchantPayoutOut)
def link_stripe_account(data, merchant):
    """Link the merchant's Stripe connected account (``acct_...``) that payouts go
    to; null unlinks it. Fund admins only."""
    return payouts.link_stripe_account(merchant, data["stripe_account_id"])
