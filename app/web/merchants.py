"""Partner merchants, for residents deciding where to use their points."""

import sqlalchemy as sa
from flask import render_template
from flask_login import current_user, login_required

from models import Merchant

from .. import offers
from ..extensions import db
from . import blp


@blp.get("/merchants")
@login_required
def partner_merchants():
    """The member's community's active partner merchants and today's offers."""
    member = current_user._get_current_object()
    merchants = db.session.execute(
        sa.select(Merchant)
        .where(Merchant.community_id == member.community_id, Merchant.active)
        .order_by(Merchant.name)
    ).scalars()
    listing = [(merchant, offers.current_offers(merchant)) for merchant in merchants]
    return render_template("merchants.html", listing=listing)
