"""Stripe's webhook events: each stored once by its id, in the same transaction as its effects."""

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from models import (
    Community,
    Donation,
    DonationRefund,
    DonationStatus,
    RefundOrigin,
    RefundStatus,
    StripeDispute,
    StripeEvent,
    utcnow,
)

from .. import payouts, sql, stripe_gateway
from ..extensions import db
from .donations import (
    DONATION_LIFECYCLE,
    FINAL_DISPUTE_STATUSES,
    book_donation,
    book_refund,
    donation_by_payment_intent,
)
from .holdings import cash_account


@dataclass(frozen=True)
class EventReceipt:
    event_id: str
    type: str
    outcome: str
    #: True when this event id had been received before: nothing was done again.
    duplicate: bool


def handle_event(event: dict) -> EventReceipt:
    """Record a verified Stripe event once, and do what it says.

    The event row is inserted first with ``ON CONFLICT DO NOTHING``: a replay
    (or a concurrent delivery, which waits on the unique index for the first
    to commit) inserts nothing and changes nothing.
    """
    obj = (event.get("data") or {}).get("object") or {}
    created = event.get("created")
    inserted = db.session.execute(
        sql.insert(StripeEvent)
        .values(
            event_id=event["id"],
            type=str(event.get("type", ""))[:100],
            object_id=obj.get("id"),
            outcome="received",
            created_at=_from_timestamp(created),
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(StripeEvent.id)
    ).scalar_one_or_none()
    if inserted is None:
        stored = db.session.execute(
            sa.select(StripeEvent).where(StripeEvent.event_id == event["id"])
        ).scalar_one()
        return EventReceipt(stored.event_id, stored.type, stored.outcome, duplicate=True)
    handler = EVENT_HANDLERS.get(event.get("type"), _ignore)
    outcome, community_id = handler(obj, event)
    db.session.execute(
        sa.update(StripeEvent)
        .where(StripeEvent.id == inserted)
        .values(outcome=outcome, community_id=community_id)
    )
    return EventReceipt(event["id"], event.get("type", ""), outcome, duplicate=False)


def _from_timestamp(value):

    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return utcnow()


def _ignore(_obj: dict, _event: dict) -> tuple[str, int | None]:
    return "ignored", None


def _payment_succeeded(intent: dict, _event: dict) -> tuple[str, int | None]:
    donation = donation_by_payment_intent(intent.get("id", ""), lock=True)
    if donation is None:
        return "unmatched", None
    if donation.status in (DonationStatus.SUCCEEDED, DonationStatus.REFUNDED):
        return "already_recorded", donation.community_id
    book_donation(donation, intent, stripe_gateway.gateway())
    return "recorded", donation.community_id


def _payment_failed(intent: dict, _event: dict) -> tuple[str, int | None]:
    donation = donation_by_payment_intent(intent.get("id", ""), lock=True)
    if donation is None:
        return "unmatched", None
    if not DONATION_LIFECYCLE.may(donation.status, DonationStatus.FAILED):
        # A late failure of an earlier attempt: the donation was paid since.
        return "already_recorded", donation.community_id
    DONATION_LIFECYCLE.move(donation, DonationStatus.FAILED)
    return "recorded", donation.community_id


def _charge_refunded(charge: dict, _event: dict) -> tuple[str, int | None]:
    """Book each refund of the charge Jifen does not know yet (one made in Stripe's
    dashboard, or one of Jifen's whose request failed after Stripe answered): when
    the fund covers it, as a refund; otherwise it is kept as unmatched, for
    reconciliation."""
    intent_id = charge.get("payment_intent")
    donation = donation_by_payment_intent(intent_id, lock=True) if intent_id else None
    if donation is None or donation.status not in (
        DonationStatus.SUCCEEDED,
        DonationStatus.REFUNDED,
    ):
        return "unmatched", donation.community_id if donation else None
    known = set(
        db.session.execute(
            sa.select(DonationRefund.refund_id).where(
                DonationRefund.community_id == donation.community_id,
                DonationRefund.donation_id == donation.id,
            )
        ).scalars()
    )
    outcome = "already_recorded"
    for refund in stripe_gateway.gateway().list_refunds(donation.payment_intent_id):
        if refund["id"] in known or refund.get("status") not in ("succeeded", "pending"):
            continue
        amount = int(refund["amount"])
        origin = (
            RefundOrigin.JIFEN
            if "jifen_donation_id" in (refund.get("metadata") or {})
            else (RefundOrigin.STRIPE)
        )
        cash = sql.locked(cash_account(donation.community_id, donation.fund))
        left = donation.amount_fen - donation.refunded_fen
        if amount <= left and cash.balance >= amount:
            book_refund(donation, refund, origin)
            outcome = "recorded"
        else:
            db.session.add(
                DonationRefund(
                    community_id=donation.community_id,
                    donation_id=donation.id,
                    amount_fen=amount,
                    refund_id=refund["id"],
                    status=RefundStatus.UNMATCHED,
                    origin=origin,
                )
            )
            db.session.flush()
            outcome = "unmatched"
    return outcome, donation.community_id


def _dispute(dispute: dict, event: dict) -> tuple[str, int | None]:
    """Keep the dispute's latest status; a closed dispute is never reopened by a late event."""
    donation = None
    if dispute.get("charge"):
        donation = db.session.execute(
            sa.select(Donation).where(Donation.charge_id == dispute["charge"])
        ).scalar_one_or_none()
    if donation is None and dispute.get("payment_intent"):
        donation = donation_by_payment_intent(dispute["payment_intent"])
    if donation is None:
        return "unmatched", None
    status = str(dispute.get("status") or "needs_response")[:40]
    at = _from_timestamp(event.get("created"))
    row = db.session.execute(
        sa.select(StripeDispute).where(StripeDispute.dispute_id == dispute["id"]).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        db.session.add(
            StripeDispute(
                community_id=donation.community_id,
                donation_id=donation.id,
                dispute_id=dispute["id"],
                amount_fen=int(dispute.get("amount") or 0),
                status=status,
                created_at=at,
                updated_at=at,
            )
        )
        db.session.flush()
        return "recorded", donation.community_id
    if row.status in FINAL_DISPUTE_STATUSES or at < row.updated_at:
        return "already_recorded", donation.community_id
    row.status, row.updated_at = status, at
    return "recorded", donation.community_id


EVENT_HANDLERS = {
    "payment_intent.succeeded": _payment_succeeded,
    "payment_intent.payment_failed": _payment_failed,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute,
    "charge.dispute.updated": _dispute,
    "charge.dispute.closed": _dispute,
    "transfer.reversed": payouts.on_transfer_reversed,
}


def unmatched_refunds(community: Community) -> list[DonationRefund]:
    """Refunds made at Stripe that the ledger could not book, for reconciliation."""
    return list(
        db.session.execute(
            sa.select(DonationRefund)
            .where(
                DonationRefund.community_id == community.id,
                DonationRefund.status == RefundStatus.UNMATCHED,
            )
            .order_by(DonationRefund.id)
        ).scalars()
    )
