"""The quote: what a bill would spend, from what, and every check before it.

The cashier's merchant is always the cashier's own (``Member.merchant``),
never what a request says. :func:`quote` reads what is being spent (a coupon
by its signed token or short code, or a wallet by a pay-code), the offer and
the bill, and returns the split from :func:`app.offers.split` without changing
anything: it is the preview. Redeeming takes the same quote under locks.

A bill that would spend no points (a 公益 offer makes it free, or it is too
small to be worth one point, or nothing is left) is refused as
:class:`NothingToRedeem`: there is nothing to record, and a cashier who sees
"nothing to redeem" knows to serve the resident without the till.
"""

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import Account, AccountKind, Coupon, Member, Merchant, Offer, OfferKind

from .. import communities, coupons, ledger, offers, paycodes, ratelimit, sql
from ..extensions import db
from ..problems import Conflict, Forbidden, InvalidInput


class NotAtATill(Forbidden):
    slug, title = "not-merchant-staff", _l("Only a shop's staff redeem at a till")
    message = _l("Only a partner shop's staff can redeem points.")


class MerchantMismatch(Forbidden):
    slug, title = "merchant-mismatch", _l("Not the cashier's merchant")
    message = _l("You can only redeem for the shop you work for.")


class MerchantInactive(Conflict):
    slug, title = "merchant-inactive", _l("Merchant is not active")
    message = _l("This shop is not an active partner merchant.")


class BillOutOfRange(InvalidInput):
    slug, title = "bill-out-of-range", _l("Bill amount out of range")
    message = _l("Enter a bill between ¥0.01 and ¥100,000.00.")


class UnknownOffer(InvalidInput):
    slug, title = "unknown-offer", _l("No such offer")
    message = _l("This offer does not exist.")


class OfferOfAnotherMerchant(InvalidInput):
    slug, title = "offer-of-another-merchant", _l("Offer belongs to another merchant")
    message = _l("This offer belongs to another shop.")


class OfferNotCurrent(InvalidInput):
    slug, title = "offer-not-current", _l("Offer does not apply today")
    message = _l("This offer does not apply today.")


class CouponNotValidHere(InvalidInput):
    slug, title = "coupon-not-valid-at-merchant", _l("Coupon is not valid at this merchant")
    message = _l("This coupon cannot be used at this shop.")


class NothingToRedeem(InvalidInput):
    slug, title = "nothing-to-redeem", _l("Nothing to redeem")
    message = _l("Nothing to redeem: no points are needed for this bill.")


#: The split's fields, as stored on a redemption and shown in a preview.
SPLIT_FIELDS = (
    "bill_fen",
    "discount_fen",
    "points",
    "points_value_fen",
    "cash_fen",
    "points_per_yuan",
)


@dataclass(frozen=True)
class Quote:
    """A preview: what would be spent, from what, and the split."""

    merchant: Merchant
    offer: Offer | None
    coupon: Coupon | None
    #: The pay-code's holder, when paying from a wallet.
    member: Member | None
    points_available: int
    split: offers.Split


def cashier_merchant(cashier: Member, merchant_id: int | None = None) -> Merchant:
    """The cashier's own merchant; a different ``merchant_id`` in the request is refused."""
    merchant = cashier.merchant
    if merchant is None:
        raise NotAtATill()
    if merchant_id is not None and merchant_id != merchant.id:
        raise MerchantMismatch(
            _(
                "You work for merchant %(own)s; a redemption cannot be made for %(other)s.",
                own=merchant.id,
                other=merchant_id,
            )
        )
    if not merchant.active:
        raise MerchantInactive(_("%(name)s is not an active partner merchant.", name=merchant.name))
    return merchant


def check_bill(bill_fen: int) -> None:
    limit = current_app.config["REDEMPTION_MAX_BILL_FEN"]
    if not 0 < bill_fen <= limit:
        raise BillOutOfRange(
            _("The bill must be more than ¥0 and at most %(limit)s fen.", limit=limit),
            errors={"json": {"bill_fen": [_("Between 1 and %(limit)s.", limit=limit)]}},
        )


def check_offer(merchant: Merchant, offer_id: int | None, offer: Offer | None) -> Offer | None:
    """The offer asked for, if it may apply to a bill at ``merchant`` today."""
    if offer_id is None:
        return None
    if offer is None or offer.community_id != merchant.community_id:
        raise UnknownOffer(
            _("No offer %(id)s.", id=offer_id), errors={"json": {"offer_id": [_("Unknown.")]}}
        )
    if offer.merchant_id != merchant.id:
        raise OfferOfAnotherMerchant(
            _("Offer %(id)s is not one of %(name)s's offers.", id=offer_id, name=merchant.name)
        )
    if not offers.is_current(offer):
        raise OfferNotCurrent(
            _("Offer “%(title)s” is withdrawn or outside its dates today.", title=offer.title)
        )
    return offer


def _coupon(merchant: Merchant, *, token: str | None, code: str | None, lock: bool) -> Coupon:
    community = merchant.community
    if token is not None:
        coupon = coupons.verify_coupon(token, community, lock=lock)
    else:
        coupon = coupons.coupon_by_code(code, community, lock=lock)
    if not coupons.coupon_valid_at(coupon, merchant):
        group = coupon.rule.merchant_group
        raise CouponNotValidHere(
            group
            and _("This coupon may only be spent at the shops of “%(group)s”.", group=group.name)
        )
    return coupon


def wallet(member: Member, *, lock: bool) -> Account:
    """The pay-code holder's wallet, read afresh (and locked, when redeeming)."""
    found = ledger.ensure_account(member.community_id, AccountKind.WALLET, member_id=member.id)
    if lock:
        return sql.locked(found)
    db.session.refresh(found)
    return found


def quote(
    cashier: Member,
    *,
    bill_fen: int,
    token: str | None = None,
    code: str | None = None,
    pay_code: str | None = None,
    offer_id: int | None = None,
    merchant_id: int | None = None,
    _redeeming: bool = False,
) -> Quote:
    """The split of this bill for what is shown; changes nothing (unless redeeming:
    then the coupon or wallet is locked and the pay-code consumed)."""
    merchant = cashier_merchant(cashier, merchant_id)
    check_bill(bill_fen)
    asked = None if offer_id is None else db.session.get(Offer, offer_id)
    offer = check_offer(merchant, offer_id, asked)
    coupon = member = None
    with ratelimit.watching_codes(cashier.id):
        if pay_code is not None:
            consume = paycodes.consume_pay_code if _redeeming else paycodes.verify_pay_code
            member = consume(pay_code, merchant.community)
        else:
            coupon = _coupon(merchant, token=token, code=code, lock=_redeeming)
    if member is not None:
        available = wallet(member, lock=_redeeming).balance
    else:
        available = coupon.points_remaining
    rate = communities.points_per_yuan_on(merchant.community)
    result = offers.split(bill_fen, points_available=available, points_per_yuan=rate, offer=offer)
    if result.points == 0:
        raise NothingToRedeem(why_nothing(offer, result, available))
    return Quote(merchant, offer, coupon, member, available, result)


def why_nothing(offer: Offer | None, result: offers.Split, available: int) -> str:
    if result.discount_fen == result.bill_fen:
        if offer.kind == OfferKind.WELFARE:
            return _("The 公益 welfare offer makes this bill free: no points are needed.")
        return _("The 低偿 low-cost offer makes this bill free: no points are needed.")
    if available == 0:
        return _("The resident has no points left to spend.")
    return _("The amount left to pay is worth less than one point.")


def receipt(found: Quote, cashier) -> dict:
    """The redemption row's own values, as every writer stores them."""
    return dict(
        community_id=found.merchant.community_id,
        merchant_id=found.merchant.id,
        cashier_id=cashier.id,
        offer_id=found.offer.id if found.offer else None,
        coupon_id=found.coupon.id if found.coupon else None,
        member_id=found.member.id if found.member else None,
        **{name: getattr(found.split, name) for name in SPLIT_FIELDS},
    )


def preview(found: Quote) -> dict:
    """The preview a till shows: the split, and what it would be spent from."""
    return {
        **{name: getattr(found.split, name) for name in SPLIT_FIELDS},
        "merchant_id": found.merchant.id,
        "offer_id": found.offer.id if found.offer else None,
        "source": "coupon" if found.coupon else "pay_code",
        "coupon_id": found.coupon.id if found.coupon else None,
        "coupon_code": found.coupon.code if found.coupon else None,
        "member_id": found.member.id if found.member else None,
        "points_available": found.points_available,
    }
