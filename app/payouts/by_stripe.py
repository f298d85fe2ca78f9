"""Paying a statement by Stripe Connect transfer, exactly once, and ``transfer.reversed``."""

import contextlib
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from models import (
    Member,
    Merchant,
    PayoutAttempt,
    PayoutMethod,
    PayoutStatus,
    SettlementStatement,
    StatementStatus,
    utcnow,
)

from .. import settlement, sql, stripe_gateway
from ..extensions import db
from ..problems import Problem
from .attempts import (
    LIFECYCLE,
    MerchantNotConnected,
    PayoutInProgress,
    PayoutNotPossible,
    PayoutOutcomeUnknown,
    PayoutRefused,
    attempt_in,
    check_payable,
    mark_paid,
    mark_returned,
    next_number,
    stripe_idempotency_key,
)


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
        pending = attempt_in(statement, PayoutStatus.PENDING)
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
    number = next_number(statement)
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
            check_payable(statement)
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
        mark_paid(statement, attempt, actor.id, utcnow(), stripe_transfer_id=transfer["id"])
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
    mark_returned(
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
