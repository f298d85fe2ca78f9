"""Merchant offers and the redemption split: 公益 + 低偿 + 折扣 (design.md §6).

For a bill of ``B`` fen, the offer's merchant-borne discount ``D``, the points
``R`` still available (coupon or wallet), the offer's per-bill cap ``Cp`` and
the community's rate ``r`` points per yuan::

    P = min(R, Cp, floor((B - D) * r / 100))   points used
    V = floor(P * 100 / r)                      fen the fund pays, via settlement
    C = B - D - V                               fen the resident pays at the till

The merchant is made whole by ``C`` at the till plus ``V`` at settlement.
"""

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import Member, Merchant, Offer, OfferKind, Role

from .extensions import db
from .money import points_value
from .problems import Forbidden, InvalidInput

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Split:
    bill_fen: int
    discount_fen: int
    points: int
    points_value_fen: int
    cash_fen: int
    points_per_yuan: int


def merchant_discount(offer: Offer | None, bill_fen: int) -> int:
    """``D``: what the merchant bears under the offer, floored, within ``0..B``."""
    if offer is None:
        return 0
    match offer.kind:
        case OfferKind.WELFARE:
            return bill_fen
        case OfferKind.LOW_COST:
            return max(0, bill_fen - offer.price_fen)
        case OfferKind.DISCOUNT:
            return bill_fen * offer.discount_percent // 100
    raise ValueError(f"unknown offer kind {offer.kind!r}")


def split(
    bill_fen: int, *, points_available: int, points_per_yuan: int, offer: Offer | None = None
) -> Split:
    """The exact split of one bill; integers only, every floor towards the resident paying."""
    if bill_fen < 0:
        raise InvalidInput(
            _("The bill cannot be negative."), errors={"json": {"bill_fen": ["≥ 0."]}}
        )
    if points_available < 0 or points_per_yuan <= 0:
        raise ValueError("points_available must be >= 0 and points_per_yuan > 0")
    discount = merchant_discount(offer, bill_fen)
    payable = bill_fen - discount
    candidates = [points_available, payable * points_per_yuan // 100]
    if offer is not None and offer.max_points_per_bill is not None:
        candidates.append(offer.max_points_per_bill)
    points = min(candidates)
    value = points_value(points, points_per_yuan).value_fen
    return Split(
        bill_fen=bill_fen,
        discount_fen=discount,
        points=points,
        points_value_fen=value,
        cash_fen=payable - value,
        points_per_yuan=points_per_yuan,
    )


def local_today() -> date:
    return datetime.now(LOCAL_ZONE).date()


def is_current(offer: Offer, on: date | None = None) -> bool:
    """Active, and ``on`` (default: today in Asia/Shanghai) within its dates."""
    on = on or local_today()
    return (
        offer.active
        and (offer.active_from is None or offer.active_from <= on)
        and (offer.active_until is None or on <= offer.active_until)
    )


def current_offers(merchant: Merchant) -> list[Offer]:
    today = local_today()
    offers = db.session.execute(
        sa.select(Offer)
        .where(Offer.community_id == merchant.community_id, Offer.merchant_id == merchant.id)
        .order_by(Offer.id)
    ).scalars()
    return [offer for offer in offers if is_current(offer, today)]


def create_offer(merchant: Merchant, **fields) -> Offer:
    offer = Offer(community_id=merchant.community_id, merchant_id=merchant.id)
    return update_offer(offer, **fields)


def update_offer(offer: Offer, **fields) -> Offer:
    """Apply ``fields`` and check the offer still makes sense as a whole."""
    for name, value in fields.items():
        setattr(offer, name, value)
    _check_terms(offer)
    db.session.add(offer)
    db.session.flush()
    return offer


def _check_terms(offer: Offer) -> None:
    errors = {}
    if offer.kind == OfferKind.DISCOUNT and offer.discount_percent is None:
        errors["discount_percent"] = ["Required for a discount offer."]
    if offer.kind != OfferKind.DISCOUNT and offer.discount_percent is not None:
        errors["discount_percent"] = ["Only for a discount offer."]
    if offer.kind == OfferKind.LOW_COST and offer.price_fen is None:
        errors["price_fen"] = ["Required for a low-cost offer."]
    if offer.kind != OfferKind.LOW_COST and offer.price_fen is not None:
        errors["price_fen"] = ["Only for a low-cost offer."]
    if offer.active_from and offer.active_until and offer.active_from > offer.active_until:
        errors["active_until"] = ["Not before active_from."]
    if errors:
        raise InvalidInput(_("The offer's terms do not fit together."), errors={"json": errors})


#: What a shop's own staff may change: how people find and reach it. Whether it
#: is a partner at all (``active``), its name and category, its merchant groups
#: and where it is paid are the fund admins' to decide.
STAFF_EDITABLE = frozenset({"address", "opening_hours", "phone"})


class GovernedByFundAdmins(Forbidden):
    slug, title = "governed-by-fund-admins", _l("Only fund admins change this")
    message = _l(
        "Shop staff may change the address, opening hours and phone; whether the shop "
        "takes part, its name and category are changed by the community's fund admins."
    )


def update_merchant(merchant: Merchant, *, actor: Member | None = None, **fields) -> Merchant:
    """Change the shop's profile; ``actor`` None is the system (tests, the demo)."""
    if actor is not None and actor.role == Role.MERCHANT_STAFF:
        governed = sorted(set(fields) - STAFF_EDITABLE)
        if governed:
            raise GovernedByFundAdmins(
                _("Shop staff may not change: %(fields)s.", fields=", ".join(governed)),
                errors={"json": {name: [str(GovernedByFundAdmins.title)] for name in governed}},
            )
    for name, value in fields.items():
        setattr(merchant, name, value)
    db.session.flush()
    return merchant
