"""The fund (design.md §7): what each fund holds, donations through Stripe, other income.

Each community has a charity fund (慈善基金) and a community fund (社区基金),
each a ``fund_cash`` account; the community's ``reimbursing_fund`` pays
merchants back, through their ``merchant_payable`` and ``paid_out`` accounts.

A donation is booked once, when Stripe's signed ``payment_intent.succeeded``
arrives (:func:`handle_event`), as one ``donation`` transaction referencing
the PaymentIntent, with four legs::

    income      -gross     what the donor gave
    fund cash   +gross
    fund cash   -fee       Stripe's fee on the charge (its balance transaction)
    income      +fee

so the fund's cash is what Stripe actually pays out (gross - fee) and the
ledger stays double-entry with the fee visible as its own entry: the fee is
money that never reached the community, a deduction from what was raised,
not an expense paid from the fund, so it is netted against the income it
came with and needs no account of its own.

A refund gives ``amount`` back from the fund's cash to income (Stripe keeps
its fee, so the fund bears it): a ``reversal`` transaction whose reference is
the Stripe Refund id. A donation may be refunded in parts, so the transaction
does not point at the donation's through ``reverses_id`` (which allows one
reversal); the refund row links them.

Every Stripe event is stored once by its id (:class:`models.StripeEvent`), in
the same database transaction as its effects.
"""

from .donations import (
    DONATION_LIFECYCLE,
    DonationAmountOutOfRange,
    DonationDisputed,
    DonationNotRefundable,
    FundCannotCoverRefund,
    IllegalDonationTransition,
    RefundExceedsDonation,
    donation_by_payment_intent,
    refund_donation,
    start_donation,
)
from .holdings import FUND_NAMES, INCOME_SOURCE_NAMES, FundSummary, cash_account, fund_summaries
from .income import (
    INCOME_LIFECYCLE,
    FundCannotCoverReversal,
    IllegalIncomeTransition,
    record_income,
    reverse_income,
)
from .stripe_events import EVENT_HANDLERS, EventReceipt, handle_event, unmatched_refunds

__all__ = [
    "DONATION_LIFECYCLE",
    "EVENT_HANDLERS",
    "FUND_NAMES",
    "INCOME_LIFECYCLE",
    "INCOME_SOURCE_NAMES",
    "DonationAmountOutOfRange",
    "DonationDisputed",
    "DonationNotRefundable",
    "EventReceipt",
    "FundCannotCoverRefund",
    "FundCannotCoverReversal",
    "FundSummary",
    "IllegalDonationTransition",
    "IllegalIncomeTransition",
    "RefundExceedsDonation",
    "cash_account",
    "donation_by_payment_intent",
    "fund_summaries",
    "handle_event",
    "record_income",
    "refund_donation",
    "reverse_income",
    "start_donation",
    "unmatched_refunds",
]
