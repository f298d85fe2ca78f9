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

from .approval import (
    Accounts,
    FundCannotCover,
    SecondApproverRequired,
    accounts_of,
    approve,
    balance,
    reject,
)
from .settling import settle
from .statements import (
    FUND_LABELS,
    LIFECYCLE,
    STATUS_LABELS,
    ReasonRequired,
    StatementAlreadyPaid,
    StatementStatusConflict,
    check,
    lines,
    merchant_statements,
    move,
    remainder_of,
    statements_of,
)

__all__ = [
    "FUND_LABELS",
    "LIFECYCLE",
    "STATUS_LABELS",
    "Accounts",
    "FundCannotCover",
    "ReasonRequired",
    "SecondApproverRequired",
    "StatementAlreadyPaid",
    "StatementStatusConflict",
    "accounts_of",
    "approve",
    "balance",
    "check",
    "lines",
    "merchant_statements",
    "move",
    "reject",
    "remainder_of",
    "settle",
    "statements_of",
]
