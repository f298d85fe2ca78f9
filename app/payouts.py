"""Paying approved statements, and payouts that come back (design.md §7).

A payment is a :class:`~models.PayoutAttempt`, numbered per statement. Either
way it moves the statement's fen from the merchant's payable to paid out, in
the same database transaction that marks the statement ``paid``.

- **Bank**: a fund admin records the bank transfer's reference; one database
  transaction records it as paid.
- **Stripe**: a Connect transfer to the merchant's connected account. A
  transfer cannot be rolled back with the database, so the payment spans two
  database transactions around the call to Stripe. The first records the
  attempt (``pending``, with its Stripe idempotency key
  ``jifen-statement-{id}-payout-{number}``) and the statement ``paying``, and
  commits. Then the transfer is asked for. The second records the outcome:
  ``paid`` with the transfer's id and the ledger entries, or, when Stripe
  refused, the error and the statement ``approved`` again. A crash, a lost
  answer or a double click between the two leaves the statement ``paying``
  with its pending attempt; paying again takes that attempt over and asks
  Stripe with the same key, and Stripe answers with the transfer it already
  made instead of making another. The attempt's number only grows when an
  attempt is over (refused, or paid and then returned), so a payout that came
  back is paid again by a new transfer, and a retry of the same attempt never
  is. On PostgreSQL a session-level advisory lock, held on a connection of its
  own for as long as the payment runs, makes a second payer of the same
  statement meanwhile wait for nothing: it is told the payout is in progress.
  A payer that died released it with its connection, so it never blocks the
  retry.

A payout that comes back (Stripe's ``transfer.reversed``, or a bank transfer
a fund admin marks returned, with a reason) reverses the payout's ledger
transaction (paid out -> payable) and leaves the statement ``returned``, to be
paid again without a new approval.
"""

import contextlib
import re
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    AccountKind,
    LedgerTransaction,
    Member,
    Merchant,
    PayoutAttempt,
    PayoutMethod,
    PayoutStatus,
    SettlementStatement,
    StatementStatus,
    TransactionKind,
    utcnow,
)

from . import ledger, settlement, sql, stripe_gateway
from .extensions import db
from .lifecycle import Lifecycle
from .problems import Conflict, InvalidInput, Problem


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


class InvalidStripeAccount(InvalidInput):
    slug = "invalid-stripe-account"
    title = _l("Not a Stripe connected account id")
    message = _l("A Stripe connected account id starts with acct_.")


#: What a Stripe connected account id looks like.
ACCOUNT_ID = re.compile(r"acct_[A-Za-z0-9]{1,250}\Z")


class StripeAccountTaken(Conflict):
    slug = "stripe-account-taken"
    title = _l("This Stripe account is linked to another merchant")
    message = _l("Each merchant is paid into its own Stripe account. Check the account id.")


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


def _attempt(statement: SettlementStatement, status: PayoutStatus) -> PayoutAttempt | None:
    return db.session.execute(
        sa.select(PayoutAttempt).where(
            PayoutAttempt.community_id == statement.community_id,
            PayoutAttempt.statement_id == statement.id,
            PayoutAttempt.status == status,
        )
    ).scalar_one_or_none()


def _next_number(statement: SettlementStatement) -> int:
    latest = db.session.scalar(
        sa.select(sa.func.max(PayoutAttempt.number)).where(
            PayoutAttempt.community_id == statement.community_id,
            PayoutAttempt.statement_id == statement.id,
        )
    )
    return (latest or 0) + 1


def stripe_idempotency_key(statement: SettlementStatement, number: int) -> str:
    return f"jifen-statement-{statement.id}-payout-{number}"


def _post_payout(statement: SettlementStatement, attempt: PayoutAttempt, actor_id) -> int:
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


def _mark_paid(statement, attempt, actor_id, now: datetime, **found) -> None:
    transaction_id = _post_payout(statement, attempt, actor_id)
    LIFECYCLE.move(
        attempt, PayoutStatus.SUCCEEDED, transaction_id=transaction_id, completed_at=now, **found
    )
    settlement.move(statement, StatementStatus.PAID, paid_at=now)


def _check_payable(statement: SettlementStatement) -> None:
    if statement.status == StatementStatus.PAYING:
        raise StripePayoutPending(
            _(
                "A Stripe transfer of statement %(id)s is not finished; pay it by Stripe again"
                " to finish it.",
                id=statement.id,
            )
        )
    settlement.check(statement, StatementStatus.PAID)


def pay_by_bank(
    statement: SettlementStatement,
    *,
    reference: str | None,
    actor: Member,
    now: datetime | None = None,
) -> SettlementStatement:
    """Record the bank transfer that paid an approved (or returned) statement."""
    reference = (reference or "").strip()
    if not reference:
        raise BankReferenceRequired(
            _("A bank payment needs the bank transfer's reference."),
            errors={"json": {"reference": [_("Required for a bank payment.")]}},
        )
    statement = sql.locked(statement)
    _check_payable(statement)
    now = now or utcnow()
    if statement.amount_fen == 0:
        settlement.move(statement, StatementStatus.PAID, paid_at=now)
        return statement
    used = db.session.scalar(
        sa.select(PayoutAttempt.statement_id).where(
            PayoutAttempt.community_id == statement.community_id,
            PayoutAttempt.bank_reference == reference,
        )
    )
    if used is not None:
        raise BankReferenceUsed(
            _(
                "The bank reference %(reference)s was recorded for statement %(id)s already.",
                reference=reference,
                id=used,
            )
        )
    attempt = PayoutAttempt(
        community_id=statement.community_id,
        statement_id=statement.id,
        number=_next_number(statement),
        method=PayoutMethod.BANK,
        status=PayoutStatus.PENDING,
        amount_fen=statement.amount_fen,
        bank_reference=reference,
        created_by_id=actor.id,
        created_at=now,
    )
    db.session.add(attempt)
    db.session.flush()
    _mark_paid(statement, attempt, actor.id, now)
    db.session.flush()
    return statement


def return_bank_payout(
    statement: SettlementStatement, *, reason: str, actor: Member, now: datetime | None = None
) -> SettlementStatement:
    """The bank sent a payout back: payable again, the statement ``returned``."""
    reason = _reason(reason)
    statement = sql.locked(statement)
    attempt = _attempt(statement, PayoutStatus.SUCCEEDED)
    if statement.status != StatementStatus.PAID or attempt is None:
        raise PayoutNotReturnable(
            _("Statement %(id)s is not paid; there is no payout to return.", id=statement.id)
        )
    if attempt.method != PayoutMethod.BANK:
        raise PayoutNotReturnable(
            _(
                "Statement %(id)s was paid by a Stripe transfer; Stripe reports its reversal.",
                id=statement.id,
            )
        )
    _mark_returned(statement, attempt, reason, actor.id, now or utcnow())
    return statement


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise settlement.ReasonRequired(
            _("Say why the payout came back."), errors={"json": {"reason": [_("Required.")]}}
        )
    return reason


def _mark_returned(statement, attempt, reason: str, actor_id, now: datetime) -> None:
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


# --- Stripe --------------------------------------------------------------------------------


@contextlib.contextmanager
def payout_guard(statement_id: int) -> Iterator[None]:
    """While held, no other payer of this statement gets in: on PostgreSQL a
    session-level advisory lock on a connection of its own (a payer that dies
    releases it with its connection). SQLite, one writer at a time, leaves a
    payment in flight to Stripe's idempotency key."""
    if not sql.on_postgresql():
        yield
        return
    key = sa.func.hashtextextended(f"jifen-payout:{statement_id}", 0)
    with db.engine.connect() as connection:
        taken = connection.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar_one()
        connection.commit()
        if not taken:
            raise PayoutInProgress(
                _("Statement %(id)s is being paid right now; wait a moment.", id=statement_id)
            )
        try:
            yield
        finally:
            connection.execute(sa.select(sa.func.pg_advisory_unlock(key)))
            connection.commit()


def _begin_stripe(statement: SettlementStatement, actor: Member, now: datetime) -> PayoutAttempt:
    """The attempt to ask Stripe for: the pending one left by an earlier payer, or
    a new one, with the statement ``paying``."""
    statement = sql.locked(statement)
    if statement.status == StatementStatus.PAYING:
        pending = _attempt(statement, PayoutStatus.PENDING)
        if pending is not None and pending.method == PayoutMethod.STRIPE:
            return pending
    settlement.check(statement, StatementStatus.PAYING)
    merchant = db.session.get(Merchant, statement.merchant_id)
    if not merchant.stripe_account_id:
        raise MerchantNotConnected(
            _(
                "%(merchant)s has no Stripe connected account linked; link it or pay by bank.",
                merchant=merchant.name,
            )
        )
    number = _next_number(statement)
    attempt = PayoutAttempt(
        community_id=statement.community_id,
        statement_id=statement.id,
        number=number,
        method=PayoutMethod.STRIPE,
        status=PayoutStatus.PENDING,
        amount_fen=statement.amount_fen,
        destination=merchant.stripe_account_id,
        stripe_idempotency_key=stripe_idempotency_key(statement, number),
        created_by_id=actor.id,
        created_at=now,
    )
    db.session.add(attempt)
    settlement.move(statement, StatementStatus.PAYING)
    db.session.flush()
    return attempt


def transfer_created(attempt: PayoutAttempt, transfer_id: str) -> None:
    """Called once Stripe has answered with the transfer, before it is recorded.

    Nothing happens here; tests put a crash here to show that the retry finds
    the same transfer through the idempotency key.
    """


def refused_for_good(error: Problem) -> bool:
    """Whether Stripe refused the transfer outright (a 4xx other than a key still
    being served or a rate limit): then nothing was made, and the next attempt
    asks anew. Anything else, or no answer at all, may have made the transfer."""
    status = getattr(error, "stripe_status", None)
    return (
        isinstance(error, stripe_gateway.StripeRefused)
        and status is not None
        and 400 <= status < 500
        and status not in (409, 429)
    )


def pay_by_stripe(
    statement: SettlementStatement, *, actor: Member, now: datetime | None = None
) -> SettlementStatement:
    """Pay by a Stripe Connect transfer; see the module's docstring for why it commits
    twice: once before asking Stripe, once with the outcome (a refusal included)."""
    gateway = stripe_gateway.configured()
    if gateway is None:
        raise stripe_gateway.StripeNotConfigured(
            _("Stripe is not configured here; pay by bank instead.")
        )
    statement_id = statement.id
    with payout_guard(statement_id):
        now = now or utcnow()
        if statement.amount_fen == 0:
            statement = sql.locked(statement)
            _check_payable(statement)
            settlement.move(statement, StatementStatus.PAID, paid_at=now)
            return statement
        attempt = _begin_stripe(statement, actor, now)
        attempt_id = attempt.id
        request = dict(
            amount_fen=attempt.amount_fen,
            destination_account=attempt.destination,
            idempotency_key=attempt.stripe_idempotency_key,
            metadata={
                "statement_id": str(statement_id),
                "payout_attempt": str(attempt.number),
                "community_id": str(attempt.community_id),
            },
        )
        db.session.commit()
        try:
            transfer = gateway.create_transfer(**request)
        except (stripe_gateway.StripeRefused, stripe_gateway.StripeUnavailable) as error:
            if not refused_for_good(error):
                db.session.rollback()
                raise PayoutOutcomeUnknown(
                    _(
                        "Stripe's answer about statement %(id)s did not arrive (%(error)s). Pay"
                        " by Stripe again: it finishes this payment and never pays twice.",
                        id=statement_id,
                        error=str(error.detail),
                    )
                ) from error
            _record_refusal(statement_id, attempt_id, str(error.detail))
            db.session.commit()
            raise PayoutRefused(
                _(
                    "Stripe refused the transfer of statement %(id)s: %(error)s"
                    " Nothing was paid; the statement stays approved.",
                    id=statement_id,
                    error=str(error.detail),
                ),
                stripe_status=error.stripe_status,
                stripe_code=error.stripe_code,
            ) from error
        attempt = db.session.get(PayoutAttempt, attempt_id)
        transfer_created(attempt, transfer["id"])
        statement = sql.locked(db.session.get(SettlementStatement, statement_id))
        attempt = sql.locked(attempt)
        if attempt.status != PayoutStatus.PENDING:
            raise PayoutNotPossible(
                _("The payout of statement %(id)s changed meanwhile.", id=statement_id)
            )
        if transfer.get("reversed"):
            # Reversed before Jifen recorded it: it paid nothing; the next attempt pays.
            _record_refusal(
                statement_id,
                attempt_id,
                f"Stripe 已撤回转账 transfer reversed: {transfer['id']}",
                transfer_id=transfer["id"],
            )
            return statement
        _mark_paid(statement, attempt, actor.id, utcnow(), stripe_transfer_id=transfer["id"])
        db.session.flush()
        return statement


def _record_refusal(
    statement_id: int, attempt_id: int, error: str, transfer_id: str | None = None
) -> None:
    statement = sql.locked(db.session.get(SettlementStatement, statement_id))
    attempt = sql.locked(db.session.get(PayoutAttempt, attempt_id))
    if attempt.status != PayoutStatus.PENDING:
        return
    LIFECYCLE.move(attempt, PayoutStatus.FAILED, error=error[:500], stripe_transfer_id=transfer_id)
    settlement.move(statement, StatementStatus.APPROVED)
    db.session.flush()


def on_transfer_reversed(transfer: dict, _event: dict) -> tuple[str, int | None]:
    """Stripe's ``transfer.reversed``: a payout that looked paid came back. The
    statement becomes ``returned`` (payable again, the reason shown), to be paid
    again by a new attempt. Only a whole reversal returns a payout."""
    transfer_id = transfer.get("id") or ""
    attempt = db.session.execute(
        sa.select(PayoutAttempt).where(PayoutAttempt.stripe_transfer_id == transfer_id)
    ).scalar_one_or_none()
    if attempt is None:
        attempt = _pending_attempt_of(transfer)
        if attempt is None:
            return "unmatched", None
        _record_refusal(
            attempt.statement_id,
            attempt.id,
            f"Stripe 已撤回转账 transfer reversed: {transfer_id}",
            transfer_id=transfer_id,
        )
        return "recorded", attempt.community_id
    statement = sql.locked(db.session.get(SettlementStatement, attempt.statement_id))
    attempt = sql.locked(attempt)
    if attempt.status != PayoutStatus.SUCCEEDED:
        return "already_recorded", attempt.community_id
    if int(transfer.get("amount_reversed") or 0) < attempt.amount_fen:
        return "partly_reversed", attempt.community_id
    _mark_returned(
        statement,
        attempt,
        f"Stripe 已撤回转账 transfer reversed by Stripe: {transfer_id}",
        None,
        utcnow(),
    )
    return "recorded", attempt.community_id


def _pending_attempt_of(transfer: dict) -> PayoutAttempt | None:
    """The pending attempt a transfer's metadata names (made, not yet recorded)."""
    metadata = transfer.get("metadata") or {}
    try:
        community_id = int(metadata["community_id"])
        statement_id = int(metadata["statement_id"])
        number = int(metadata["payout_attempt"])
    except (KeyError, TypeError, ValueError):
        return None
    return db.session.execute(
        sa.select(PayoutAttempt).where(
            PayoutAttempt.community_id == community_id,
            PayoutAttempt.statement_id == statement_id,
            PayoutAttempt.number == number,
            PayoutAttempt.status == PayoutStatus.PENDING,
            PayoutAttempt.method == PayoutMethod.STRIPE,
        )
    ).scalar_one_or_none()


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


def link_stripe_account(merchant: Merchant, account_id: str | None) -> Merchant:
    """Link (or, with None, unlink) the connected account the merchant is paid into."""
    if account_id is not None:
        other = db.session.execute(
            sa.select(Merchant).where(
                Merchant.stripe_account_id == account_id, Merchant.id != merchant.id
            )
        ).scalar_one_or_none()
        if other is not None:
            raise StripeAccountTaken(
                _(
                    "The Stripe account %(account)s is linked to another merchant already.",
                    account=account_id,
                )
            )
    merchant.stripe_account_id = account_id
    db.session.flush()
    return merchant
