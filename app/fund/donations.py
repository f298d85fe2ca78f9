"""Donations through Stripe PaymentIntents, booked net of Stripe's fee; refunds; disputes."""

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    OPEN_DISPUTE_STATUSES,
    AccountKind,
    Community,
    Donation,
    DonationRefund,
    DonationStatus,
    Fund,
    Member,
    RefundOrigin,
    RefundStatus,
    StripeDispute,
    TransactionKind,
    utcnow,
)

from .. import ledger, sql, stripe_gateway
from ..extensions import db
from ..lifecycle import Lifecycle
from ..money import format_fen
from ..problems import Conflict, InvalidInput
from .holdings import cash_account

#: Dispute statuses after which Stripe will not move the money again.
FINAL_DISPUTE_STATUSES = frozenset({"won", "lost", "warning_closed"})


class IllegalDonationTransition(Conflict):
    slug, title = "illegal-donation-transition", _l("The donation cannot change this way")


class DonationAmountOutOfRange(InvalidInput):
    slug, title = "donation-amount-out-of-range", _l("Donation amount out of range")
    message = _l("Please give an amount between the smallest and largest donation accepted.")


class DonationNotRefundable(Conflict):
    slug, title = "donation-not-refundable", _l("This donation cannot be refunded")
    message = _l("Only a paid donation can be refunded, and only what is left of it.")


class RefundExceedsDonation(Conflict):
    slug, title = "refund-exceeds-donation", _l("The refund is more than what is left")
    message = _l("A donation can only be refunded up to what was given and not yet refunded.")


class FundCannotCoverRefund(Conflict):
    slug, title = "fund-cannot-cover-refund", _l("The fund cannot cover this refund")
    message = _l("The fund does not hold enough money for this refund; nothing was refunded.")


class DonationDisputed(Conflict):
    slug, title = "donation-disputed", _l("The donation is disputed")
    message = _l(
        "The donor's bank is disputing this payment; no refund can be made until the dispute "
        "is closed."
    )


DONATION_LIFECYCLE = Lifecycle(
    "Donation",
    {
        DonationStatus.PENDING: {DonationStatus.SUCCEEDED, DonationStatus.FAILED},
        DonationStatus.FAILED: {DonationStatus.SUCCEEDED},
        DonationStatus.SUCCEEDED: {DonationStatus.REFUNDED},
        DonationStatus.REFUNDED: set(),
    },
    IllegalDonationTransition,
)


def start_donation(
    community: Community,
    *,
    amount_fen: int,
    fund: Fund,
    donor_name: str | None = None,
    message: str | None = None,
    actor: Member | None = None,
    request_key: str | None = None,
    limits: tuple[int, int],
) -> tuple[Donation, dict]:
    """A pending donation and its Stripe PaymentIntent (the donor pays with its client secret).

    ``request_key`` is the public page's key for one form: sent again, it gives
    back the same donation and PaymentIntent instead of a second one.
    """
    gateway = stripe_gateway.gateway()
    low, high = limits
    if not low <= amount_fen <= high:
        raise DonationAmountOutOfRange(
            _(
                "A donation is between %(low)s and %(high)s.",
                low=format_fen(low),
                high=format_fen(high),
            ),
            errors={"json": {"amount_fen": [f"From {low} to {high}."]}},
        )
    if request_key is not None:
        existing = db.session.execute(
            sa.select(Donation).where(
                Donation.community_id == community.id, Donation.request_key == request_key
            )
        ).scalar_one_or_none()
        if existing is not None:
            return existing, gateway.retrieve_payment_intent(existing.payment_intent_id)
    donation = Donation(
        community_id=community.id,
        fund=fund,
        amount_fen=amount_fen,
        donor_name=(donor_name or "").strip() or None,
        message=(message or "").strip() or None,
        status=DonationStatus.PENDING,
        refunded_fen=0,
        created_by_id=actor.id if actor is not None else None,
        request_key=request_key,
        created_at=utcnow(),
    )
    db.session.add(donation)
    db.session.flush()
    intent = gateway.create_payment_intent(
        amount_fen,
        metadata={
            "jifen_community": community.slug,
            "jifen_community_id": str(community.id),
            "jifen_fund": fund.value,
            "jifen_donation_id": str(donation.id),
        },
        # Stable for this row, and unique even where SQLite reuses a rolled-back id.
        idempotency_key=f"jifen-donation-{community.id}-{donation.id}-"
        f"{int(donation.created_at.timestamp() * 1_000_000)}",
    )
    donation.payment_intent_id = intent["id"]
    return donation, intent


def donation_by_payment_intent(payment_intent_id: str, *, lock: bool = False) -> Donation | None:
    query = sa.select(Donation).where(Donation.payment_intent_id == payment_intent_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.execute(query).scalar_one_or_none()


def book_donation(donation: Donation, intent: dict, gateway) -> None:
    charge = intent.get("latest_charge")
    charge_id = charge.get("id") if isinstance(charge, dict) else charge
    amount = int(intent.get("amount_received") or intent["amount"])
    fee = gateway.charge_fee(charge_id) if charge_id else None
    fee_fen = fee.fee_fen if fee is not None else 0
    income = ledger.ensure_account(donation.community_id, AccountKind.INCOME)
    cash = cash_account(donation.community_id, donation.fund)
    txn = ledger.post(
        donation.community_id,
        TransactionKind.DONATION,
        [(income, -amount), (cash, amount), (cash, -fee_fen), (income, fee_fen)],
        memo=f"捐赠 Donation · {donation.donor_name or '匿名 anonymous'}",
        reference=donation.payment_intent_id,
    )
    DONATION_LIFECYCLE.move(
        donation,
        DonationStatus.SUCCEEDED,
        amount_fen=amount,
        charge_id=charge_id,
        fee_fen=fee_fen,
        transaction_id=txn.id,
        succeeded_at=utcnow(),
    )


def refund_donation(donation: Donation, *, amount_fen: int | None, actor: Member) -> DonationRefund:
    """Give ``amount_fen`` (what is left, by default) back to the donor through Stripe.

    The donation and the fund's cash are locked first, so a second refund of
    the same donation waits and then sees this one; the checks (paid, not
    disputed, not more than is left, covered by the fund) come before Stripe
    is asked. Stripe's idempotency key is derived from the donation and what
    was refunded before, so a retry after a failure is the same refund.
    """
    gateway = stripe_gateway.gateway()
    donation = sql.locked(donation)
    if donation.status != DonationStatus.SUCCEEDED:
        raise DonationNotRefundable(
            _("Donation %(id)s is %(status)s.", id=donation.id, status=donation.status.value)
        )
    left = donation.amount_fen - donation.refunded_fen
    amount = left if amount_fen is None else amount_fen
    if not 0 < amount <= left:
        raise RefundExceedsDonation(
            _(
                "%(amount)s asked, %(left)s left to refund.",
                amount=format_fen(amount),
                left=format_fen(left),
            )
        )
    if _open_dispute(donation) is not None:
        raise DonationDisputed()
    cash = sql.locked(cash_account(donation.community_id, donation.fund))
    if cash.balance < amount:
        raise FundCannotCoverRefund(
            _(
                "The fund holds %(cash)s; the refund needs %(amount)s.",
                cash=format_fen(cash.balance),
                amount=format_fen(amount),
            )
        )
    refund = gateway.create_refund(
        donation.payment_intent_id,
        amount,
        idempotency_key=f"jifen-refund-{donation.community_id}-{donation.id}-"
        f"after-{donation.refunded_fen}",
        metadata={
            "jifen_donation_id": str(donation.id),
            "jifen_community_id": str(donation.community_id),
        },
    )
    return book_refund(donation, refund, RefundOrigin.JIFEN, actor=actor)


def book_refund(
    donation: Donation, refund: dict, origin: RefundOrigin, actor: Member | None = None
) -> DonationRefund:
    amount = int(refund["amount"])
    income = ledger.ensure_account(donation.community_id, AccountKind.INCOME)
    cash = cash_account(donation.community_id, donation.fund)
    txn = ledger.post(
        donation.community_id,
        TransactionKind.REVERSAL,
        [(cash, -amount), (income, amount)],
        memo=f"捐赠退款 Donation refund · {donation.id}",
        reference=refund["id"],
        actor_id=actor.id if actor is not None else None,
    )
    row = DonationRefund(
        community_id=donation.community_id,
        donation_id=donation.id,
        amount_fen=amount,
        refund_id=refund["id"],
        status=RefundStatus.BOOKED,
        origin=origin,
        transaction_id=txn.id,
        requested_by_id=actor.id if actor is not None else None,
    )
    db.session.add(row)
    donation.refunded_fen += amount
    if donation.refunded_fen == donation.amount_fen:
        DONATION_LIFECYCLE.move(donation, DonationStatus.REFUNDED)
    db.session.flush()
    return row


def _open_dispute(donation: Donation) -> StripeDispute | None:
    return db.session.execute(
        sa.select(StripeDispute)
        .where(
            StripeDispute.community_id == donation.community_id,
            StripeDispute.donation_id == donation.id,
            StripeDispute.status.in_(OPEN_DISPUTE_STATUSES),
        )
        .limit(1)
    ).scalar_one_or_none()
