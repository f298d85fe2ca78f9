"""Voiding a redemption: the same merchant, within the window, before settlement.

The reversing ledger transaction gives the points back to the coupon (through
:func:`app.coupons.post_coupon_escrow`, so the coupon's postings keep matching
its points) or to the pay-code holder's wallet, and the coupon reopens.
"""

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    AccountKind,
    CouponStatus,
    LedgerTransaction,
    Member,
    Redemption,
    RedemptionStatus,
    TransactionKind,
    utcnow,
)

from .. import coupons, ledger, sql
from ..extensions import db
from ..lifecycle import Lifecycle
from ..offers import LOCAL_ZONE
from ..problems import Conflict
from .writers import memo


class RedemptionNotActive(Conflict):
    slug, title = "redemption-already-voided", _l("Redemption was already voided")
    message = _l("This redemption was already voided.")


class VoidWindowClosed(Conflict):
    slug, title = "void-window-closed", _l("Too late to void")
    message = _l("Too late to void: the time allowed has passed.")


class RedemptionSettled(Conflict):
    slug, title = "redemption-settled", _l("Redemption already settled")
    message = _l("This redemption is already settled and cannot be voided.")


class CouponClosed(Conflict):
    slug, title = "coupon-closed", _l("Coupon can no longer take points back")
    message = _l("The coupon has expired or was withdrawn; it cannot take points back.")


TRANSITIONS = {
    RedemptionStatus.ACTIVE: {RedemptionStatus.VOIDED},
    RedemptionStatus.VOIDED: set(),
}

LIFECYCLE = Lifecycle("Redemption", TRANSITIONS, RedemptionNotActive)


def void_deadline(redemption: Redemption) -> datetime:
    return redemption.created_at + timedelta(minutes=current_app.config["REDEMPTION_VOID_MINUTES"])


def voidable(redemption: Redemption, now: datetime | None = None) -> bool:
    """Whether :func:`void` would accept it now (for showing the button)."""
    return (
        redemption.status == RedemptionStatus.ACTIVE
        and redemption.statement_id is None
        and (now or utcnow()) <= void_deadline(redemption)
    )


def void(redemption: Redemption, *, actor: Member, now: datetime | None = None) -> Redemption:
    """Reverse a redemption of the actor's merchant, within the window, before settlement."""
    redemption = sql.locked(redemption)
    now = now or utcnow()
    LIFECYCLE.check(redemption, RedemptionStatus.VOIDED)
    if redemption.statement_id is not None:
        raise RedemptionSettled(
            _(
                "Redemption %(id)s was settled in statement %(statement)s.",
                id=redemption.id,
                statement=redemption.statement_id,
            )
        )
    if now > void_deadline(redemption):
        raise VoidWindowClosed(
            _(
                "A redemption can be voided within %(minutes)s minutes; "
                "this one was made at %(time)s.",
                minutes=current_app.config["REDEMPTION_VOID_MINUTES"],
                time=redemption.created_at.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M"),
            )
        )
    original = db.session.get(LedgerTransaction, redemption.transaction_id)
    shop = memo(redemption.merchant)
    if redemption.coupon_id is None:
        reversal = ledger.reverse(original, memo=shop, actor_id=actor.id)
    else:
        reversal = _give_back_to_coupon(redemption, original, shop, actor)
    LIFECYCLE.move(
        redemption,
        RedemptionStatus.VOIDED,
        void_transaction_id=reversal.id,
        voided_at=now,
        voided_by_id=actor.id,
    )
    db.session.flush()
    return redemption


def _give_back_to_coupon(
    redemption: Redemption, original: LedgerTransaction, shop: str, actor: Member
) -> LedgerTransaction:
    coupon = sql.locked(redemption.coupon)
    if coupon.status in (CouponStatus.EXPIRED, CouponStatus.REVOKED):
        raise CouponClosed(
            _("Coupon %(code)s has since closed; its points cannot go back.", code=coupon.code)
        )
    receivable = ledger.ensure_account(
        redemption.community_id, AccountKind.MERCHANT_RECEIVABLE, merchant_id=redemption.merchant_id
    )
    reversal = coupons.post_coupon_escrow(
        redemption.community_id,
        [coupons.EscrowMove(coupon.id, redemption.points, receivable)],
        kind=TransactionKind.REVERSAL,
        memo=shop,
        reverses=original,
        actor_id=actor.id,
    )
    left = coupon.points_remaining + redemption.points
    status = CouponStatus.ISSUED if left == coupon.points else CouponStatus.PARTLY_REDEEMED
    coupons.transition(coupon, status, points_remaining=left)
    return reversal
