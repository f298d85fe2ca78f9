"""Settlement statements: settle a month, approve, reject (design.md §7).

:func:`settle` makes one draft statement per merchant from its active,
unsettled redemptions of a finished month (Asia/Shanghai), set-based: one
``INSERT ... SELECT ... GROUP BY`` makes the statements with their totals, and
one ``UPDATE ... FROM`` per batch of statements sets the redemptions'
``statement_id``, never a round trip per redemption. The unique (merchant,
month) index of statements that are not rejected makes a second settlement of
the month, even a concurrent one, make nothing new; the ``statement_id IS
NULL`` condition keeps a redemption on one statement.

:func:`approve` moves, in one ledger transaction, the points from the
merchant's receivable to retired and the fen from the reimbursing fund's cash
to the merchant's payable; a statement above the community's threshold needs
a fund admin other than the one who made it. :func:`reject` gives the
redemptions back to the next settlement. Paying is :mod:`app.payouts`.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    Account,
    AccountKind,
    Community,
    Fund,
    Member,
    Redemption,
    RedemptionStatus,
    SettlementStatement,
    StatementStatus,
    TransactionKind,
    utcnow,
)
from models.base import UTCDateTime

from . import ledger, sql
from .earnings import Period
from .extensions import db
from .issuance import PeriodNotOver
from .lifecycle import Lifecycle
from .money import format_fen, points_value
from .problems import Conflict, Forbidden, InvalidInput


class StatementStatusConflict(Conflict):
    slug = "statement-status-conflict"
    title = _l("The statement cannot do this now")
    message = _l("Someone may have changed it meanwhile. Reload it and check its status.")


class StatementAlreadyPaid(Conflict):
    slug = "statement-already-paid"
    title = _l("The statement is already paid")
    message = _l("This statement was paid already; it will not be paid twice.")


class SecondApproverRequired(Forbidden):
    slug = "second-approver-required"
    title = _l("A second fund admin must approve")
    message = _l(
        "This statement is above the approval threshold: a fund admin other than the one"
        " who settled it must approve it."
    )


class FundCannotCover(Conflict):
    slug = "fund-cannot-cover"
    title = _l("The fund cannot cover this statement")
    message = _l("The reimbursing fund holds less than the statement's total.")


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


# --- settling a month ------------------------------------------------------------------


#: Statements whose redemptions one UPDATE assigns (and one progress step reports).
ASSIGN_BATCH = 50


def _unsettled(community_id: int, period: Period):
    return (
        Redemption.community_id == community_id,
        Redemption.status == RedemptionStatus.ACTIVE,
        Redemption.statement_id.is_(None),
        Redemption.created_at >= period.start,
        Redemption.created_at < period.end,
    )


def _remainder(table=Redemption):
    """What each redemption's floor dropped, in hundredths of a point
    (``app.money.points_value``'s remainder, computed by the database)."""
    return (table.points * 100) % table.points_per_yuan


def settle(
    community: Community,
    period: Period,
    *,
    actor: Member | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[SettlementStatement]:
    """Make the month's draft statements, one per merchant with unsettled redemptions;
    the statements made (none when the month is settled already).

    ``progress(done, total)`` counts redemptions assigned to their statements.
    """
    now = now or utcnow()
    if period.end > now:
        raise PeriodNotOver(
            _(
                "%(period)s is not over yet; settle it once the month has ended.",
                period=str(period),
            ),
            errors={"json": {"period": [_("The month has not ended yet.")]}},
        )
    made = _insert_statements(community, period, actor, now)
    total = sum(count for _id, _merchant, count in made)
    done = 0
    if progress is not None:
        progress(done, total)
    for start in range(0, len(made), ASSIGN_BATCH):
        batch = made[start : start + ASSIGN_BATCH]
        assigned = _assign(community.id, period, [statement_id for statement_id, _m, _c in batch])
        expected = sum(count for _id, _merchant, count in batch)
        if assigned != expected:
            # A redemption was voided between the two statements: count again.
            _recount(community.id, [statement_id for statement_id, _m, _c in batch])
        done += expected
        if progress is not None:
            progress(done, total)
    db.session.flush()
    ids = [statement_id for statement_id, _m, _c in made]
    return (
        db.session.execute(
            sa.select(SettlementStatement)
            .where(SettlementStatement.id.in_(ids))
            .order_by(SettlementStatement.id)
            .execution_options(populate_existing=True)
        )
        .scalars()
        .all()
    )


def _insert_statements(
    community: Community, period: Period, actor: Member | None, now: datetime
) -> list[tuple[int, int, int]]:
    """One statement per merchant with unsettled redemptions in the month, totals
    included; (id, merchant id, redemptions) of those made. A merchant whose month
    already has a statement that is not rejected is skipped by the unique index."""
    amount = sa.func.sum(Redemption.points_value_fen)
    totals = (
        sa.select(
            sa.literal(community.id, sa.BigInteger),
            Redemption.merchant_id,
            sa.literal(str(period), sa.String),
            sa.literal(StatementStatus.DRAFT.value, sa.String),
            sa.func.count(),
            sa.func.sum(Redemption.points),
            amount,
            sa.func.sum(_remainder()),
            amount > community.statement_approval_threshold_fen,
            sa.literal(actor.id if actor else None, sa.BigInteger),
            sa.literal(now, UTCDateTime()),
        )
        .where(*_unsettled(community.id, period))
        .group_by(Redemption.merchant_id)
        .order_by(Redemption.merchant_id)
    )
    table = SettlementStatement.__table__
    statement = (
        sql.insert(table)
        .from_select(
            [
                "community_id",
                "merchant_id",
                "period",
                "status",
                "redemptions",
                "points",
                "amount_fen",
                "rounding_remainder",
                "needs_second_approver",
                "created_by_id",
                "created_at",
            ],
            totals,
        )
        .on_conflict_do_nothing(
            index_elements=["community_id", "merchant_id", "period"],
            index_where=table.c.status != StatementStatus.REJECTED.value,
        )
        .returning(table.c.id, table.c.merchant_id, table.c.redemptions)
    )
    rows = db.session.execute(statement).all()
    return sorted((row.id, row.merchant_id, row.redemptions) for row in rows)


def _assign(community_id: int, period: Period, statement_ids: Sequence[int]) -> int:
    """Set ``statement_id`` on the statements' redemptions; how many were set."""
    statements = SettlementStatement.__table__
    result = db.session.execute(
        sa.update(Redemption)
        .where(
            statements.c.community_id == community_id,
            statements.c.id.in_(statement_ids),
            Redemption.merchant_id == statements.c.merchant_id,
            *_unsettled(community_id, period),
        )
        .values(statement_id=statements.c.id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def _recount(community_id: int, statement_ids: Sequence[int]) -> None:
    """Totals from the redemptions the statements really got; a statement left
    with none (all voided meanwhile) is deleted."""
    lines = (
        sa.select(
            Redemption.statement_id,
            sa.func.count().label("redemptions"),
            sa.func.sum(Redemption.points).label("points"),
            sa.func.sum(Redemption.points_value_fen).label("amount_fen"),
            sa.func.sum(_remainder()).label("rounding_remainder"),
        )
        .where(Redemption.community_id == community_id, Redemption.statement_id.in_(statement_ids))
        .group_by(Redemption.statement_id)
    )
    counted = {row.statement_id: row for row in db.session.execute(lines)}
    for statement_id in statement_ids:
        row = counted.get(statement_id)
        if row is None:
            db.session.execute(
                sa.delete(SettlementStatement).where(SettlementStatement.id == statement_id)
            )
            continue
        db.session.execute(
            sa.update(SettlementStatement)
            .where(SettlementStatement.id == statement_id)
            .values(
                redemptions=row.redemptions,
                points=row.points,
                amount_fen=row.amount_fen,
                rounding_remainder=row.rounding_remainder,
            )
        )


# --- approval and rejection --------------------------------------------------------------


@dataclass(frozen=True)
class Accounts:
    receivable: Account
    retired: Account
    cash: Account
    payable: Account


def accounts_of(statement: SettlementStatement, fund: Fund) -> Accounts:
    """The four accounts an approval moves, read in one query (created on first use)."""
    community_id, merchant_id = statement.community_id, statement.merchant_id
    wanted = {
        "receivable": (AccountKind.MERCHANT_RECEIVABLE, dict(merchant_id=merchant_id)),
        "retired": (AccountKind.RETIRED, {}),
        "cash": (AccountKind.FUND_CASH, dict(fund=fund)),
        "payable": (AccountKind.MERCHANT_PAYABLE, dict(merchant_id=merchant_id)),
    }
    keys = {name: ledger.account_key(kind, **owner) for name, (kind, owner) in wanted.items()}
    found = {
        account.key: account
        for account in db.session.execute(
            sa.select(Account).where(
                Account.community_id == community_id, Account.key.in_(keys.values())
            )
        ).scalars()
    }
    return Accounts(
        **{
            name: found.get(keys[name])
            or ledger.ensure_account(community_id, wanted[name][0], **wanted[name][1])
            for name in wanted
        }
    )


def balance(account: Account) -> int:
    return db.session.scalar(sa.select(Account.balance).where(Account.id == account.id))


def _memo(statement: SettlementStatement, what: str) -> str:
    return f"{statement.merchant.name} {statement.period} {what}"


def approve(
    statement: SettlementStatement, *, actor: Member, now: datetime | None = None
) -> SettlementStatement:
    """Approve a draft: points receivable -> retired, fen fund cash -> payable, one
    ledger transaction. Refused (:class:`FundCannotCover`) when the fund is short."""
    statement = sql.locked(statement)
    if statement.status == StatementStatus.DRAFT and (
        statement.needs_second_approver and statement.created_by_id == actor.id
    ):
        raise SecondApproverRequired(
            _(
                "Statement %(id)s is above the approval threshold; a fund admin other than"
                " the one who settled it must approve it.",
                id=statement.id,
            )
        )
    check(statement, StatementStatus.APPROVED)
    fund = db.session.get(Community, statement.community_id).reimbursing_fund
    accounts = accounts_of(statement, fund)
    legs = [
        (accounts.receivable, -statement.points),
        (accounts.retired, statement.points),
        (accounts.cash, -statement.amount_fen),
        (accounts.payable, statement.amount_fen),
    ]
    try:
        txn = ledger.post(
            statement.community_id,
            TransactionKind.SETTLEMENT,
            legs,
            memo=_memo(statement, "结算 settlement"),
            reference=f"statement:{statement.id}:approval",
            actor_id=actor.id,
        )
    except ledger.InsufficientBalance as error:
        if error.extra.get("account_id") == accounts.cash.id:
            _check_cover(statement, fund, accounts.cash)
        raise
    move(
        statement,
        StatementStatus.APPROVED,
        approved_by_id=actor.id,
        approved_at=now or utcnow(),
        approval_transaction_id=txn.id,
    )
    db.session.flush()
    return statement


def _check_cover(statement: SettlementStatement, fund: Fund, cash: Account) -> None:
    held = balance(cash)
    if held < statement.amount_fen:
        shortfall = statement.amount_fen - held
        raise FundCannotCover(
            _(
                "The %(fund)s holds %(cash)s; statement %(id)s needs %(amount)s,"
                " %(shortfall)s more than it holds.",
                fund=FUND_LABELS[fund],
                cash=format_fen(held),
                id=statement.id,
                amount=format_fen(statement.amount_fen),
                shortfall=format_fen(shortfall),
            ),
            fund=fund.value,
            fund_cash_fen=held,
            amount_fen=statement.amount_fen,
            shortfall_fen=shortfall,
        )


def reject(
    statement: SettlementStatement, *, reason: str, actor: Member, now: datetime | None = None
) -> SettlementStatement:
    """Reject a draft; its redemptions become unsettled again, for the next settlement."""
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired(
            _("Say why the statement is rejected."),
            errors={"json": {"reason": [_("Required.")]}},
        )
    statement = sql.locked(statement)
    move(
        statement,
        StatementStatus.REJECTED,
        rejected_by_id=actor.id,
        rejected_at=now or utcnow(),
        reject_reason=reason,
    )
    db.session.execute(
        sa.update(Redemption)
        .where(
            Redemption.community_id == statement.community_id,
            Redemption.merchant_id == statement.merchant_id,
            Redemption.statement_id == statement.id,
        )
        .values(statement_id=None)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    return statement


# --- reading ---------------------------------------------------------------------------------


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
