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

from .accounts import ACCOUNT_ID, InvalidStripeAccount, StripeAccountTaken, link_stripe_account
from .attempts import (
    LIFECYCLE,
    METHOD_LABELS,
    STATUS_LABELS,
    BankReferenceRequired,
    BankReferenceUsed,
    MerchantNotConnected,
    PayoutInProgress,
    PayoutNotPossible,
    PayoutNotReturnable,
    PayoutOutcomeUnknown,
    PayoutRefused,
    StripePayoutPending,
    attempts_of,
    last_error,
    latest,
    return_reason,
    stripe_idempotency_key,
)
from .by_bank import pay_by_bank, return_bank_payout
from .by_stripe import on_transfer_reversed, pay_by_stripe, payout_guard, refused_for_good

__all__ = [
    "ACCOUNT_ID",
    "LIFECYCLE",
    "METHOD_LABELS",
    "STATUS_LABELS",
    "BankReferenceRequired",
    "BankReferenceUsed",
    "InvalidStripeAccount",
    "MerchantNotConnected",
    "PayoutInProgress",
    "PayoutNotPossible",
    "PayoutNotReturnable",
    "PayoutOutcomeUnknown",
    "PayoutRefused",
    "StripeAccountTaken",
    "StripePayoutPending",
    "attempts_of",
    "last_error",
    "latest",
    "link_stripe_account",
    "on_transfer_reversed",
    "pay_by_bank",
    "pay_by_stripe",
    "payout_guard",
    "refused_for_good",
    "return_bank_payout",
    "return_reason",
    "stripe_idempotency_key",
]
