"""Paying a statement by bank transfer (a reference is required), and a bank payout returned."""

from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from models import (
    Member,
    PayoutAttempt,
    PayoutMethod,
    PayoutStatus,
    SettlementStatement,
    StatementStatus,
    utcnow,
)

from .. import settlement, sql
from ..extensions import db
from .attempts import (
    BankReferenceRequired,
    BankReferenceUsed,
    PayoutNotReturnable,
    attempt_in,
    check_payable,
    mark_paid,
    mark_returned,
    next_number,
    required_reason,
)


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
    check_payable(statement)
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
        number=next_number(statement),
        method=PayoutMethod.BANK,
        status=PayoutStatus.PENDING,
        amount_fen=statement.amount_fen,
        bank_reference=reference,
        created_by_id=actor.id,
        created_at=now,
    )
    db.session.add(attempt)
    db.session.flush()
    mark_paid(statement, attempt, actor.id, now)
    db.session.flush()
    return statement


def return_bank_payout(
    statement: SettlementStatement, *, reason: str, actor: Member, now: datetime | None = None
) -> SettlementStatement:
    """The bank sent a payout back: payable again, the statement ``returned``."""
    reason = required_reason(reason)
    statement = sql.locked(statement)
    attempt = attempt_in(statement, PayoutStatus.SUCCEEDED)
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
    mark_returned(statement, attempt, reason, actor.id, now or utcnow())
    return statement
