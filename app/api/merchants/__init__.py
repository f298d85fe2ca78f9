"""Partner merchants' profiles and their offers (公益 / 低偿 / 折扣)."""

import sqlalchemy as sa
from flask import g

from models import Offer

from ... import offers
from ...authz import requires
from ...extensions import db
from ..blueprint import Blueprint
from ..communities.schemas import MerchantOut
from .schemas import MerchantPatch, MerchantWithOffers, OfferIn, OfferListArgs, OfferOut, OfferPatch

blp = Blueprint("merchants", __name__, url_prefix="/api/v1", description="Merchants and offers")


@blp.route("/merchants/<int:merchant_id>", methods=["GET"])
@requires("merchant.read")
@blp.response(200, MerchantWithOffers)
def get_merchant(merchant):
    """A partner merchant with the offers that apply today."""
    return {**_profile(merchant), "offers": offers.current_offers(merchant)}


@blp.route("/merchants/<int:merchant_id>", methods=["PATCH"])
@requires("merchant.update")
@blp.arguments(MerchantPatch)
@blp.response(200, MerchantOut)
def update_merchant(data, merchant):
    """Update the profile: address, opening hours, phone, or retire the merchant."""
    return offers.update_merchant(merchant, actor=g.actor, **data)


@blp.route("/merchants/<int:merchant_id>/offers", methods=["POST"])
@requires("offer.create")
@blp.arguments(OfferIn)
@blp.response(201, OfferOut)
def create_offer(data, merchant):
    """Add an offer: welfare (free), low_cost (price_fen) or discount (discount_percent)."""
    return offers.create_offer(merchant, **data)


@blp.route("/merchants/<int:merchant_id>/offers", methods=["GET"])
@requires("merchant.read")
@blp.arguments(OfferListArgs, location="query")
@blp.response(200, OfferOut(many=True))
def list_offers(args, merchant):
    """The merchant's offers that apply today; ``?all=true`` for every offer."""
    if not args["all"]:
        return offers.current_offers(merchant)
    return db.session.execute(
        sa.select(Offer)
        .where(Offer.community_id == merchant.community_id, Offer.merchant_id == merchant.id)
        .order_by(Offer.id)
    ).scalars()


@blp.route("/offers/<int:offer_id>", methods=["PATCH"])
@requires("offer.update")
@blp.arguments(OfferPatch)
@blp.response(200, OfferOut)
def update_offer(data, offer):
    """Change an offer's terms or dates, or withdraw it (``active: false``)."""
    return offers.update_offer(offer, **data)


def _profile(merchant) -> dict:
    return {name: getattr(merchant, name) for name in MerchantOut().fields}
