"""Statements' lifecycle and labels, and reading them and their lines."""

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    Community,
    Fund,
    Redemption,
    SettlementStatement,
    StatementStatus,
)

from ..extensions import db
from ..lifecycle import Lifecycle
from ..money import points_value
from ..problems import Conflict, InvalidInput


class StatementStatusConflict(Conflict):
    slug = "statement-status-conflict"
    title = _l("The statement cannot do this now")
    message = _l("Someone may have changed it meanwhile. Reload it and check its status.")


class StatementAlreadyPaid(Conflict):
    slug = "statement-already-paid"
    title = _l("The statement is already paid")
    message = _l("This statement was paid already; it will not be paid twice.")


class ReasonRequired(InvalidInput):
    slug = "reason-required"
    title = _l("A reason is required")
    message = _l("Say why, in a few words.")


TRANSITIONS = {
    StatementStatus.DRAFT: {StatementStatus.APPROVED, StatementStatus.REJECTED},
    StatementStatus.APPROVED: {StatementStatus.PAYING, StatementStatus.PAID},
    # A Stripe transfer that Stripe refused paid nothing: approved again, to be retried.
    StatementStatus.PAYING: {StatementStatus.PAID, StatementStatus.APPROVED},
    StatementStatus.PAID: {StatementStatus.RETURNED},
    # A returned payout is paid again without a new approval.
    StatementStatus.RETURNED: {StatementStatus.PAYING, StatementStatus.PAID},
    StatementStatus.REJECTED: set(),
}


LIFECYCLE = Lifecycle("Statement", TRANSITIONS, StatementStatusConflict)


STATUS_LABELS = {
    StatementStatus.DRAFT: _l("Draft"),
    StatementStatus.APPROVED: _l("Approved"),
    StatementStatus.PAYING: _l("Paying"),
    StatementStatus.PAID: _l("Paid"),
    StatementStatus.RETURNED: _l("Returned"),
    StatementStatus.REJECTED: _l("Rejected"),
}


FUND_LABELS = {Fund.CHARITY: _l("charity fund"), Fund.COMMUNITY: _l("community fund")}


def check(statement: SettlementStatement, new: StatementStatus) -> None:
    """Refuse, in the reader's language, a move the lifecycle does not allow."""
    if statement.status == StatementStatus.PAID and new != StatementStatus.RETURNED:
        raise StatementAlreadyPaid(
            _("Statement %(id)s is paid already; it is not paid twice.", id=statement.id)
        )
    if not LIFECYCLE.may(statement.status, new):
        raise StatementStatusConflict(
            _(
                "Statement %(id)s is %(status)s; it cannot become %(new)s.",
                id=statement.id,
                status=STATUS_LABELS[statement.status],
                new=STATUS_LABELS[new],
            )
        )


def move(statement: SettlementStatement, new: StatementStatus, **changes) -> None:
    check(statement, new)
    LIFECYCLE.move(statement, new, **changes)


def statements_of(
    community: Community, *, period: str | None = None, status: StatementStatus | None = None
) -> sa.Select:
    query = sa.select(SettlementStatement).where(SettlementStatement.community_id == community.id)
    if period:
        query = query.where(SettlementStatement.period == period)
    if status is not None:
        query = query.where(SettlementStatement.status == status)
    return query


def merchant_statements(merchant) -> sa.Select:
    return sa.select(SettlementStatement).where(
        SettlementStatement.community_id == merchant.community_id,
        SettlementStatement.merchant_id == merchant.id,
    )


def lines(statement: SettlementStatement) -> list[Redemption]:
    """The redemptions a statement settles, oldest first (none once rejected)."""
    return (
        db.session.execute(
            sa.select(Redemption)
            .where(
                # The merchant's index finds them: statement_id is not indexed.
                Redemption.community_id == statement.community_id,
                Redemption.merchant_id == statement.merchant_id,
                Redemption.statement_id == statement.id,
            )
            .order_by(Redemption.id)
        )
        .scalars()
        .all()
    )


def remainder_of(redemption: Redemption) -> int:
    return points_value(redemption.points, redemption.points_per_yuan).remainder_centipoints
