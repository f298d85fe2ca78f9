"""Who writes a redemption: the ORM on SQLite, ``jifen_redeem`` on PostgreSQL.

Both record what :func:`~app.redemptions.quote.quote` found, under its locks,
and write the same rows: the redemption, one ledger transaction moving the
points from the coupon escrow (with the coupon's posting, and its new state)
or the pay-code holder's wallet to the merchant's receivable, each balance
moved by the guarded move. The ORM path posts through :func:`app.ledger.post`.
On PostgreSQL the same writes go to the server as one call of ``jifen_redeem``
(migrations 0007, 0009) instead of a round trip each: a till waits on them, and
the community's coupon-escrow row, which every till moves, is held for less
time. ``tests/test_redemption_statement.py`` holds the two to the same rows.

The writer is chosen once, when the app is created
(:func:`app.redemptions.init_app`); the PostgreSQL writer also carries the
till's two-statement path (:mod:`app.redemptions.till`).
"""

from datetime import datetime

import sqlalchemy as sa

from models import (
    Account,
    AccountKind,
    CouponStatus,
    Member,
    Merchant,
    Redemption,
    RedemptionStatus,
    TransactionKind,
    utcnow,
)

from .. import coupons, ledger
from ..extensions import db
from .quote import SPLIT_FIELDS, Quote, receipt, wallet


def coupon_after(found: Quote) -> tuple[int, CouponStatus]:
    """The coupon's points and status once this redemption has spent from it."""
    coupon = found.coupon
    left = coupon.points_remaining - found.split.points
    status = CouponStatus.REDEEMED if left == 0 else CouponStatus.PARTLY_REDEEMED
    coupons.LIFECYCLE.check(coupon, status)
    return left, status


def memo(merchant: Merchant) -> str:
    """The ledger memo: the shop's name (the history labels the kind in the reader's language)."""
    return merchant.name


class OrmWriter:
    """Records through the ORM and :func:`app.ledger.post`; SQLite's writer."""

    #: No two-statement path: every redemption takes the locking path.
    till = None

    def record(self, found: Quote, cashier: Member) -> Redemption:
        split = found.split
        merchant = found.merchant
        community_id = merchant.community_id
        redemption = Redemption(**receipt(found, cashier), status=RedemptionStatus.ACTIVE)
        db.session.add(redemption)
        db.session.flush()
        receivable = ledger.ensure_account(
            community_id, AccountKind.MERCHANT_RECEIVABLE, merchant_id=merchant.id
        )
        reference = f"redemption:{redemption.id}"
        if found.coupon is not None:
            coupon = found.coupon
            left, status = coupon_after(found)
            txn = coupons.post_coupon_escrow(
                community_id,
                [coupons.EscrowMove(coupon.id, -split.points, receivable)],
                kind=TransactionKind.REDEMPTION,
                memo=memo(merchant),
                reference=reference,
                actor_id=cashier.id,
            )
            coupons.transition(coupon, status, points_remaining=left)
        else:
            txn = ledger.post(
                community_id,
                TransactionKind.REDEMPTION,
                [(wallet(found.member, lock=False), -split.points), (receivable, split.points)],
                memo=memo(merchant),
                reference=reference,
                actor_id=cashier.id,
            )
        redemption.transaction_id = txn.id
        db.session.flush()
        return redemption


#: ``jifen_redeem``'s parameters, in order (migration 0007).
REDEEM_PARAMETERS = (
    "community_id",
    "merchant_id",
    "cashier_id",
    "offer_id",
    "coupon_id",
    "member_id",
    "source_account_key",
    "receivable_account_key",
    *SPLIT_FIELDS,
    "coupon_points_before",
    "coupon_status_before",
    "coupon_status",
    "memo",
    "now",
    "redemption_id",
    "transaction_id",
    "key",
    "key_fingerprint",
    "key_expires_at",
    "response_status",
    "response_type",
    "response_body",
)


def redeem_arguments(found: Quote, cashier, now: datetime, **given) -> dict:
    """``jifen_redeem``'s arguments for recording ``found``; ``given`` fills the
    optional ones (ids chosen beforehand, the Idempotency-Key and its receipt)."""
    coupon = found.coupon
    if coupon is None:
        source = ledger.account_key(AccountKind.WALLET, member_id=found.member.id)
        points_before = status_before = status = None
    else:
        source = ledger.account_key(AccountKind.COUPON_ESCROW)
        points_before, status_before = coupon.points_remaining, coupon.status.value
        status = coupon_after(found)[1].value
    arguments = dict.fromkeys(REDEEM_PARAMETERS)
    arguments.update(
        receipt(found, cashier),
        source_account_key=source,
        receivable_account_key=ledger.account_key(
            AccountKind.MERCHANT_RECEIVABLE, merchant_id=found.merchant.id
        ),
        coupon_points_before=points_before,
        coupon_status_before=status_before,
        coupon_status=status,
        memo=memo(found.merchant),
        now=now,
        **given,
    )
    return arguments


class PostgresWriter:
    """Records with one call of ``jifen_redeem``; PostgreSQL's writer."""

    _REDEEM = sa.select(Redemption).from_statement(
        sa.text(
            # Only the constant names above go into the text; the values are bound.
            f"SELECT * FROM jifen_redeem({', '.join(f':{n}' for n in REDEEM_PARAMETERS)})"  # noqa: S608
        ).columns(*Redemption.__table__.columns)
    )

    def __init__(self, till):
        #: The two-statement path for the till's plain success.
        self.till = till

    def record(self, found: Quote, cashier: Member) -> Redemption:
        try:
            redemption = db.session.execute(
                self._REDEEM, redeem_arguments(found, cashier, utcnow())
            ).scalar_one()
        except sa.exc.IntegrityError as error:
            # The guarded move refused: the same answer as ledger.post gives.
            if getattr(error.orig.diag, "constraint_name", None) == "insufficient_balance":
                raise ledger.InsufficientBalance() from error
            raise
        # What this session has loaded of the coupon or the balances moved is stale now.
        for loaded in list(db.session.identity_map.values()):
            if loaded is found.coupon or isinstance(loaded, Account):
                db.session.expire(loaded)
        return redemption
