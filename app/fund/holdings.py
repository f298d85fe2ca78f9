"""What each fund holds: its cash, and what the reimbursing fund owes and has paid merchants."""

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from models import (
    Account,
    AccountKind,
    Community,
    Fund,
    IncomeSource,
)

from .. import ledger
from ..extensions import db
from ..money import format_fen

FUND_NAMES = {Fund.CHARITY: _l("Charity fund"), Fund.COMMUNITY: _l("Community fund")}
INCOME_SOURCE_NAMES = {
    IncomeSource.CHARITY_SALE: _l("Charity sale"),
    IncomeSource.CASH_DONATION: _l("Cash donation"),
    IncomeSource.GRANT: _l("Grant"),
    IncomeSource.OTHER: _l("Other income"),
}


@dataclass(frozen=True)
class FundSummary:
    fund: Fund
    cash_fen: int
    #: Approved reimbursements not yet paid: only the reimbursing fund owes them.
    payable_fen: int
    paid_out_fen: int
    reimburses_merchants: bool

    @property
    def name(self) -> str:
        return str(FUND_NAMES[self.fund])

    @property
    def shown(self) -> dict[str, str]:
        return {
            "cash": format_fen(self.cash_fen),
            "payable": format_fen(self.payable_fen),
            "paid_out": format_fen(self.paid_out_fen),
        }


def cash_account(community_id: int, fund: Fund) -> Account:
    return ledger.ensure_account(community_id, AccountKind.FUND_CASH, fund=fund)


def fund_summaries(community: Community) -> list[FundSummary]:
    totals = dict(
        db.session.execute(
            sa.select(Account.kind, sa.func.coalesce(sa.func.sum(Account.balance), 0))
            .where(
                Account.community_id == community.id,
                Account.kind.in_([AccountKind.MERCHANT_PAYABLE, AccountKind.PAID_OUT]),
            )
            .group_by(Account.kind)
        ).all()
    )
    summaries = []
    for fund in Fund:
        reimburses = fund == community.reimbursing_fund
        summaries.append(
            FundSummary(
                fund=fund,
                cash_fen=cash_account(community.id, fund).balance,
                payable_fen=int(totals.get(AccountKind.MERCHANT_PAYABLE, 0)) if reimburses else 0,
                paid_out_fen=int(totals.get(AccountKind.PAID_OUT, 0)) if reimburses else 0,
                reimburses_merchants=reimburses,
            )
        )
    return summaries
