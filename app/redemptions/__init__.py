"""Redemption at the till: preview, redeem, void, history (design.md §6).

One package, one interface, used by the API and the pages alike:

- :mod:`.quote`: what a bill would spend and every check before it
  (:func:`quote` is the preview; it changes nothing);
- :mod:`.writers`: who records a redemption, chosen once by the database when
  the app is created (:func:`init_app`): the ORM on SQLite, one call of the
  PostgreSQL function ``jifen_redeem`` on PostgreSQL;
- :mod:`.till`: on PostgreSQL, the till's two-statement path for the plain
  success, offered every ``POST /api/v1/redemptions`` before the locking path;
- :mod:`.requests`: the one schema of what a till sends;
- :mod:`.voids`: voiding within the window and before settlement;
- :mod:`.history`: a merchant's lists, totals and CSV.

:func:`redeem` takes the quote under locks (the coupon or wallet row, the
pay-code consumed) and records it with the app's writer.
"""

from flask import current_app

from models import Member, Redemption

from ..extensions import db
from .history import STATUS_LABELS, Totals, csv_text, history_query, newest, totals
from .quote import (
    SPLIT_FIELDS,
    BillOutOfRange,
    CouponNotValidHere,
    MerchantInactive,
    MerchantMismatch,
    NotAtATill,
    NothingToRedeem,
    OfferNotCurrent,
    OfferOfAnotherMerchant,
    Quote,
    UnknownOffer,
    cashier_merchant,
    check_bill,
    check_offer,
    preview,
    quote,
)
from .till import Till, TillRequest
from .voids import (
    CouponClosed,
    RedemptionNotActive,
    RedemptionSettled,
    VoidWindowClosed,
    void,
    void_deadline,
    voidable,
)
from .writers import OrmWriter, PostgresWriter

__all__ = [
    "SPLIT_FIELDS",
    "STATUS_LABELS",
    "BillOutOfRange",
    "CouponClosed",
    "CouponNotValidHere",
    "MerchantInactive",
    "MerchantMismatch",
    "NotAtATill",
    "NothingToRedeem",
    "OfferNotCurrent",
    "OfferOfAnotherMerchant",
    "Quote",
    "RedemptionNotActive",
    "RedemptionSettled",
    "TillRequest",
    "Totals",
    "UnknownOffer",
    "VoidWindowClosed",
    "cashier_merchant",
    "check_bill",
    "check_offer",
    "csv_text",
    "history_query",
    "init_app",
    "newest",
    "preview",
    "quote",
    "redeem",
    "totals",
    "void",
    "void_deadline",
    "voidable",
    "writer",
]


def init_app(app) -> None:
    """Choose the app's redemption writer by its database, once."""
    with app.app_context():
        dialect = db.engine.dialect.name
    app.extensions["jifen.redemption_writer"] = (
        PostgresWriter(Till()) if dialect == "postgresql" else OrmWriter()
    )


def writer() -> OrmWriter | PostgresWriter:
    """The app's writer; its ``till`` is the two-statement path, or None."""
    return current_app.extensions["jifen.redemption_writer"]


def redeem(cashier: Member, **request) -> Redemption:
    """Spend the points of :func:`quote` at the cashier's merchant, and record it."""
    found = quote(cashier, **request, _redeeming=True)
    return writer().record(found, cashier)
