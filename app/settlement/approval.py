"""Approving a statement (four eyes above the threshold) and rejecting one."""

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
    SettlementStatement,
    StatementStatus,
    TransactionKind,
    utcnow,
)

from .. import ledger, sql
from ..extensions import db
from ..money import format_fen
from ..problems import Conflict, Forbidden
from .statements import FUND_LABELS, ReasonRequired, check, move


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
