"""Redemption at the till: preview, redeem, void (design.md §6).

The cashier's merchant is always the cashier's own (``Member.merchant``),
never what a request says. :func:`quote` reads what is being spent (a coupon
by its signed token or short code, or a wallet by a pay-code), the offer and
the bill, and returns the split from :func:`app.offers.split` without
changing anything: it is the preview. :func:`redeem` takes the same quote
under locks and records it:

- coupon: coupon escrow -> the merchant's receivable, through
  :func:`app.coupons.post_coupon_escrow` so the coupon's postings keep
  matching its ``points_remaining``; the coupon goes ``issued`` ->
  ``partly_redeemed`` -> ``redeemed`` as its points run out;
- pay-code: the member's wallet -> the merchant's receivable; the code is
  consumed, so it works once.

On PostgreSQL those writes are one call to the ``jifen_redeem`` function
(migrations 0006, 0007) instead of a round trip each: a till waits on them,
and the community's coupon-escrow row, which every till moves, is held for
less time. Before any of this, the API offers a redemption to the till's
two-statement path (``app/api/redemptions/till.py``), which calls the same
function and leaves to this module everything but the plain success.

A bill that would spend no points (a 公益 offer makes it free, or it is too
small to be worth one point, or nothing is left) is refused as
:class:`NothingToRedeem`: there is nothing to record, and a cashier who sees
"nothing to redeem" knows to serve the resident without the till.

:func:`void` undoes a redemption of the same merchant within
``REDEMPTION_VOID_MINUTES`` and before settlement: the reversing ledger
transaction gives the points back to the coupon (with its posting) or wallet.
"""

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app

from models import (
    Account,
    AccountKind,
    Coupon,
    CouponPosting,
    CouponStatus,
    LedgerTransaction,
    Member,
    Merchant,
    Offer,
    OfferKind,
    Redemption,
    RedemptionStatus,
    TransactionKind,
    utcnow,
)

from . import coupons, ledger, offers, paycodes, ratelimit, sql
from .extensions import db
from .lifecycle import Lifecycle
from .problems import Conflict, Forbidden, InvalidInput


class MerchantMismatch(Forbidden):
    slug, title = "merchant-mismatch", "Not the cashier's merchant"


class MerchantInactive(Conflict):
    slug, title = "merchant-inactive", "Merchant is not active"


class BillOutOfRange(InvalidInput):
    slug, title = "bill-out-of-range", "Bill amount out of range"


class UnknownOffer(InvalidInput):
    slug, title = "unknown-offer", "No such offer"


class OfferOfAnotherMerchant(InvalidInput):
    slug, title = "offer-of-another-merchant", "Offer belongs to another merchant"


class OfferNotCurrent(InvalidInput):
    slug, title = "offer-not-current", "Offer does not apply today"


class CouponNotValidHere(InvalidInput):
    slug, title = "coupon-not-valid-at-merchant", "Coupon is not valid at this merchant"


class NothingToRedeem(InvalidInput):
    slug, title = "nothing-to-redeem", "Nothing to redeem"


class RedemptionNotActive(Conflict):
    slug, title = "redemption-already-voided", "Redemption was already voided"


class VoidWindowClosed(Conflict):
    slug, title = "void-window-closed", "Too late to void"


class RedemptionSettled(Conflict):
    slug, title = "redemption-settled", "Redemption already settled"


class CouponClosed(Conflict):
    slug, title = "coupon-closed", "Coupon can no longer take points back"


#: The split's fields, as stored on a redemption and shown in a preview.
SPLIT_FIELDS = (
    "bill_fen",
    "discount_fen",
    "points",
    "points_value_fen",
    "cash_fen",
    "points_per_yuan",
)

TRANSITIONS = {
    RedemptionStatus.ACTIVE: {RedemptionStatus.VOIDED},
    RedemptionStatus.VOIDED: set(),
}


LIFECYCLE = Lifecycle("Redemption", TRANSITIONS, RedemptionNotActive)


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
        raise Forbidden("Only a merchant's staff redeem at a till.")
    if merchant_id is not None and merchant_id != merchant.id:
        raise MerchantMismatch(
            f"You work for merchant {merchant.id}; a redemption cannot be made for {merchant_id}."
        )
    if not merchant.active:
        raise MerchantInactive(f"{merchant.name} is not an active partner merchant.")
    return merchant


def check_bill(bill_fen: int) -> None:
    limit = current_app.config["REDEMPTION_MAX_BILL_FEN"]
    if not 0 < bill_fen <= limit:
        raise BillOutOfRange(
            f"The bill must be more than ¥0 and at most {limit} fen; got {bill_fen} fen.",
            errors={"json": {"bill_fen": [f"Between 1 and {limit}."]}},
        )


def check_offer(merchant: Merchant, offer_id: int | None, offer: Offer | None) -> Offer | None:
    """The offer asked for, if it may apply to a bill at ``merchant`` today."""
    if offer_id is None:
        return None
    if offer is None or offer.community_id != merchant.community_id:
        raise UnknownOffer(f"No offer {offer_id}.", errors={"json": {"offer_id": ["Unknown."]}})
    if offer.merchant_id != merchant.id:
        raise OfferOfAnotherMerchant(f"Offer {offer_id} is not one of {merchant.name}'s offers.")
    if not offers.is_current(offer):
        raise OfferNotCurrent(f"Offer “{offer.title}” is withdrawn or outside its dates today.")
    return offer


def _coupon(merchant: Merchant, *, token: str | None, code: str | None, lock: bool) -> Coupon:
    community = merchant.community
    if token is not None:
        coupon = coupons.verify_coupon(token, community, lock=lock)
    else:
        coupon = coupons.coupon_by_code(code, community, lock=lock)
    if not coupons.coupon_valid_at(coupon, merchant):
        group = coupon.rule.merchant_group.name
        raise CouponNotValidHere(f"This coupon may only be spent at the shops of “{group}”.")
    return coupon


def _wallet(member: Member, *, lock: bool) -> Account:
    wallet = ledger.ensure_account(member.community_id, AccountKind.WALLET, member_id=member.id)
    if lock:
        return sql.locked(wallet)
    db.session.refresh(wallet)
    return wallet


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
        available = _wallet(member, lock=_redeeming).balance
    else:
        available = coupon.points_remaining
    rate = merchant.community.points_per_yuan
    result = offers.split(bill_fen, points_available=available, points_per_yuan=rate, offer=offer)
    if result.points == 0:
        raise NothingToRedeem(_why_nothing(offer, result, available))
    return Quote(merchant, offer, coupon, member, available, result)


def _why_nothing(offer: Offer | None, result: offers.Split, available: int) -> str:
    if result.discount_fen == result.bill_fen:
        kind = "公益 welfare" if offer.kind == OfferKind.WELFARE else "低偿 low-cost"
        return f"The {kind} offer makes this bill free: no points are needed."
    if available == 0:
        return "The resident has no points left to spend."
    return "The amount left to pay is worth less than one point."


def redeem(cashier: Member, **request) -> Redemption:
    """Spend the points of :func:`quote` at the cashier's merchant, and record it.

    PostgreSQL records it with one call to ``jifen_redeem``, SQLite through the
    ORM; both write the same rows.
    """
    found = quote(cashier, **request, _redeeming=True)
    record = record_in_one_statement if sql.on_postgresql() else record_through_orm
    return record(found, cashier)


def _coupon_after(found: Quote) -> tuple[int, CouponStatus]:
    """The coupon's points and status once this redemption has spent from it."""
    coupon = found.coupon
    left = coupon.points_remaining - found.split.points
    status = CouponStatus.REDEEMED if left == 0 else CouponStatus.PARTLY_REDEEMED
    coupons.LIFECYCLE.check(coupon, status)
    return left, status


def _memo(merchant: Merchant) -> str:
    return f"{merchant.name} 消费 redemption"


def receipt(found: Quote, cashier: Member) -> dict:
    """The redemption row's own values, as both writers store them."""
    return dict(
        community_id=found.merchant.community_id,
        merchant_id=found.merchant.id,
        cashier_id=cashier.id,
        offer_id=found.offer.id if found.offer else None,
        coupon_id=found.coupon.id if found.coupon else None,
        member_id=found.member.id if found.member else None,
        **{name: getattr(found.split, name) for name in SPLIT_FIELDS},
    )


def record_through_orm(found: Quote, cashier: Member) -> Redemption:
    """Write the redemption, its ledger transaction and the coupon's (or wallet's) move."""
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
        left, status = _coupon_after(found)
        txn = coupons.post_coupon_escrow(
            community_id,
            [coupons.EscrowMove(coupon.id, -split.points, receivable)],
            kind=TransactionKind.REDEMPTION,
            memo=_memo(merchant),
            reference=reference,
            actor_id=cashier.id,
        )
        coupons.transition(coupon, status, points_remaining=left)
    else:
        wallet = _wallet(found.member, lock=False)
        txn = ledger.post(
            community_id,
            TransactionKind.REDEMPTION,
            [(wallet, -split.points), (receivable, split.points)],
            memo=_memo(merchant),
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
_REDEEM = sa.select(Redemption).from_statement(
    sa.text(
        # Only the constant names above go into the text; the values are bound.
        f"SELECT * FROM jifen_redeem({', '.join(f':{name}' for name in REDEEM_PARAMETERS)})"  # noqa: S608
    ).columns(*Redemption.__table__.columns)
)


def redeem_arguments(found: Quote, cashier: Member, now: datetime, **given) -> dict:
    """``jifen_redeem``'s arguments for recording ``found``; ``given`` fills the
    optional ones (ids chosen beforehand, the Idempotency-Key and its receipt)."""
    coupon = found.coupon
    if coupon is None:
        source = ledger.account_key(AccountKind.WALLET, member_id=found.member.id)
        points_before = status_before = status = None
    else:
        source = ledger.account_key(AccountKind.COUPON_ESCROW)
        points_before, status_before = coupon.points_remaining, coupon.status.value
        status = _coupon_after(found)[1].value
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
        memo=_memo(found.merchant),
        now=now,
        **given,
    )
    return arguments


def record_in_one_statement(found: Quote, cashier: Member) -> Redemption:
    """The same writes as :func:`record_through_orm`, as one call to ``jifen_redeem``."""
    redemption = db.session.execute(
        _REDEEM, redeem_arguments(found, cashier, utcnow())
    ).scalar_one()
    # What this session has loaded of the coupon or the balances moved is stale now.
    for loaded in list(db.session.identity_map.values()):
        if loaded is found.coupon or isinstance(loaded, Account):
            db.session.expire(loaded)
    return redemption


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
            f"Redemption {redemption.id} was settled in statement {redemption.statement_id}."
        )
    minutes = current_app.config["REDEMPTION_VOID_MINUTES"]
    if now > void_deadline(redemption):
        raise VoidWindowClosed(
            f"A redemption can be voided within {minutes} minutes; "
            f"this one was made at {redemption.created_at.isoformat()}."
        )
    coupon = None
    if redemption.coupon_id is not None:
        coupon = sql.locked(redemption.coupon)
        if coupon.status in (CouponStatus.EXPIRED, CouponStatus.REVOKED):
            raise CouponClosed(
                f"Coupon {coupon.code} has since {coupon.status.value}; its points cannot go back."
            )
    original = db.session.get(LedgerTransaction, redemption.transaction_id)
    reversal = ledger.reverse(
        original, memo=f"撤销 void redemption:{redemption.id}", actor_id=actor.id
    )
    if coupon is not None:
        db.session.add(
            CouponPosting(
                community_id=coupon.community_id,
                coupon_id=coupon.id,
                transaction_id=reversal.id,
                amount=redemption.points,
            )
        )
        left = coupon.points_remaining + redemption.points
        status = CouponStatus.ISSUED if left == coupon.points else CouponStatus.PARTLY_REDEEMED
        coupons.transition(coupon, status, points_remaining=left)
    LIFECYCLE.move(
        redemption,
        RedemptionStatus.VOIDED,
        void_transaction_id=reversal.id,
        voided_at=now,
        voided_by_id=actor.id,
    )
    db.session.flush()
    return redemption


# --- history ---------------------------------------------------------------------------

#: Columns of the CSV export, in order.
CSV_COLUMNS = (
    "id",
    "created_at",
    "status",
    *SPLIT_FIELDS,
    "offer_id",
    "coupon_id",
    "member_id",
    "cashier_id",
    "voided_at",
)


@dataclass(frozen=True)
class Totals:
    """Sums over the active redemptions among those listed; voided ones count nothing."""

    count: int
    points: int
    #: Sum of V: what the fund owes the merchant.
    points_value_fen: int
    #: Sum of D: what the merchant bore.
    discount_fen: int
    #: Sum of C: what was collected at the till.
    cash_fen: int
    bill_fen: int


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), offers.LOCAL_ZONE)


def history_query(
    merchant: Merchant,
    *,
    since: date | None = None,
    until: date | None = None,
    status: RedemptionStatus | None = None,
) -> sa.Select:
    """The merchant's redemptions made on days ``since``..``until`` (inclusive,
    Asia/Shanghai), of ``status`` if given."""
    query = sa.select(Redemption).where(
        Redemption.community_id == merchant.community_id, Redemption.merchant_id == merchant.id
    )
    if since is not None:
        query = query.where(Redemption.created_at >= _local_midnight(since))
    if until is not None:
        query = query.where(Redemption.created_at < _local_midnight(until + timedelta(days=1)))
    if status is not None:
        query = query.where(Redemption.status == status)
    return query


def totals(query: sa.Select) -> Totals:
    listed = query.subquery()
    sums = [
        sa.func.coalesce(sa.func.sum(listed.c[name]), 0)
        for name in ("points", "points_value_fen", "discount_fen", "cash_fen", "bill_fen")
    ]
    row = db.session.execute(
        sa.select(sa.func.count(), *sums).where(listed.c.status == RedemptionStatus.ACTIVE)
    ).one()
    return Totals(*(int(value) for value in row))


def newest(query: sa.Select, limit: int | None = None) -> list[Redemption]:
    return db.session.execute(query.order_by(Redemption.id.desc()).limit(limit)).scalars().all()


def csv_text(rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = [getattr(row, name) for name in CSV_COLUMNS]
        writer.writerow(
            [
                value.isoformat() if isinstance(value, datetime) else getattr(value, "value", value)
                for value in values
            ]
        )
    return out.getvalue()
