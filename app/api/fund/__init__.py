"""The fund: balances, donations through Stripe and their refunds, other income, the webhook."""

import sqlalchemy as sa
from flask import current_app, g, request
from flask_babel import gettext as _

from models import Donation, DonationRefund, IncomeEntry

from ... import fund, stripe_gateway
from ...authz import requires
from ...idempotency import idempotent
from ...pagination import newest_first, page, page_schema
from ...problems import NotFound
from ..blueprint import Blueprint
from .schemas import (
    DonationIn,
    DonationListArgs,
    DonationOut,
    DonationStarted,
    DonationStatusOut,
    EventReceiptOut,
    FundsOut,
    IncomeIn,
    IncomeListArgs,
    IncomeOut,
    RefundIn,
    RefundListArgs,
    RefundOut,
    ReversalIn,
)

#: Stripe signs every event it sends; the webhook takes no bearer token.
STRIPE_SIGNATURE = {
    "in": "header",
    "name": "Stripe-Signature",
    "required": True,
    "schema": {"type": "string", "maxLength": 2000},
    "description": "t=<timestamp>,v1=<HMAC-SHA256 of the payload with the endpoint secret>",
}

blp = Blueprint("fund", __name__, url_prefix="/api/v1", description="The fund and Stripe")


def donation_limits() -> tuple[int, int]:
    return current_app.config["DONATION_MIN_FEN"], current_app.config["DONATION_MAX_FEN"]


@blp.route("/communities/<slug>/funds", methods=["GET"])
@requires("fund.read")
@blp.response(200, FundsOut)
def get_funds(community):
    """Each fund's cash, and what the reimbursing fund owes and has paid merchants."""
    return {
        "community": community.slug,
        "reimbursing_fund": community.reimbursing_fund,
        "funds": fund.fund_summaries(community),
    }


@blp.route("/communities/<slug>/donations", methods=["POST"])
@requires("donation.create")
@idempotent
@blp.arguments(DonationIn)
@blp.response(201, DonationStarted)
def create_donation(data, community):
    """Start a donation: a Stripe PaymentIntent the donor confirms with its client secret.

    It is recorded in the fund once Stripe's ``payment_intent.succeeded`` arrives.
    """
    donation, intent = fund.start_donation(
        community, actor=g.actor, limits=donation_limits(), **data
    )
    return _started(donation, intent)


def _started(donation: Donation, intent: dict) -> dict:
    return {
        "id": donation.id,
        "donation_id": donation.id,
        "payment_intent_id": intent["id"],
        "client_secret": intent["client_secret"],
        "status": donation.status,
        "amount_fen": donation.amount_fen,
        "fund": donation.fund,
    }


@blp.route("/communities/<slug>/donations", methods=["GET"])
@requires("donation.list")
@blp.arguments(DonationListArgs, location="query")
@blp.response(200, page_schema(DonationOut, "DonationPage"))
def list_donations(args, community):
    """Donations newest first; ``?status=succeeded`` to filter."""
    query = sa.select(Donation).where(Donation.community_id == community.id)
    if args.get("status"):
        query = query.where(Donation.status == args["status"])
    return page(newest_first(query, Donation.id), args)


@blp.route("/donations/<int:donation_id>", methods=["GET"])
@requires("donation.list")
@blp.response(200, DonationOut)
def get_donation(donation):
    """One donation."""
    return donation


@blp.route("/donations/by-payment-intent/<payment_intent_id>", methods=["GET"])
@requires("donation.status")
@blp.response(200, DonationStatusOut)
@blp.doc(security=[])
def donation_status(payment_intent_id):
    """A donation's status by its PaymentIntent, for the donation page to poll (no sign-in)."""
    donation = fund.donation_by_payment_intent(payment_intent_id)
    if donation is None:
        raise NotFound(_("No donation for %(id)s.", id=payment_intent_id))
    return donation


@blp.route("/donations/<int:donation_id>/refund", methods=["POST"])
@requires("donation.refund")
@idempotent
@blp.arguments(RefundIn)
@blp.response(201, RefundOut)
def refund_donation(data, donation):
    """Refund a donation (all that is left, or ``amount_fen``) through Stripe.

    Refused when the fund cannot cover it, while a dispute is open, or beyond
    what is left.
    """
    return fund.refund_donation(donation, amount_fen=data["amount_fen"], actor=g.actor)


@blp.route("/communities/<slug>/refunds", methods=["GET"])
@requires("donation.list")
@blp.arguments(RefundListArgs, location="query")
@blp.response(200, page_schema(RefundOut, "RefundPage"))
def list_refunds(args, community):
    """Refunds newest first; ``?status=unmatched`` lists those made at Stripe that the
    fund could not cover, for reconciliation."""
    query = sa.select(DonationRefund).where(DonationRefund.community_id == community.id)
    if args.get("status"):
        query = query.where(DonationRefund.status == args["status"])
    return page(newest_first(query, DonationRefund.id), args)


@blp.route("/stripe/webhook", methods=["POST"])
@requires("stripe.webhook")
@blp.response(200, EventReceiptOut)
@blp.doc(security=[], parameters=[STRIPE_SIGNATURE])
def stripe_webhook():
    """Stripe's events, verified with ``Stripe-Signature`` before anything is read or stored.

    Each event id is handled once; a replay answers 200 with ``duplicate: true``.
    """
    gateway = stripe_gateway.gateway()
    event = gateway.verify_event(request.get_data(), request.headers.get("Stripe-Signature"))
    return fund.handle_event(event)


@blp.route("/communities/<slug>/income", methods=["POST"])
@requires("income.create")
@idempotent
@blp.arguments(IncomeIn)
@blp.response(201, IncomeOut)
def record_income(data, community):
    """Record charity-sale proceeds, a cash donation or a grant into a fund."""
    return fund.record_income(community, actor=g.actor, **data)


@blp.route("/communities/<slug>/income", methods=["GET"])
@requires("income.list")
@blp.arguments(IncomeListArgs, location="query")
@blp.response(200, page_schema(IncomeOut, "IncomePage"))
def list_income(args, community):
    """Income entries newest first."""
    query = sa.select(IncomeEntry).where(IncomeEntry.community_id == community.id)
    if args.get("fund"):
        query = query.where(IncomeEntry.fund == args["fund"])
    return page(newest_first(query, IncomeEntry.id), args)


@blp.route("/income/<int:income_id>/reverse", methods=["POST"])
@requires("income.reverse")
@idempotent
@blp.arguments(ReversalIn)
@blp.response(200, IncomeOut)
def reverse_income(data, income):
    """Undo a wrong entry with a reversal and its reason; entries are never edited."""
    return fund.reverse_income(income, reason=data["reason"], actor=g.actor)
