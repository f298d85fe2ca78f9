"""Payout attempts: their lifecycle and refusals, and what paying or a return posts."""

from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    AccountKind,
    LedgerTransaction,
    PayoutAttempt,
    PayoutMethod,
    PayoutStatus,
    SettlementStatement,
    StatementStatus,
    TransactionKind,
)

from .. import ledger, settlement
from ..extensions import db
from ..lifecycle import Lifecycle
from ..problems import Conflict, InvalidInput, Problem


class PayoutNotPossible(Conflict):
    slug = "payout-status-conflict"
    title = _l("The payout cannot change now")
    message = _l("Someone may have changed it meanwhile. Reload the statement and check it.")


class BankReferenceRequired(InvalidInput):
    slug = "bank-reference-required"
    title = _l("The bank transfer's reference is required")
    message = _l("Enter the reference of the bank transfer that paid the merchant.")


class BankReferenceUsed(Conflict):
    slug = "bank-reference-used"
    title = _l("This bank reference was recorded already")
    message = _l("Each bank transfer pays one statement once. Check the reference.")


class MerchantNotConnected(Conflict):
    slug = "merchant-not-connected"
    title = _l("The merchant has no Stripe account linked")
    message = _l("Link the merchant's Stripe connected account first, or pay by bank.")


class PayoutInProgress(Conflict):
    slug = "payout-in-progress"
    title = _l("This statement is being paid right now")
    message = _l("Another payment of this statement is running. Wait a moment and reload.")


class StripePayoutPending(Conflict):
    slug = "stripe-payout-pending"
    title = _l("A Stripe transfer of this statement is not finished")
    message = _l(
        "A Stripe transfer may already have been made. Pay by Stripe again to finish it"
        " before anything else."
    )


class PayoutRefused(Problem):
    status = 502
    slug = "payout-refused"
    title = _l("Stripe refused the transfer")
    message = _l("Nothing was paid; the statement stays approved. Try again later.")


class PayoutOutcomeUnknown(Problem):
    status = 502
    slug = "payout-outcome-unknown"
    title = _l("Stripe's answer did not arrive")
    message = _l(
        "The transfer may or may not have been made. Pay by Stripe again: it finishes this"
        " payment and never pays twice."
    )


class PayoutNotReturnable(Conflict):
    slug = "payout-not-returnable"
    title = _l("This payout cannot be marked returned")
    message = _l("Only a paid statement's bank transfer can be marked returned here.")


PAYOUT_TRANSITIONS = {
    PayoutStatus.PENDING: {PayoutStatus.SUCCEEDED, PayoutStatus.FAILED},
    PayoutStatus.SUCCEEDED: {PayoutStatus.RETURNED},
    PayoutStatus.FAILED: set(),
    PayoutStatus.RETURNED: set(),
}


LIFECYCLE = Lifecycle("Payout", PAYOUT_TRANSITIONS, PayoutNotPossible)


METHOD_LABELS = {PayoutMethod.STRIPE: _l("Stripe transfer"), PayoutMethod.BANK: _l("Bank transfer")}


STATUS_LABELS = {
    PayoutStatus.PENDING: _l("In progress"),
    PayoutStatus.SUCCEEDED: _l("Paid"),
    PayoutStatus.FAILED: _l("Refused"),
    PayoutStatus.RETURNED: _l("Returned"),
}


def attempts_of(statement: SettlementStatement) -> list[PayoutAttempt]:
    return (
        db.session.execute(
            sa.select(PayoutAttempt)
            .where(
                PayoutAttempt.community_id == statement.community_id,
                PayoutAttempt.statement_id == statement.id,
            )
            .order_by(PayoutAttempt.number)
        )
        .scalars()
        .all()
    )


def attempt_in(statement: SettlementStatement, status: PayoutStatus) -> PayoutAttempt | None:
    return db.session.execute(
        sa.select(PayoutAttempt).where(
            PayoutAttempt.community_id == statement.community_id,
            PayoutAttempt.statement_id == statement.id,
            PayoutAttempt.status == status,
        )
    ).scalar_one_or_none()


def next_number(statement: SettlementStatement) -> int:
    latest = db.session.scalar(
        sa.select(sa.func.max(PayoutAttempt.number)).where(
            PayoutAttempt.community_id == statement.community_id,
            PayoutAttempt.statement_id == statement.id,
        )
    )
    return (latest or 0) + 1


def stripe_idempotency_key(statement: SettlementStatement, number: int) -> str:
    return f"jifen-statement-{statement.id}-payout-{number}"


def post_payout(statement: SettlementStatement, attempt: PayoutAttempt, actor_id) -> int:
    """payable -> paid out, for the attempt's amount; the transaction's id."""
    payable = ledger.ensure_account(
        statement.community_id, AccountKind.MERCHANT_PAYABLE, merchant_id=statement.merchant_id
    )
    paid_out = ledger.ensure_account(
        statement.community_id, AccountKind.PAID_OUT, merchant_id=statement.merchant_id
    )
    txn = ledger.post(
        statement.community_id,
        TransactionKind.PAYOUT,
        [(payable, -attempt.amount_fen), (paid_out, attempt.amount_fen)],
        memo=f"{statement.merchant.name} {statement.period} 付款 payout",
        reference=f"statement:{statement.id}:payout:{attempt.number}",
        actor_id=actor_id,
    )
    return txn.id


def mark_paid(statement, attempt, actor_id, now: datetime, **found) -> None:
    transaction_id = post_payout(statement, attempt, actor_id)
    LIFECYCLE.move(
        attempt, PayoutStatus.SUCCEEDED, transaction_id=transaction_id, completed_at=now, **found
    )
    settlement.move(statement, StatementStatus.PAID, paid_at=now)


def check_payable(statement: SettlementStatement) -> None:
    if statement.status == StatementStatus.PAYING:
        raise StripePayoutPending(
            _(
                "A Stripe transfer of statement %(id)s is not finished; pay it by Stripe again"
                " to finish it.",
                id=statement.id,
            )
        )
    settlement.check(statement, StatementStatus.PAID)


def required_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise settlement.ReasonRequired(
            _("Say why the payout came back."), errors={"json": {"reason": [_("Required.")]}}
        )
    return reason


def mark_returned(statement, attempt, reason: str, actor_id, now: datetime) -> None:
    original = db.session.get(LedgerTransaction, attempt.transaction_id)
    reversal = ledger.reverse(
        original,
        memo=f"{statement.merchant.name} {statement.period} 退回 payout returned",
        actor_id=actor_id,
    )
    LIFECYCLE.move(
        attempt,
        PayoutStatus.RETURNED,
        return_reason=reason[:500],
        returned_at=now,
        returned_by_id=actor_id,
        return_transaction_id=reversal.id,
    )
    settlement.move(statement, StatementStatus.RETURNED, paid_at=None)
    db.session.flush()


def latest(statement: SettlementStatement) -> PayoutAttempt | None:
    return db.session.execute(
        sa.select(PayoutAttempt)
        .where(
            PayoutAttempt.community_id == statement.community_id,
            PayoutAttempt.statement_id == statement.id,
        )
        .order_by(PayoutAttempt.number.desc())
        .limit(1)
    ).scalar_one_or_none()


def last_error(statement: SettlementStatement) -> str | None:
    """Stripe's refusal of the latest attempt, while the statement waits to be paid."""
    if statement.status != StatementStatus.APPROVED:
        return None
    attempt = latest(statement)
    return attempt.error if attempt is not None and attempt.status == PayoutStatus.FAILED else None


def return_reason(statement: SettlementStatement) -> str | None:
    """Why the payout came back, while the statement waits to be paid again."""
    if statement.status != StatementStatus.RETURNED:
        return None
    attempt = latest(statement)
    return attempt.return_reason if attempt is not None else None
