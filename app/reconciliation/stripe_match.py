"""Stripe against the ledger, both ways, for the period's PaymentIntents and Transfers."""

from datetime import datetime, timedelta

import sqlalchemy as sa

from models import (
    Account,
    AccountKind,
    Community,
    Donation,
    DonationRefund,
    LedgerEntry,
    LedgerTransaction,
    Merchant,
    PayoutAttempt,
    PayoutStatus,
    RefundStatus,
    TransactionKind,
    utcnow,
)

from .. import stripe_gateway
from ..extensions import db

#: Below this the reimbursing fund cannot pay every point outstanding: a warning.
from .common import NAMED, Check, _same

STRIPE_CHECK = "every Stripe payment and transfer matches one ledger transaction"


def _stripe_left_out() -> Check:
    return Check(STRIPE_CHECK, True, "not checked: left out of this report", skipped=True)


def _stripe_matches(community: Community, start: datetime | None, end: datetime | None) -> Check:
    """Both ways: every PaymentIntent and Transfer of ``[start, end)`` that is this
    community's, listed from Stripe's API, against the ledger; and every ledger
    transaction of the window that names a Stripe object, against Stripe.

    Without ``STRIPE_API_KEY`` the check is skipped and says so: a deployment
    without Stripe has nothing there to match. Stripe configured but not
    answering fails the check: the books cannot be shown to match.
    """
    gateway = stripe_gateway.configured()
    if gateway is None:
        return Check(
            STRIPE_CHECK,
            True,
            "not checked: Stripe is not configured (no STRIPE_API_KEY)",
            skipped=True,
        )
    start = start or community.created_at
    # Stripe lists by whole seconds: an object of this very second is in.
    end = end or utcnow() + timedelta(seconds=1)
    try:
        problems = _stripe_mismatches(gateway, community, start, end)
    except (stripe_gateway.StripeUnavailable, stripe_gateway.StripeRefused) as error:
        return Check(STRIPE_CHECK, False, f"Stripe could not be listed: {error.detail}")
    return Check(STRIPE_CHECK, not problems, "; ".join(problems[:NAMED]))


def _received(intent: dict) -> int:
    """What a PaymentIntent took (``amount`` where Stripe leaves ``amount_received`` out)."""
    return int(intent.get("amount_received") or intent.get("amount") or 0)


def _ours(obj: dict, community: Community) -> bool:
    metadata = obj.get("metadata") or {}
    named = metadata.get("jifen_community_id") or metadata.get("community_id")
    return named == str(community.id)


def _stripe_mismatches(gateway, community: Community, start: datetime, end: datetime) -> list[str]:
    problems: list[str] = []
    txn = LedgerTransaction
    # Donations: the ledger's donation transactions name their PaymentIntent.
    booked = {
        reference: (txn_id, int(gross), created)
        for reference, txn_id, gross, created in db.session.execute(
            sa.select(
                txn.reference,
                txn.id,
                sa.func.sum(sa.case((LedgerEntry.amount > 0, LedgerEntry.amount), else_=0)),
                txn.created_at,
            )
            .join(
                LedgerEntry,
                sa.and_(
                    LedgerEntry.community_id == txn.community_id,
                    LedgerEntry.transaction_id == txn.id,
                ),
            )
            .join(Account, Account.id == LedgerEntry.account_id)
            .where(
                txn.community_id == community.id,
                txn.kind == TransactionKind.DONATION,
                Account.kind == AccountKind.FUND_CASH,
            )
            .group_by(txn.reference, txn.id, txn.created_at)
        )
    }
    listed = {}
    for intent in gateway.list_payment_intents(start, end):
        if not _ours(intent, community):
            continue
        listed[intent["id"]] = intent
        found = booked.get(intent["id"])
        paid = intent.get("status") == "succeeded"
        if paid and found is None:
            problems.append(
                f"PaymentIntent {intent['id']}: succeeded at Stripe, no ledger transaction"
            )
        elif not paid and found is not None:
            problems.append(
                f"PaymentIntent {intent['id']}: {intent.get('status')} at Stripe, "
                f"booked by ledger transaction {found[0]}"
            )
        elif found is not None and _received(intent) != found[1]:
            problems.append(
                f"PaymentIntent {intent['id']}: received {_received(intent)}, "
                f"ledger transaction {found[0]} books {found[1]}"
            )
    for reference, (txn_id, gross, created) in booked.items():
        if not start <= created < end or reference in listed:
            continue
        intent = _retrieve(gateway.retrieve_payment_intent, reference)
        if intent is None or intent.get("status") != "succeeded":
            problems.append(
                f"ledger transaction {txn_id}: PaymentIntent {reference} is not a paid "
                "payment at Stripe"
            )
        elif _received(intent) != gross:
            problems.append(
                f"ledger transaction {txn_id}: books {gross}, PaymentIntent {reference} "
                f"received {_received(intent)}"
            )
    problems += _refund_mismatches(gateway, community, start, end)
    problems += _transfer_mismatches(gateway, community, start, end)
    return problems


def _retrieve(method, object_id: str) -> dict | None:
    try:
        return method(object_id)
    except stripe_gateway.StripeRefused as error:
        if error.stripe_status == 404:
            return None
        raise


def _refund_mismatches(gateway, community: Community, start, end) -> list[str]:
    """Each refund the ledger booked in the window is a refund of its PaymentIntent at
    Stripe, of the same amount."""
    txn = LedgerTransaction
    rows = db.session.execute(
        sa.select(
            DonationRefund.refund_id, DonationRefund.amount_fen, txn.id, Donation.payment_intent_id
        )
        .join(
            txn,
            sa.and_(
                txn.community_id == DonationRefund.community_id,
                txn.id == DonationRefund.transaction_id,
            ),
        )
        .join(
            Donation,
            sa.and_(
                Donation.community_id == DonationRefund.community_id,
                Donation.id == DonationRefund.donation_id,
            ),
        )
        .where(
            DonationRefund.community_id == community.id,
            DonationRefund.status == RefundStatus.BOOKED,
            txn.created_at >= start,
            txn.created_at < end,
        )
    ).all()
    problems = []
    by_intent: dict[str, dict] = {}
    for refund_id, amount, txn_id, intent_id in rows:
        if intent_id not in by_intent:
            by_intent[intent_id] = {r["id"]: r for r in gateway.list_refunds(intent_id)}
        found = by_intent[intent_id].get(refund_id)
        if found is None:
            problems.append(f"ledger transaction {txn_id}: Refund {refund_id} is not at Stripe")
        elif int(found["amount"]) != amount:
            problems.append(
                f"ledger transaction {txn_id}: books {amount}, "
                f"Refund {refund_id} is {found['amount']}"
            )
    return problems


def _transfer_mismatches(gateway, community: Community, start, end) -> list[str]:
    """Transfers of this community (its metadata, or to one of its merchants' connected
    accounts) each match one payout in the ledger, of the same amount; each payout by
    Stripe the ledger recorded in the window is a transfer at Stripe."""
    accounts = set(
        db.session.scalars(
            sa.select(Merchant.stripe_account_id).where(
                Merchant.community_id == community.id, Merchant.stripe_account_id.is_not(None)
            )
        )
    )
    txn = LedgerTransaction
    paid = {
        transfer_id: (attempt_id, amount, created)
        for transfer_id, attempt_id, amount, created in db.session.execute(
            sa.select(
                PayoutAttempt.stripe_transfer_id,
                PayoutAttempt.id,
                PayoutAttempt.amount_fen,
                txn.created_at,
            )
            .join(txn, _same(txn, PayoutAttempt.community_id, PayoutAttempt.transaction_id))
            .where(
                PayoutAttempt.community_id == community.id,
                PayoutAttempt.stripe_transfer_id.is_not(None),
                PayoutAttempt.status.in_([PayoutStatus.SUCCEEDED, PayoutStatus.RETURNED]),
            )
        )
    }
    problems, listed = [], set()
    for transfer in gateway.list_transfers(start, end):
        if not (_ours(transfer, community) or transfer.get("destination") in accounts):
            continue
        listed.add(transfer["id"])
        found = paid.get(transfer["id"])
        if found is None:
            problems.append(
                f"Transfer {transfer['id']}: {transfer.get('amount')} to "
                f"{transfer.get('destination')}, no ledger transaction"
            )
        elif int(transfer.get("amount") or 0) != found[1]:
            problems.append(
                f"Transfer {transfer['id']}: {transfer.get('amount')}, payout {found[0]} "
                f"books {found[1]}"
            )
    for transfer_id, (attempt_id, amount, created) in paid.items():
        if not start <= created < end or transfer_id in listed:
            continue
        transfer = _retrieve(gateway.retrieve_transfer, transfer_id)
        if transfer is None or int(transfer.get("amount") or 0) != amount:
            problems.append(
                f"payout {attempt_id}: books {amount}, Transfer {transfer_id} is "
                + ("not at Stripe" if transfer is None else str(transfer.get("amount")))
            )
    return problems
