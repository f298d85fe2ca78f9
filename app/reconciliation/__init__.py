"""Reconciliation: does every point and every fen add up? (design.md §8)

:func:`reconcile` reports on one community, for one month (Asia/Shanghai) or
in total to date:

- *figures* computed from the ledger: points minted by source, redeemed
  (coupon and pay-code apart), voided, expired, settled, and every balance at
  the start and end; coupons issued and where they stood at the end; money in
  by source and fund, Stripe's fees, refunds, what was approved for and paid
  to merchants; the liability (points outstanding, in fen at the community's
  rate) against the reimbursing fund's cash; the rounding remainder of every
  conversion; corrections of earlier months;
- *invariants*, each ``ok`` or not with a ``detail`` that names the account,
  transaction, coupon or Stripe object at fault.

Figures of a month read only the transactions dated from its start: the
balances at its end are today's balances less what moved since, so a report
costs what the month holds plus one grouped read of the accounts, however
long the ledger. Each invariant is one set-based query over the community.

The document :meth:`Report.as_dict` is what the API answers, the CSV and
XLSX exports hold (``app.report_exports``), and a month close stores and
hashes (``app.month_close``). Amounts are integers: points, fen, or
hundredths of a point (``centipoints``, the remainder a floor left). The
coverage ratio is a decimal string, never a float.
"""

from .common import Check
from .report import Report, invariants, month_flows, position, reconcile
from .stripe_match import STRIPE_CHECK

__all__ = [
    "STRIPE_CHECK",
    "Check",
    "Report",
    "invariants",
    "month_flows",
    "position",
    "reconcile",
]
